package integrations

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// npmProject installs packages from the npm registry (and local tarballs)
// into a fresh directory and returns it.
func npmProject(t *testing.T, pkgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"fixture","version":"1.0.0","private":true}`), 0o644)
	args := append([]string{"install", "--no-audit", "--no-fund", "--loglevel=error"}, pkgs...)
	cmd := exec.Command("npm", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return dir
}

func TestVercel(t *testing.T) {
	dir, v := npmTarballs(t)
	prefix := npmInstall(t, filepath.Join(dir, "secr-cli-"+v+".tgz"), filepath.Join(dir, "secr-cli-linux-x64-"+v+".tgz"),
		filepath.Join(dir, "secr-vercel-"+v+".tgz"))
	secrVercel := filepath.Join(prefix, "bin", "secr-vercel")
	next := npmProject(t, "@next/env@16")

	s := startServer(t)
	s.secr("", "secrets", "set", "--org", "acme", "--project", "web", "--env", "production", "NEXT_PUBLIC_SITE=https://shop.example.com")
	tok := s.token("production")
	app := t.TempDir()

	cmd := exec.Command(secrVercel)
	cmd.Dir = app
	cmd.Env = s.env("SECR_TOKEN="+tok, "DB_URL=set-by-vercel")
	_, stderr, code := run(t, cmd)
	if code != 0 {
		t.Fatalf("secr-vercel: %d\n%s", code, stderr)
	}
	for _, want := range []string{"DB_URL is already set in this environment", "NEXT_PUBLIC_SITE is inlined into the client bundle", "wrote .env.local (mode 0600)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, val := range tricky {
		if strings.Contains(stderr, val) {
			t.Errorf("stderr holds a value")
		}
	}
	fi, err := os.Stat(filepath.Join(app, ".env.local"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf(".env.local: %v %v", fi, err)
	}

	// Next.js's own loader reads back exactly the values secr holds.
	load := exec.Command("node", "-e", `
		const { loadEnvConfig } = require("@next/env");
		const r = loadEnvConfig(process.argv[1], false, { info() {}, error(e) { console.error(e); process.exit(2); } });
		process.stdout.write(JSON.stringify(r.parsedEnv));`, app)
	load.Dir = next
	load.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, stderr, code := run(t, load)
	if code != 0 {
		t.Fatalf("loadEnvConfig: %d %s", code, stderr)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range tricky {
		if got[k] != want {
			t.Errorf("Next.js reads %s = %q, want %q", k, got[k], want)
		}
	}

	// A value Next.js cannot read back exactly is refused, and nothing is written.
	// Every such value is named, with the way out.
	s.secr("has `backtick`", "secrets", "set", "--org", "acme", "--project", "web", "--env", "staging", "BAD")
	s.secr("carriage\rreturn", "secrets", "set", "--org", "acme", "--project", "web", "--env", "staging", "ALSO_BAD")
	cmd = exec.Command(secrVercel, "bad.env")
	cmd.Dir = app
	cmd.Env = s.env("SECR_TOKEN=" + s.token("staging"))
	if _, stderr, code := run(t, cmd); code == 0 || !strings.Contains(stderr, "cannot write ALSO_BAD, BAD for Next.js") ||
		!strings.Contains(stderr, "secr run -- next build") {
		t.Fatalf("backtick and CR values: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(app, "bad.env")); err == nil {
		t.Error("bad.env was written")
	}
	// No token: a clear error.
	cmd = exec.Command(secrVercel)
	cmd.Dir = app
	cmd.Env = s.env()
	if _, stderr, code := run(t, cmd); code == 0 || !strings.Contains(stderr, "SECR_TOKEN is not set") {
		t.Fatalf("no token: %d %s", code, stderr)
	}
}
