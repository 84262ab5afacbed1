package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"

	"github.com/secr-dev/secr/internal/runner"
	"github.com/secr-dev/secr/internal/scan"
	"github.com/secr-dev/secr/internal/session"
)

// Test values: long enough to be searched, with characters that make their
// URL and JSON forms differ from the raw bytes.
const (
	scanRawValue    = "sk_live_RAWRAW1234567890"
	scanB64Value    = "db-password-for-base64-only"
	scanURLValue    = "p@ss/w:rd+with spaces&more"
	scanJSONValue   = `tok"en\with"quotes-1234`
	scanIgnoredVal  = "hidden-in-env-old-98765"
	scanNotSecret   = "https://public.example.com"
	scanMissingVal  = "only-in-the-dotenv-file-42"
	scanOtherVal    = "another-value-in-the-file-77"
	scanStagingOnly = "staging-value-abcdefgh"
)

func scanTestSecrets() []scan.Secret {
	return []scan.Secret{
		{Name: "API_KEY", Environment: "development", Value: scanRawValue},
		{Name: "DB_PASSWORD", Environment: "development", Value: scanB64Value},
		{Name: "URL_SECRET", Environment: "development", Value: scanURLValue},
		{Name: "JSON_TOKEN", Environment: "development", Value: scanJSONValue},
		{Name: "OLD_KEY", Environment: "development", Value: scanIgnoredVal},
		{Name: "PUBLIC_URL", Environment: "development", Value: scanNotSecret, NotSecret: true},
		{Name: "STAGING_KEY", Environment: "staging", Value: scanStagingOnly},
	}
}

// scanForms are the ways a value could leak into output.
func scanForms(v string) []string {
	out := []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v)),
		hex.EncodeToString([]byte(v)), url.QueryEscape(v), url.PathEscape(v)}
	j, _ := json.Marshal(v)
	return append(out, string(j[1:len(j)-1]))
}

// assertNoScanValues fails when any value of secrets (but the not-secret one)
// appears, in any form, in any of the texts.
func assertNoScanValues(t *testing.T, secrets []scan.Secret, texts ...string) {
	t.Helper()
	for _, s := range secrets {
		if s.NotSecret {
			continue
		}
		for _, f := range scanForms(s.Value) {
			for _, txt := range texts {
				if strings.Contains(txt, f) {
					t.Fatalf("output shows the value of %s (as %q):\n%s", s.Name, f, txt)
				}
			}
		}
	}
	for _, v := range []string{scanMissingVal, scanOtherVal} {
		for _, txt := range texts {
			if strings.Contains(txt, v) {
				t.Fatalf("output shows a dotenv file's value %q:\n%s", v, txt)
			}
		}
	}
}

func scanWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// scanPlantedTree writes a repository-like tree with each test value hidden
// in one encoding.
func scanPlantedTree(t *testing.T) string {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, ".git"), 0o755) // .gitignore applies as in a repository
	scanWrite(t, dir, ".gitignore", ".env.old\n")
	scanWrite(t, dir, "src/config.js", "// config\nconst key = \""+scanRawValue+"\";\n")
	scanWrite(t, dir, "deploy/secret.yaml", "kind: Secret\ndata:\n  password: "+base64.StdEncoding.EncodeToString([]byte(scanB64Value))+"\n")
	scanWrite(t, dir, "docs/link.txt", "see https://example.com/?s="+url.QueryEscape(scanURLValue)+"\n")
	j, _ := json.Marshal(map[string]string{"token": scanJSONValue})
	scanWrite(t, dir, "settings.json", string(j)+"\n")
	scanWrite(t, dir, ".env.old", "OLD_KEY="+scanIgnoredVal+"\n")
	scanWrite(t, dir, "public.txt", scanNotSecret+"\n")
	return dir
}

type fakeScanImport struct {
	calls  int
	values map[string]string
}

