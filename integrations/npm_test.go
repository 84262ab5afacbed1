package integrations

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNPMLauncher(t *testing.T) {
	dir, v := npmTarballs(t)
	launcher := filepath.Join(dir, "secr-cli-"+v+".tgz")
	platform := filepath.Join(dir, "secr-cli-linux-x64-"+v+".tgz")
	prefix := npmInstall(t, launcher, platform)
	secr := filepath.Join(prefix, "bin", "secr")

	out, _, code := run(t, exec.Command(secr, "--version"))
	if code != 0 || strings.TrimSpace(out) != "secr version "+v {
		t.Fatalf("secr --version: %d %q", code, out)
	}

	s := startServer(t)
	tok := s.token("production")
	cmd := exec.Command(secr, "run", "--", "sh", "-c", `test "$DB_URL" = "postgres://u:p@db:5432/app?sslmode=require" || exit 9; exit 3`)
	cmd.Env = s.env("SECR_TOKEN=" + tok)
	if _, stderr, code := run(t, cmd); code != 3 {
		t.Fatalf("exit status through the launcher: %d, want 3\n%s", code, stderr)
	}

	// SIGTERM to the launcher reaches the Go process (here exec'd into sh),
	// and the launcher exits with its status.
	dirTmp := t.TempDir()
	ready := filepath.Join(dirTmp, "ready")
	cmd = exec.Command(secr, "run", "--", "sh", "-c", `trap 'exit 42' TERM; touch "$READY"; while :; do sleep 0.02; done`)
	cmd.Env = s.env("SECR_TOKEN="+tok, "READY="+ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !fileExists(ready) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 42 {
		t.Fatalf("launcher after SIGTERM: %v, want exit 42", err)
	}

	// The launcher without its platform package says what to install: with
	// -g for a global install,
	alone := npmInstall(t, launcher)
	_, stderr, code := run(t, exec.Command(filepath.Join(alone, "bin", "secr"), "--version"))
	if code == 0 || !strings.Contains(stderr, "@secr/cli-linux-x64") || !strings.Contains(stderr, "npm install -g @secr/cli-linux-x64@"+v+"\n") {
		t.Fatalf("launcher alone, global: exit %d, stderr %q", code, stderr)
	}
	// and without in a project.
	project := t.TempDir()
	os.WriteFile(filepath.Join(project, "package.json"), []byte(`{"name":"app","version":"1.0.0","private":true}`), 0o644)
	install := exec.Command("npm", "install", "--offline", "--no-audit", "--no-fund", "--omit=optional", launcher)
	install.Dir = project
	install.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(t.TempDir(), "npm-cache"))
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install in a project: %v\n%s", err, out)
	}
	_, stderr, code = run(t, exec.Command(filepath.Join(project, "node_modules", ".bin", "secr"), "--version"))
	if code == 0 || !strings.Contains(stderr, "Install it: npm install @secr/cli-linux-x64@"+v+"\n") {
		t.Fatalf("launcher alone, in a project: exit %d, stderr %q", code, stderr)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
