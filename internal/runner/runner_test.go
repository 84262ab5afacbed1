package runner

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	base := []string{"PATH=/bin", "SECR_TOKEN=secr_st_x", "API_KEY=old", "HOME=/h", "NOEQUALS", "=weird"}
	got := MergeEnv(base, map[string]string{"API_KEY": "new", "B": "b=1", "A": ""}, "SECR_TOKEN")
	want := []string{"PATH=/bin", "HOME=/h", "A=", "API_KEY=new", "B=b=1"}
	if !slices.Equal(got, want) {
		t.Fatalf("MergeEnv = %q, want %q", got, want)
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
	secrets := map[string]string{"API_KEY": "secret", "DEBUG": "0", "DB": "db", "PATH": "/evil", "LD_PRELOAD": "x.so"}
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
	if len(warnings) != 2 || !strings.Contains(strings.Join(warnings, "|"), "secret PATH was not applied") {
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
	if _, applied, _ := BuildEnv(base, secrets, EnvOptions{}, warn); applied != 3 {
		t.Fatalf("applied %d secrets, want 3 (PATH and LD_PRELOAD are skipped)", applied)
	}
	if _, _, err := BuildEnv(base, secrets, EnvOptions{Only: []string{"DB", "NOPE"}}, warn); err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Fatalf("only a missing name: %v", err)
	}
	if m := env(EnvOptions{Pristine: true}); m["OTHER"] != "" || m["PATH"] != "/bin" || m["LANG"] != "C" || m["DB"] != "db" || m["API_KEY"] != "secret" {
		t.Fatalf("pristine: %v", m)
	}
}