func runTestScan(t *testing.T, secrets []scan.Secret, imp *fakeScanImport, args ...string) (string, string, error) {
	t.Helper()
	io, out, errOut := TestIO("")
	d := &Deps{IO: io, Getenv: func(string) string { return "" }}
	o := &scanOptions{d: d, source: func(context.Context, *scanOptions) (*scanSource, error) {
		src := &scanSource{envs: []string{"development", "staging"}, secrets: append([]scan.Secret(nil), secrets...),
			into: "acme/web/development", intoEnv: "development"}
		src.importVars = func(_ context.Context, names []string, values map[string]string) ([]string, int64, error) {
			if imp == nil {
				return nil, 0, errors.New("no import expected")
			}
			imp.calls++
			if imp.values == nil {
				imp.values = map[string]string{}
			}
			for _, n := range names {
				imp.values[n] = values[n]
			}
			return names, 7, nil
		}
		return src, nil
	}}
	c := newScanCmd(d)
	// Flags only: the run function is called directly, as tests elsewhere do.
	var paths []string
	if err := c.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	paths = c.Flags().Args()
	o.envs, _ = c.Flags().GetStringSlice("env")
	for name, p := range map[string]*bool{"all": &o.all, "git": &o.git, "staged": &o.staged, "fix": &o.fix, "yes": &o.yes, "json": &o.jsonOut, "verbose": &o.verbose, "binaries": &o.binaries} {
		*p, _ = c.Flags().GetBool(name)
	}
	err := runScan(context.Background(), o, paths)
	return out.String(), errOut.String(), err
}

func scanExitCode(err error) int { return Report(err, &bytes.Buffer{}) }

// TestScanFindsEveryEncodingAndNeverAValue: each hidden value is reported
// with its name, environment and encoding; the ignored .env.old is listed,
// and read with --all; nothing printed (text or JSON, stdout or stderr)
// holds a value; the exit status is 1.
func TestScanFindsEveryEncodingAndNeverAValue(t *testing.T) {
	dir := scanPlantedTree(t)
	secrets := scanTestSecrets()
	out, errOut, err := runTestScan(t, secrets, nil, dir)
	if scanExitCode(err) != 1 || !errors.As(err, new(*runner.ExitError)) {
		t.Fatalf("exit %d (%v), want 1", scanExitCode(err), err)
	}
	for _, want := range []string{
		filepath.Join(dir, "src/config.js") + ":2: API_KEY (development)\n",
		filepath.Join(dir, "deploy/secret.yaml") + ":3: DB_PASSWORD (development) base64\n",
		filepath.Join(dir, "docs/link.txt") + ":1: URL_SECRET (development) url-query\n",
		filepath.Join(dir, "settings.json") + ":1: JSON_TOKEN (development) json\n",
		filepath.Join(dir, ".env.old") + ": dotenv file (ignored by .gitignore)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "OLD_KEY") || strings.Contains(out, "PUBLIC_URL") {
		t.Errorf("ignored file read without --all, or a not-secret value reported:\n%s", out)
	}
	if !strings.Contains(errOut, "found 4 copies of secrets and 1 dotenv file (searched 6 secrets of development, staging") {
		t.Errorf("summary: %s", errOut)
	}
	assertNoScanValues(t, secrets, out, errOut)

	out, errOut, err = runTestScan(t, secrets, nil, "--all", "--json", "--verbose", dir)
	if scanExitCode(err) != 1 {
		t.Fatalf("--all --json: exit %d", scanExitCode(err))
	}
	var rep scanJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, f := range rep.Findings {
		got[f.Name] = f.Encoding + "@" + filepath.Base(f.Path)
	}
	if got["OLD_KEY"] != "raw@.env.old" || got["DB_PASSWORD"] != "base64@secret.yaml" || len(rep.Findings) != 5 || !rep.Found ||
		len(rep.Dotenv) != 1 || !rep.Dotenv[0].Ignored || rep.Mode != "tree" {
		t.Errorf("--json report: %+v", rep)
	}
	assertNoScanValues(t, secrets, out, errOut)
}

