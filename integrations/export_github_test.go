package integrations

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The export format for GitHub Actions, through the real binary: the
// runner's own parser (parseGitHubEnv) must read back every value exactly,
// and stdout must hold only mask commands.

// setAll stores values in environment env of acme/web (created here), each
// with --from-file so that every byte survives.
func setAll(s *server, env string, values map[string]string) {
	s.t.Helper()
	s.secr("", "envs", "create", env, "--org", "acme", "--project", "web")
	dir := s.t.TempDir()
	for n, v := range values {
		file := filepath.Join(dir, n)
		if err := os.WriteFile(file, []byte(v), 0o600); err != nil {
			s.t.Fatal(err)
		}
		s.secr("", "secrets", "set", "--org", "acme", "--project", "web", "--env", env, n, "--from-file", file)
	}
}

// exportGitHub runs the export as a workflow step would and returns stdout.
func exportGitHub(t *testing.T, s *server, envFile string) string {
	t.Helper()
	cmd := exec.Command(secrBin, "secrets", "export", "--org", "acme", "--project", "web", "--env", "export", "--format", "github-actions")
	cmd.Env = s.env("GITHUB_ENV=" + envFile)
	stdout, stderr, code := run(t, cmd)
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	return stdout
}

func TestExportGitHubActions(t *testing.T) {
	values := map[string]string{
		"PEM":     "-----BEGIN KEY-----\nMIIBOgIBAAJB\n-----END KEY-----",
		"INJECT":  "a\nEOF\nINJECTED=1\nghadelimiter_123\nsecr_00\r\nx%0AEVIL=1\n",
		"PERCENT": "100%0D%25",
		"EMPTY":   "",
		"PLAIN":   `it's "q" $x #y`,
	}
	s := startServer(t)
	setAll(s, "export", values)
	s.secr("", "secrets", "set", "--org", "acme", "--project", "web", "--env", "export", "--not-secret", "PUBLIC_URL=https://example.com")
	values["PUBLIC_URL"] = "https://example.com"

	envFile := filepath.Join(t.TempDir(), "github_env")
	os.WriteFile(envFile, []byte("EXISTING=1\n"), 0o600)
	out := exportGitHub(t, s, envFile)
	data, _ := os.ReadFile(envFile)
	got, err := parseGitHubEnv(string(data))
	if err != nil {
		t.Fatalf("runner would reject GITHUB_ENV: %v\n%s", err, data)
	}
	if got["EXISTING"] != "1" || got["INJECTED"] != "" || got["EVIL"] != "" || len(got) != len(values)+1 {
		t.Fatalf("variables: %q", got)
	}
	for n, v := range values {
		if got[n] != v {
			t.Errorf("%s = %q, want %q", n, got[n], v)
		}
	}

	// stdout holds only mask commands, and every secret value and line is masked.
	masked := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		data, ok := strings.CutPrefix(line, "::add-mask::")
		if !ok {
			t.Fatalf("stdout line is not a mask command: %q", line)
		}
		masked[strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(data)] = true
	}
	for _, n := range []string{"PEM", "INJECT", "PERCENT", "PLAIN"} {
		if !masked[values[n]] {
			t.Errorf("%s is not masked", n)
		}
		for _, line := range strings.FieldsFunc(values[n], func(r rune) bool { return r == '\n' || r == '\r' }) {
			if !masked[line] {
				t.Errorf("line %q of %s is not masked", line, n)
			}
		}
	}
	if masked["https://example.com"] || masked[""] {
		t.Error("not-secret or empty values were masked")
	}
	cmd := exec.Command(secrBin, "secrets", "export", "--org", "acme", "--project", "web", "--env", "export", "--format", "github-actions")
	cmd.Env = s.env()
	if _, stderr, code := run(t, cmd); code != 2 || !strings.Contains(stderr, "GITHUB_ENV is not set") {
		t.Errorf("exported without GITHUB_ENV: exit %d, %s", code, stderr)
	}
}

// The runner rejects ::add-mask:: with empty or whitespace-only data (a
// warning annotation in the job's summary), so neither a blank value nor a
// blank line of a multi-line value is registered; the variables are still
// exported unchanged.
func TestExportGitHubActionsSkipsBlankMasks(t *testing.T) {
	values := map[string]string{
		"SPACES":   "   ",
		"TABS":     "\t \t",
		"NBSP":     "\u00a0\u2003",
		"NEWLINES": "\n\r\n",
		"GAPS":     "first\n   \n\tsecond\n\n",
	}
	s := startServer(t)
	setAll(s, "export", values)
	envFile := filepath.Join(t.TempDir(), "github_env")
	out := exportGitHub(t, s, envFile)
	var masks []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		data, ok := strings.CutPrefix(line, "::add-mask::")
		if !ok {
			t.Fatalf("stdout line is not a mask command: %q", line)
		}
		data = strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(data)
		if strings.TrimSpace(data) == "" || strings.Trim(data, " \t\r\n\u00a0\u2003") == "" {
			t.Errorf("blank mask registered: %q", data)
		}
		masks = append(masks, data)
	}
	want := []string{values["GAPS"], "first", "\tsecond"}
	if strings.Join(masks, "|") != strings.Join(want, "|") {
		t.Errorf("masks %q, want %q", masks, want)
	}
	data, _ := os.ReadFile(envFile)
	got, err := parseGitHubEnv(string(data))
	if err != nil {
		t.Fatal(err)
	}
	for n, v := range values {
		if got[n] != v {
			t.Errorf("%s = %q, want %q", n, got[n], v)
		}
	}
}
