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

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/runner"
)

func TestTargetPrecedence(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	os.MkdirAll(sub, 0o755)
	os.WriteFile(filepath.Join(root, ".secr.json"), []byte(`{"org":"fileorg","project":"fileproj","environment":"staging","api":"http://file:1"}`), 0o644)
	envs := map[string]string{}
	d := &Deps{Getenv: func(k string) string { return envs[k] }, Getwd: func() (string, error) { return sub, nil }}
	resolve := func(flags ...string) target {
		t.Helper()
		c := &cobra.Command{}
		c.Flags().String("api", "", "")
		var f targetFlags
		f.addEnv(c)
		if err := c.ParseFlags(flags); err != nil {
			t.Fatal(err)
		}
		tg, err := d.resolveTarget(c, &f)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	if got := resolve(); got.api != "http://file:1" || got.org != "fileorg" || got.project != "fileproj" || got.env != "staging" || got.envExplicit {
		t.Fatalf(".secr.json: %+v", got)
	}
	envs["SECR_ENV"], envs["SECR_API_URL"] = "production", "http://env:2"
	if got := resolve(); got.api != "http://env:2" || got.env != "production" || !got.envExplicit {
		t.Fatalf("environment variables: %+v", got)
	}
	if got := resolve("--env", "preview", "--api", "http://flag:3", "--org", "flagorg"); got.api != "http://flag:3" || got.env != "preview" || got.org != "flagorg" || got.project != "fileproj" {
		t.Fatalf("flags: %+v", got)
	}
	d.Getwd = func() (string, error) { return t.TempDir(), nil }
	delete(envs, "SECR_ENV")
	delete(envs, "SECR_API_URL")
	if got := resolve(); got.api != DefaultAPI || got.env != "development" || got.org != "" {
		t.Fatalf("defaults: %+v", got)
	}
	os.WriteFile(filepath.Join(root, ".secr.json"), []byte(`{"org":"x","project":"y","enviroment":"typo"}`), 0o644)
	d.Getwd = func() (string, error) { return sub, nil }
	c := &cobra.Command{}
	c.Flags().String("api", "", "")
	if _, err := d.resolveTarget(c, &targetFlags{}); err == nil || !strings.Contains(err.Error(), `unknown field "enviroment"`) {
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
		{withHint(fmt.Errorf("%w to x", errNotLoggedIn), "run 'secr login'"), ExitAuth, "secr: hint: run 'secr login'"},
		{&client.APIError{Status: 401, Message: "session expired"}, ExitAuth, ""},
		{&client.APIError{Status: 404, Message: "org not found"}, ExitNoAccess, ""},
		{&client.APIError{Status: 403, Message: "no key"}, ExitNoAccess, ""},
		{&client.UnreachableError{URL: "http://x", Err: errors.New("refused")}, ExitUnreachable, ""},
		{fmt.Errorf("%w: revision 3", ErrIntegrity), ExitIntegrity, ""},
		{fmt.Errorf("open: %w", crypto.ErrDecrypt), ExitIntegrity, ""},
		{fmt.Errorf("%w: nope", runner.ErrNotFound), ExitNotFound, ""},
		{withHint(errReadOnly, "x"), ExitNoAccess, "secr: hint: x"},
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

func TestTokenFromFile(t *testing.T) {
	tok, _ := crypto.GenerateServiceToken()
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte(tok.String()+"\n"), 0o600)
	envs := map[string]string{"SECR_TOKEN_FILE": path, "HOME": t.TempDir()}
	d := &Deps{Getenv: func(k string) string { return envs[k] }}
	s, err := d.authenticate(target{api: DefaultAPI})
	if err != nil {
		t.Fatal(err)
	}
	if s.token == nil || s.token.ID() != tok.ID() {
		t.Fatalf("token from SECR_TOKEN_FILE not used: %+v", s.token)
	}
	// SECR_TOKEN wins over the file.
	other, _ := crypto.GenerateServiceToken()
	envs["SECR_TOKEN"] = other.String()
	if s, err := d.authenticate(target{api: DefaultAPI}); err != nil || s.token.ID() != other.ID() {
		t.Fatalf("SECR_TOKEN did not win: %v", err)
	}
	delete(envs, "SECR_TOKEN")
	os.WriteFile(path, []byte("secr_st_garbage"), 0o600)
	if _, err := d.authenticate(target{api: DefaultAPI}); err == nil || !strings.HasPrefix(err.Error(), "SECR_TOKEN_FILE: malformed") || strings.Contains(err.Error(), "garbage") {
		t.Fatalf("malformed token file: %v", err)
	}
	envs["SECR_TOKEN_FILE"] = filepath.Join(t.TempDir(), "missing")
	if _, err := d.authenticate(target{api: DefaultAPI}); err == nil || !strings.Contains(err.Error(), "SECR_TOKEN_FILE") {
		t.Fatalf("missing token file: %v", err)
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
