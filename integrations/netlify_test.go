package integrations

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNetlify runs Netlify's real build (@netlify/build, offline) on a
// fixture site that uses the plugin, against a local secr server.
func TestNetlify(t *testing.T) {
	dir, v := npmTarballs(t)
	site := npmProject(t, "@netlify/build@35",
		filepath.Join(dir, "secr-cli-"+v+".tgz"), filepath.Join(dir, "secr-cli-linux-x64-"+v+".tgz"),
		filepath.Join(dir, "secr-netlify-plugin-"+v+".tgz"))
	os.MkdirAll(filepath.Join(site, "public"), 0o755)
	os.WriteFile(filepath.Join(site, "netlify.toml"), []byte(`[build]
command = "node check.js"
publish = "public"

[[plugins]]
package = "@secr/netlify-plugin"

  [plugins.inputs]
  production = "production"
`), 0o644)
	// The build command compares what it sees with the expected values and
	// prints only the verdict.
	expected, _ := json.Marshal(tricky)
	os.WriteFile(filepath.Join(site, "expected.json"), expected, 0o600)
	os.WriteFile(filepath.Join(site, "check.js"), []byte(`
const want = require("./expected.json");
const bad = Object.keys(want).filter((k) => process.env[k] !== want[k]);
require("fs").writeFileSync("public/result.txt", bad.length ? "mismatch: " + bad.join(",") : "ok");
console.log(bad.length ? "secrets mismatch: " + bad.join(",") : "secrets ok");
`), 0o644)

	s := startServer(t)
	tok := s.token("production")
	build := func(token string) (string, int) {
		cmd := exec.Command(filepath.Join(site, "node_modules", ".bin", "netlify-build"), "--offline")
		cmd.Dir = site
		cmd.Env = s.env("SECR_TOKEN="+token, "CONTEXT=production", "NETLIFY_BUILD_DEBUG=", "CI=true")
		stdout, stderr, code := run(t, cmd)
		return stdout + stderr, code
	}
	log, code := build(tok)
	if code != 0 {
		t.Fatalf("netlify-build failed (%d):\n%s", code, log)
	}
	result, _ := os.ReadFile(filepath.Join(site, "public", "result.txt"))
	if string(result) != "ok" || !strings.Contains(log, "secr: loaded 12 secrets from environment \"production\"") {
		t.Fatalf("build saw %q; log:\n%s", result, log)
	}
	for k, val := range tricky {
		for _, line := range strings.Split(val, "\n") {
			if len(line) >= 6 && strings.Contains(log, line) {
				t.Errorf("build log holds (part of) %s: %q", k, line)
			}
		}
	}

	// A bad token fails the build with the plugin's message.
	bogus := "secr_st_" + strings.Repeat("A", 86) // well-formed, unknown to the server
	log, code = build(bogus)
	if code == 0 || !strings.Contains(log, `secr: could not load environment "production" for Netlify context "production"`) ||
		!strings.Contains(log, "revoked or never existed") {
		t.Fatalf("bad token: exit %d, log:\n%s", code, log)
	}
	// No token at all.
	log, code = build("")
	if code == 0 || !strings.Contains(log, "SECR_TOKEN is not set") {
		t.Fatalf("no token: exit %d, log:\n%s", code, log)
	}
}