func TestScanCleanTreeExitsZero(t *testing.T) {
	dir := t.TempDir()
	scanWrite(t, dir, "main.go", "package main\n\nfunc main() {}\n")
	scanWrite(t, dir, "env.example", "API_KEY=changeme\n") // not a dotenv name
	out, errOut, err := runTestScan(t, scanTestSecrets(), nil, dir)
	if err != nil || out != "" || !strings.Contains(errOut, "secr: clean: no copy of 6 secrets of development, staging in 2 files") {
		t.Fatalf("clean tree: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	out, _, err = runTestScan(t, scanTestSecrets(), nil, "--json", dir)
	if err != nil || !strings.Contains(out, `"found": false`) || !strings.Contains(out, `"findings": []`) {
		t.Fatalf("clean --json: %v %s", err, out)
	}
}

// TestScanFix: a stale file whose variables secr holds (after importing the
// missing one) is deleted; a file with a variable secr holds with another
// value, and one that does not parse, are kept; without --yes and without a
// terminal nothing is imported or deleted.
func TestScanFix(t *testing.T) {
	dir := t.TempDir()
	stale := scanWrite(t, dir, ".env.stale", "API_KEY="+scanRawValue+"\nNEW_THING="+scanMissingVal+"\n")
	conflict := scanWrite(t, dir, "app/.env", "API_KEY="+scanOtherVal+"\n")
	broken := scanWrite(t, dir, "prod.env", "API_KEY "+scanRawValue+"\n")
	secrets := scanTestSecrets()

	out, errOut, err := runTestScan(t, secrets, nil, "--fix", dir)
	if scanExitCode(err) != 1 {
		t.Fatalf("--fix without --yes: exit %d", scanExitCode(err))
	}
	for _, p := range []string{stale, conflict, broken} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s removed without --yes", p)
		}
	}
	for _, want := range []string{"line 2: NEW_THING: not in secr", "line 1: API_KEY: in secr with the same value (development)",
		"line 1: API_KEY: in secr with another value (development)", "fix " + conflict + ": kept: secr holds another value for API_KEY"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "acts only with --yes") {
		t.Errorf("no word about --yes: %s", errOut)
	}
	assertNoScanValues(t, secrets, out, errOut)

	imp := &fakeScanImport{}
	out, errOut, err = runTestScan(t, secrets, imp, "--fix", "--yes", dir)
	if imp.calls != 1 || imp.values["NEW_THING"] != scanMissingVal || len(imp.values) != 1 {
		t.Fatalf("import: %d calls, names %v", imp.calls, len(imp.values))
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale file not deleted: %v\n%s", err, out)
	}
	for _, p := range []string{conflict, broken} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s deleted although secr does not hold it", p)
		}
	}
	if !strings.Contains(errOut, "Imported NEW_THING into acme/web/development (revision 7)") ||
		!strings.Contains(errOut, "Deleted "+stale+". Note: the file is overwritten with zeros") ||
		!strings.Contains(errOut, "copy-on-write") || !strings.Contains(out, "fix "+broken+": kept: it does not parse") {
		t.Errorf("--fix --yes said:\n%s\n%s", out, errOut)
	}
	// The stale file's raw API_KEY was a finding; it is gone, the two kept
	// files remain (and prod.env still holds API_KEY): exit 1.
	if scanExitCode(err) != 1 || !strings.Contains(errOut, "found 1 copy of a secret and 2 dotenv files") {
		t.Errorf("after --fix: exit %d\n%s", scanExitCode(err), errOut)
	}
	assertNoScanValues(t, secrets, out, errOut)

	// Once every dotenv file is gone the tree is clean: exit 0.
	os.Remove(conflict)
	os.Remove(broken)
	scanWrite(t, dir, ".env.last", "API_KEY="+scanRawValue+"\n")
	out, errOut, err = runTestScan(t, secrets, &fakeScanImport{}, "--fix", "--yes", "--json", dir)
	if err != nil || !strings.Contains(out, `"deleted": true`) || !strings.Contains(out, `"found": false`) {
		t.Fatalf("last file: %v\n%s\n%s", err, out, errOut)
	}
	assertNoScanValues(t, secrets, out, errOut)
}

func TestScanUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--git", "--staged"}, {"--fix", "--git"}, {"--all", "--staged"}, {"--yes"},
		{"--fix", "--env", "development,staging"}, {"--git", dir, dir},
	} {
		_, _, err := runTestScan(t, scanTestSecrets(), nil, args...)
		if scanExitCode(err) != ExitUsage {
			t.Errorf("%v: exit %d (%v), want 2", args, scanExitCode(err), err)
		}
	}
}

func TestOfferCleanup(t *testing.T) {
	dir := t.TempDir()
	known := []session.Secret{{Name: "API_KEY", Value: scanRawValue}, {Name: "PORT", Value: "8080", NotSecret: true}}
	p := scanWrite(t, dir, ".env", "API_KEY="+scanRawValue+"\nPORT=8080\n")

	io, _, errOut := TestIO("")
	d := &Deps{IO: io}
	if err := offerCleanup(context.Background(), d, p, "development", known, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil || !strings.Contains(errOut.String(), "delete it with 'secr scan --fix --yes'") {
		t.Fatalf("no terminal, no yes: %v %s", err, errOut)
	}
	if err := offerCleanup(context.Background(), d, p, "development", known, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) || !strings.Contains(errOut.String(), "copy-on-write") {
		t.Fatalf("yes: not deleted: %v %s", err, errOut)
	}

	// import --keep-existing left another value in secr: keep the file.
	p = scanWrite(t, dir, ".env", "API_KEY="+scanOtherVal+"\n")
	io, _, errOut = TestIO("")
	if err := offerCleanup(context.Background(), &Deps{IO: io}, p, "development", known, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil || !strings.Contains(errOut.String(), "Kept "+p+": secr holds another value for API_KEY") {
		t.Fatalf("different value: %v %s", err, errOut)
	}
	assertNoScanValues(t, []scan.Secret{{Name: "API_KEY", Value: scanRawValue}}, errOut.String())
	if err := offerCleanup(context.Background(), &Deps{IO: io}, "-", "development", known, true); err != nil {
		t.Fatal(err)
	}
}

func TestScanInstallHook(t *testing.T) {
	dir := t.TempDir()
	if _, err := git.PlainInit(dir, false); err != nil {
		t.Fatal(err)
	}
	io, _, errOut := TestIO("")
	o := &installHookOptions{d: &Deps{IO: io}, executable: func() (string, error) { return "/opt/secr bin/secr", nil }}
	if err := runScanInstallHook(context.Background(), o, []string{dir}); err != nil {
		t.Fatal(err)
	}
	hook := filepath.Join(dir, ".git", "hooks", "pre-commit")
	data, err := os.ReadFile(hook)
	if err != nil || !strings.Contains(string(data), "exec '/opt/secr bin/secr' scan --staged") || !strings.Contains(errOut.String(), "Installed "+hook) {
		t.Fatalf("hook: %v %q %s", err, data, errOut)
	}
	if err := runScanInstallHook(context.Background(), o, []string{dir}); err != nil {
		t.Fatalf("replacing its own hook: %v", err)
	}
	os.WriteFile(hook, []byte("#!/bin/sh\nmake lint\n"), 0o755)
	err = runScanInstallHook(context.Background(), o, []string{dir})
	var buf bytes.Buffer
	if code := Report(err, &buf); code != ExitUsage || !strings.Contains(buf.String(), hook) || !strings.Contains(buf.String(), "scan --staged") {
		t.Fatalf("foreign hook: exit %d: %s", code, buf.String())
	}
	if data, _ := os.ReadFile(hook); string(data) != "#!/bin/sh\nmake lint\n" {
		t.Fatalf("foreign hook overwritten: %q", data)
	}
}
