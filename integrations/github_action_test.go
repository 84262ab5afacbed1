package integrations

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/ghaenv"
)

// actionStep reads integrations/github-action/action.yml: the composite
// step's env mapping (variable → input name) and its run line.
func actionStep(t *testing.T) (map[string]string, string) {
	data, err := os.ReadFile("github-action/action.yml")
	if err != nil {
		t.Fatal(err)
	}
	envRE := regexp.MustCompile(`^\s+([A-Z_]+): \$\{\{ inputs\.([a-z-]+) \}\}\s*$`)
	runRE := regexp.MustCompile(`^\s+run: (.+)$`)
	mapping := map[string]string{}
	var run string
	for _, line := range strings.Split(string(data), "\n") {
		if m := envRE.FindStringSubmatch(line); m != nil {
			mapping[m[1]] = m[2]
		}
		if m := runRE.FindStringSubmatch(line); m != nil {
			run = m[1]
		}
	}
	if strings.Contains(run, "${{") {
		t.Fatalf("run: %q expands an expression inline: script injection", run)
	}
	if run == "" || mapping["SECR_TOKEN"] != "token" {
		t.Fatalf("action.yml: run %q, env %v", run, mapping)
	}
	return mapping, run
}

// TestGitHubAction runs the action's step as the runner does: inputs in
// env, GITHUB_ENV and GITHUB_OUTPUT as temp files, secr on PATH, bash with
// -eo pipefail; then reads GITHUB_ENV as the runner does.
func TestGitHubAction(t *testing.T) {
	mapping, runLine := actionStep(t)
	s := startServer(t)
	values := map[string]string{"CRLF_INJECT": "line1\r\nEOF\r\nX=1\r\nghadelimiter_x\r\n"}
	s.secr(values["CRLF_INJECT"]+"\n", "secrets", "set", "--org", "acme", "--project", "web", "--env", "production", "CRLF_INJECT")
	for k, v := range tricky {
		values[k] = v
	}
	tok := s.token("production")

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	if err := os.Symlink(secrBin, filepath.Join(bin, "secr")); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range []string{"GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_PATH"} {
		files[f] = filepath.Join(dir, strings.ToLower(f))
		os.WriteFile(files[f], nil, 0o644)
	}
	actionPath, _ := filepath.Abs("github-action")
	inputs := map[string]string{"token": tok, "api-url": s.url, "version": version(t)}
	env := []string{
		"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"),
		"GITHUB_ENV=" + files["GITHUB_ENV"], "GITHUB_OUTPUT=" + files["GITHUB_OUTPUT"], "GITHUB_PATH=" + files["GITHUB_PATH"],
		"GITHUB_ACTION_PATH=" + actionPath, "RUNNER_TEMP=" + dir,
	}
	for envName, input := range mapping {
		env = append(env, envName+"="+inputs[input])
	}
	script := filepath.Join(dir, "step.sh")
	os.WriteFile(script, []byte(runLine+"\n"), 0o644)
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Env = env
	stdout, stderr, code := run(t, cmd)
	if code != 0 {
		t.Fatalf("step failed (%d):\n%s\n%s", code, stdout, stderr)
	}

	data, _ := os.ReadFile(files["GITHUB_ENV"])
	got, err := ghaenv.Parse(string(data))
	if err != nil {
		t.Fatalf("the runner would reject GITHUB_ENV: %v", err)
	}
	for k, v := range values {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got["INJECTED"] != "" || got["EVIL"] != "" || got["X"] != "" {
		t.Errorf("a value injected a variable: %v", got)
	}

	// Every line of every value is masked before it appears anywhere else.
	lines := strings.Split(stdout, "\n")
	for k, v := range values {
		for _, part := range append([]string{v}, strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' })...) {
			escaped := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(part)
			first := -1
			for i, l := range lines {
				if strings.Contains(l, part) || strings.Contains(l, escaped) {
					first = i
					break
				}
			}
			if first < 0 || !strings.HasPrefix(lines[first], "::add-mask::") {
				t.Errorf("%s: %q is not masked before it is printed (first at line %d)", k, part, first)
			}
		}
	}
	for _, l := range lines {
		if l != "" && !strings.HasPrefix(l, "::add-mask::") {
			t.Errorf("unexpected stdout line %q", l)
		}
	}
	if strings.Contains(stdout, "https://example.com") {
		t.Error("a not-secret value was masked or printed")
	}
	if strings.Contains(stderr, "sk_live") {
		t.Errorf("stderr holds a value: %s", stderr)
	}

	// An empty token input fails the step with a clear annotation.
	cmd = exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
	cmd.Env = append(env, "SECR_TOKEN=")
	if out, _, code := run(t, cmd); code == 0 || !strings.Contains(out, "::error title=secr::the 'token' input is empty") {
		t.Fatalf("empty token: %d %q", code, out)
	}
}
