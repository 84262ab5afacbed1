package runner

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/envdoc"
)

// secretsOf turns name → value into the sorted secrets BuildEnv takes.
func secretsOf(m map[string]string) []envdoc.Secret {
	var out []envdoc.Secret
	for n, v := range m {
		out = append(out, envdoc.Secret{Name: n, Value: v})
	}
	slices.SortFunc(out, func(a, b envdoc.Secret) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func noWarn(string, ...any) {}

func TestBuildEnvOrderAndDrop(t *testing.T) {
	base := []string{"PATH=/bin", "SECR_TOKEN=secr_st_x", "API_KEY=old", "HOME=/h", "NOEQUALS", "=weird"}
	got, applied, err := BuildEnv(base, secretsOf(map[string]string{"API_KEY": "new", "B": "b=1", "A": "", "SECR_TOKEN": "s"}), EnvOptions{Drop: []string{"SECR_TOKEN"}}, noWarn)
	want := []string{"PATH=/bin", "HOME=/h", "A=", "API_KEY=new", "B=b=1"}
	if err != nil || !slices.Equal(got, want) || applied != 3 {
		t.Fatalf("BuildEnv = %q, %d, %v; want %q, 3", got, applied, err, want)
	}
}

func TestBuildEnvUnsortedInput(t *testing.T) {
	// Not what envdoc gives, but BuildEnv still sorts it, the last of a
	// repeated name winning.
	in := []envdoc.Secret{{Name: "C", Value: "c"}, {Name: "A", Value: "first"}, {Name: "B", Value: "b"}, {Name: "A", Value: "last"}}
	got, applied, err := BuildEnv([]string{"X=1", "A=inherited"}, in, EnvOptions{}, noWarn)
	want := []string{"X=1", "A=last", "B=b", "C=c"}
	if err != nil || !slices.Equal(got, want) || applied != 3 {
		t.Fatalf("BuildEnv = %q, %d, %v; want %q, 3", got, applied, err, want)
	}
	if in[0].Name != "C" {
		t.Fatal("BuildEnv sorted its caller's slice")
	}
}

func TestResolve(t *testing.T) {
	c, err := Resolve(nil, "echo hi && exit 3", exec.LookPath)
	if err != nil || !slices.Equal(c.Args, []string{"sh", "-c", "echo hi && exit 3"}) {
		t.Fatalf("shell command: %+v, %v", c, err)
	}
	if _, err := Resolve([]string{"x"}, "y", exec.LookPath); err == nil {
		t.Fatal("both argv and --command accepted")
	}
	if _, err := Resolve(nil, "", exec.LookPath); err == nil {
		t.Fatal("empty command accepted")
	}
	if _, err := Resolve([]string{"definitely-not-a-command-xyz"}, "", exec.LookPath); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing command: %v", err)
	}
}

func TestBuildEnv(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/h", "API_KEY=inherited", "DEBUG=1", "LANG=C", "SECR_TOKEN=x", "OTHER=o"}
	secrets := secretsOf(map[string]string{"API_KEY": "secret", "DEBUG": "0", "DB": "db", "PATH": "/evil", "LD_PRELOAD": "x.so"})
	var warnings []string
	warn := func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }
	env := func(o EnvOptions) map[string]string {
		t.Helper()
		o.Drop = []string{"SECR_TOKEN"}
		out, _, err := BuildEnv(base, secrets, o, warn)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, kv := range out {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	m := env(EnvOptions{})
	if m["API_KEY"] != "secret" || m["PATH"] != "/bin" || m["LD_PRELOAD"] != "" || m["SECR_TOKEN"] != "" || m["OTHER"] != "o" {
		t.Fatalf("default: %v", m)
	}
	if len(warnings) != 2 || !strings.HasPrefix(warnings[0], "secret LD_PRELOAD was not applied") || !strings.HasPrefix(warnings[1], "secret PATH was not applied") {
		t.Fatalf("warnings: %q", warnings)
	}
	if m := env(EnvOptions{AllowReserved: true}); m["PATH"] != "/evil" || m["LD_PRELOAD"] != "x.so" {
		t.Fatalf("allow reserved: %v", m)
	}
	if m := env(EnvOptions{PreserveAll: true}); m["API_KEY"] != "inherited" || m["DEBUG"] != "1" || m["DB"] != "db" {
		t.Fatalf("preserve all: %v", m)
	}
	if m := env(EnvOptions{Preserve: []string{"DEBUG"}}); m["API_KEY"] != "secret" || m["DEBUG"] != "1" {
		t.Fatalf("preserve DEBUG: %v", m)
	}
	if m := env(EnvOptions{Only: []string{"DB"}}); m["DB"] != "db" || m["API_KEY"] != "inherited" || m["DEBUG"] != "1" {
		t.Fatalf("only DB: %v", m)
	}
	if out, applied, err := BuildEnv(base, secrets, EnvOptions{Only: []string{"DEBUG", "DB", "DEBUG"}, Drop: []string{"SECR_TOKEN"}}, warn); err != nil || applied != 2 ||
		!slices.Equal(out[len(out)-2:], []string{"DB=db", "DEBUG=0"}) || slices.Contains(out, "DEBUG=1") || !slices.Contains(out, "API_KEY=inherited") {
		t.Fatalf("only DEBUG, DB, DEBUG: %q, %d, %v", out, applied, err)
	}
	if _, applied, _ := BuildEnv(base, secrets, EnvOptions{}, warn); applied != 3 {
		t.Fatalf("applied %d secrets, want 3 (PATH and LD_PRELOAD are skipped)", applied)
	}
	if _, _, err := BuildEnv(base, secrets, EnvOptions{Only: []string{"ZZZ", "DB", "NOPE"}}, warn); err == nil || !strings.Contains(err.Error(), "--only names NOPE, ZZZ, which") {
		t.Fatalf("only a missing name: %v", err)
	}
	if m := env(EnvOptions{Pristine: true}); m["OTHER"] != "" || m["PATH"] != "/bin" || m["LANG"] != "C" || m["DB"] != "db" || m["API_KEY"] != "secret" {
		t.Fatalf("pristine: %v", m)
	}
}

// TestBuildEnvSecretsLast: the applied secrets are the last applied
// entries of the result, whatever was skipped, which CheckSize relies on.
func TestBuildEnvSecretsLast(t *testing.T) {
	base := []string{"B=inherited", "Z=z", "SECR_TOKEN=t"}
	secrets := secretsOf(map[string]string{"A": "a", "B": "b", "HOME": "/x", "SECR_TOKEN": "s", "Y": "y"})
	for _, o := range []EnvOptions{{}, {PreserveAll: true}, {Preserve: []string{"B"}}, {AllowReserved: true}, {Pristine: true}} {
		o.Drop = []string{"SECR_TOKEN"}
		out, applied, err := BuildEnv(base, secrets, o, noWarn)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, kv := range out[len(out)-applied:] {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, k)
		}
		want := []string{"A", "B", "Y"}
		switch {
		case o.PreserveAll || len(o.Preserve) > 0:
			want = []string{"A", "Y"}
		case o.AllowReserved:
			want = []string{"A", "B", "HOME", "Y"}
		}
		if !slices.Equal(names, want) || slices.Contains(out, "SECR_TOKEN=t") || slices.Contains(out, "SECR_TOKEN=s") {
			t.Fatalf("%+v: %q, the last %d are %q, want %q", o, out, applied, names, want)
		}
	}
}

func benchSecrets(n int) []envdoc.Secret {
	out := make([]envdoc.Secret, n)
	for i := range out {
		out[i] = envdoc.Secret{Name: fmt.Sprintf("SECRET_%04d", i), Value: fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", 40))}
	}
	return out
}

var benchBase = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/u", "USER=u", "LANG=C.UTF-8", "TERM=xterm", "SHELL=/bin/sh", "PWD=/tmp", "SECR_TOKEN=x", "SECRET_0042=inherited"}

func benchBuildEnv(b *testing.B, n int) {
	secrets := benchSecrets(n)
	o := EnvOptions{Drop: []string{"SECR_TOKEN", "SECR_TOKEN_FILE"}}
	for b.Loop() {
		if _, applied, err := BuildEnv(benchBase, secrets, o, noWarn); err != nil || applied != n {
			b.Fatal(applied, err)
		}
	}
}

func BenchmarkBuildEnv1000(b *testing.B)  { benchBuildEnv(b, 1000) }
func BenchmarkBuildEnv10000(b *testing.B) { benchBuildEnv(b, 10000) }

func BenchmarkCheckSize10000(b *testing.B) {
	env, applied, err := BuildEnv(benchBase, benchSecrets(10000), EnvOptions{}, noWarn)
	if err != nil {
		b.Fatal(err)
	}
	c := &Command{Path: "/bin/true", Args: []string{"true"}, Env: env}
	for b.Loop() {
		if err := CheckSize(c, applied); err != nil {
			b.Fatal(err)
		}
	}
}
