package integrations

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
	got, err := parseGitHubEnv(string(data))
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

// actionStepRunner prepares the action's step as the runner would run it
// against s, with secr on PATH, and returns a function that runs it with
// the given inputs, returning stdout, stderr, the exit code and GITHUB_ENV.
func actionStepRunner(t *testing.T, s *server) func(inputs map[string]string) (string, string, int, string) {
	mapping, runLine := actionStep(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	if err := os.Symlink(secrBin, filepath.Join(bin, "secr")); err != nil {
		t.Fatal(err)
	}
	actionPath, _ := filepath.Abs("github-action")
	script := filepath.Join(dir, "step.sh")
	os.WriteFile(script, []byte(runLine+"\n"), 0o644)
	n := 0
	return func(inputs map[string]string) (string, string, int, string) {
		n++
		envFile := filepath.Join(dir, "github_env_"+strings.Repeat("x", n))
		os.WriteFile(envFile, nil, 0o644)
		env := []string{
			"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"),
			"GITHUB_ENV=" + envFile, "GITHUB_ACTION_PATH=" + actionPath, "RUNNER_TEMP=" + dir,
		}
		for envName, input := range mapping {
			env = append(env, envName+"="+inputs[input])
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Env = env
		stdout, stderr, code := run(t, cmd)
		data, _ := os.ReadFile(envFile)
		return stdout, stderr, code, string(data)
	}
}

// Any org, project or environment input that disagrees with the token's
// scope fails the step before a secret is exported; inputs that agree (one,
// two or all three of them) load the secrets as usual.
func TestGitHubActionInputsMustMatchToken(t *testing.T) {
	s := startServer(t)
	s.secr("", "orgs", "create", "other")
	s.secr("", "projects", "create", "api", "--org", "acme")
	tok := s.token("production")
	step := actionStepRunner(t, s)

	for _, in := range []map[string]string{
		{"org": "other"},
		{"org": "nope"},
		{"project": "api"},
		{"environment": "staging"},
		{"org": "acme", "project": "web", "environment": "staging"},
		{"org": "acme", "project": "api"},
		{"org": "acme\n::warning::injected"},
	} {
		in["token"], in["api-url"] = tok, s.url
		stdout, stderr, code, env := step(in)
		if code == 0 {
			t.Errorf("inputs %v: the step succeeded with a token for acme/web/production", in)
		}
		if env != "" || strings.Contains(stdout, "::add-mask::") {
			t.Errorf("inputs %v: secrets were exported:\n%s", in, env)
		}
		if !strings.Contains(stdout, "::error title=secr::") || !strings.Contains(stdout, "but the token is for acme/web/production") {
			t.Errorf("inputs %v: no annotation naming the token's scope:\nstdout %s\nstderr %s", in, stdout, stderr)
		}
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, "::warning::") {
				t.Errorf("an input started a workflow command: %q", l)
			}
		}
	}

	for _, in := range []map[string]string{
		{"org": "acme"},
		{"project": "web"},
		{"environment": "production"},
		{"org": "acme", "project": "web"},
		{"org": "acme", "project": "web", "environment": "production"},
	} {
		in["token"], in["api-url"] = tok, s.url
		stdout, stderr, code, envData := step(in)
		if code != 0 {
			t.Errorf("inputs %v: %d\n%s\n%s", in, code, stdout, stderr)
			continue
		}
		got, err := parseGitHubEnv(envData)
		if err != nil || got["DB_URL"] != tricky["DB_URL"] {
			t.Errorf("inputs %v: GITHUB_ENV %v %v", in, got, err)
		}
	}
}

// The action in this repository installs the npm "latest" when secr is not
// on PATH; the copy synced to secr-dev/secr-action defaults to the release
// it was synced from, and nothing hard-codes a version.
func TestGitHubActionDefaultVersion(t *testing.T) {
	src, err := os.ReadFile("github-action/action.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^    default: "latest" # release version:`).Match(src) {
		t.Fatalf("action.yml: the version input's default is not the marked \"latest\":\n%s", src)
	}
	script, _ := os.ReadFile("github-action/secr-action.sh")
	if regexp.MustCompile(`\d+\.\d+\.\d+`).Match(script) {
		t.Error("secr-action.sh hard-codes a version")
	}
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, ".git"), 0o755)
	os.WriteFile(filepath.Join(out, "stale.txt"), nil, 0o644)
	cmd := exec.Command("bash", "../scripts/sync-action.sh", "v0.2.0", out)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sync-action.sh: %v\n%s", err, o)
	}
	synced, _ := os.ReadFile(filepath.Join(out, "action.yml"))
	if !strings.Contains(string(synced), "    default: \"0.2.0\"\n") || strings.Contains(string(synced), "latest") {
		t.Errorf("synced action.yml:\n%s", synced)
	}
	for _, f := range []string{"secr-action.sh", "README.md", ".git"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "stale.txt")); err == nil {
		t.Error("a file removed from the action stays in the synced repository")
	}
	if o, err := exec.Command("bash", "../scripts/sync-action.sh", "main", t.TempDir()).CombinedOutput(); err == nil {
		t.Errorf("sync-action.sh accepted a version that is not one: %s", o)
	}
}
