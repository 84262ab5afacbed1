package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/runner"
	"github.com/secr-dev/secr/internal/session"
)

// TestResolveReadsProjectFile: commands resolve their target through the
// .secr.json of the working directory, and a malformed one is an error.
func TestResolveReadsProjectFile(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	os.MkdirAll(sub, 0o755)
	os.WriteFile(filepath.Join(root, ".secr.json"), []byte(`{"org":"fileorg","project":"fileproj","environment":"staging"}`), 0o644)
	d := &Deps{Getenv: func(string) string { return "" }, Getwd: func() (string, error) { return sub, nil }}
	f := &targetFlags{}
	f.Org = "flagorg"
	tg, err := d.resolve(f)
	if err != nil || tg.Org != "flagorg" || tg.Project != "fileproj" || tg.Env != "staging" {
		t.Fatalf("resolve: %+v, %v", tg, err)
	}
	os.WriteFile(filepath.Join(root, ".secr.json"), []byte(`{"org":"x","project":"y","enviroment":"typo"}`), 0o644)
	if _, err := d.resolve(&targetFlags{}); err == nil || !strings.Contains(err.Error(), `unknown field "enviroment"`) {
		t.Fatalf("malformed .secr.json: %v", err)
	}
}

func TestReportExitCodes(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
		hint string
	}{
		{nil, 0, ""},
		{&runner.ExitError{Code: 42}, 42, ""},
		{usageErrorf("bad flag"), ExitUsage, ""},
		{withHint(fmt.Errorf("%w to x", session.ErrNotLoggedIn), "run 'secr login'"), ExitAuth, "secr: hint: run 'secr login'"},
		{&client.APIError{Status: 401, Message: "session expired"}, ExitAuth, ""},
		{&client.APIError{Status: 404, Message: "org not found"}, ExitNoAccess, ""},
		{&client.APIError{Status: 403, Message: "no key"}, ExitNoAccess, ""},
		{&client.UnreachableError{URL: "http://x", Err: errors.New("refused")}, ExitUnreachable, ""},
		{fmt.Errorf("%w: revision 3", session.ErrIntegrity), ExitIntegrity, ""},
		{fmt.Errorf("revision 3: %w", session.ErrNoChange), ExitError, ""},
		{fmt.Errorf("%w: nope", runner.ErrNotFound), ExitNotFound, ""},
		{withHint(session.ErrReadOnly, "x"), ExitNoAccess, "secr: hint: x"},
		{session.Target{}.RequireOrg(), ExitUsage, "secr: hint: pass --org"},
		{fmt.Errorf("wrapped: %w", usageErrorf("bad flag")), ExitUsage, ""},
		{errors.New("other"), ExitError, ""},
	} {
		var buf bytes.Buffer
		if got := Report(tt.err, &buf); got != tt.code {
			t.Errorf("Report(%v) = %d, want %d", tt.err, got, tt.code)
		}
		if tt.err != nil && tt.code != 42 && !strings.HasPrefix(buf.String(), "secr: error: ") {
			t.Errorf("Report(%v) printed %q", tt.err, buf.String())
		}
		if tt.hint != "" && !strings.Contains(buf.String(), tt.hint) {
			t.Errorf("Report(%v) printed %q, want hint %q", tt.err, buf.String(), tt.hint)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"12h":                  now.Add(12 * time.Hour),
		"30d":                  now.Add(30 * 24 * time.Hour),
		"2w":                   now.Add(14 * 24 * time.Hour),
		"2026-12-31":           time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC),
		"2027-01-02T03:04:05Z": time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC),
	} {
		got, err := parseExpiry(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "0d", "-1d", "30x", "tomorrow"} {
		if _, err := parseExpiry(bad, now); err == nil {
			t.Errorf("parseExpiry(%q) accepted", bad)
		}
	}
}

func TestDotenvFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".env", ".env.local", ".env.example", ".envrc", "env"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	if got := strings.Join(dotenvFiles(dir), ","); got != ".env,.env.local" {
		t.Fatalf("dotenvFiles = %q", got)
	}
}

func TestPasswordNeedsTerminalOrStdin(t *testing.T) {
	io, _, _ := TestIO("")
	o := &accountOptions{d: &Deps{IO: io}}
	if _, err := o.password(false); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("password without a terminal: %v", err)
	}
	io, _, _ = TestIO("hunter2hunter2\nrest")
	o = &accountOptions{d: &Deps{IO: io}, passwordStdin: true}
	if pw, err := o.password(true); err != nil || pw != "hunter2hunter2" {
		t.Fatalf("password from stdin: %q, %v", pw, err)
	}
}

func TestRootBuildsOnlyTheNamedCommand(t *testing.T) {
	d := SystemDeps()
	if n := len(newRoot(d, []string{"run", "--", "true"}).Commands()); n != 1 {
		t.Fatalf("secr run built %d commands", n)
	}
	full := newRoot(d, []string{"--help"})
	if n := len(full.Commands()); n != len(commands) {
		t.Fatalf("secr --help built %d commands, want %d", n, len(commands))
	}
	if c, _, err := full.Find([]string{"secrets", "export"}); err != nil || c.Name() != "export" {
		t.Fatalf("secrets export not found: %v", err)
	}
}

// TestWriteFile0600 is export --output: never through a symbolic link (the
// plaintext and the mode change would land on its target), never into
// anything but a regular file, and an existing file ends up 0600.
func TestWriteFile0600(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := writeFile0600(link, []byte("SECRET=1")); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("wrote through a symlink: %v", err)
	}
	if data, _ := os.ReadFile(target); string(data) != "keep" {
		t.Fatalf("the link's target changed: %q", data)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o644 {
		t.Fatalf("the link's target mode changed: %v", fi.Mode())
	}
	if err := writeFile0600(dir, []byte("x")); err == nil {
		t.Fatal("wrote over a directory")
	}
	if err := writeFile0600(target, []byte("SECRET=1")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode())
	}
	if data, _ := os.ReadFile(target); string(data) != "SECRET=1" {
		t.Fatalf("content %q", data)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".target.secr-*")); len(leftovers) > 0 {
		t.Fatalf("temporary files left: %q", leftovers)
	}
}
