package integrations

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// secrBin is the secr binary built once for these tests.
var secrBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "secr-integrations-")
	if err != nil {
		panic(err)
	}
	secrBin = filepath.Join(dir, "secr")
	// secr-server beside secr: `secr server` runs it.
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../cmd/secr", "../cmd/secr-server")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build secr:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if snapDir != "" {
		os.RemoveAll(filepath.Dir(snapDir))
	}
	os.Exit(code)
}

// tricky are values that break naive encoders.
var tricky = map[string]string{
	"PEM_KEY":    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----",
	"QUOTES":     `it's "double" and 'single'`,
	"DOLLARS":    "$HOME ${PATH} $(id) \\$ESCAPED $",
	"HASHES":     "value # not a comment #x",
	"EQUALS":     "a=b==c",
	"BACKSLASH":  `C:\path\to\ and trailing\`,
	"UNICODE":    "héllo 🌍 日本",
	"SPACES":     "  padded  ",
	"DB_URL":     "postgres://u:p@db:5432/app?sslmode=require",
	"INJECTION":  "x\nEOF\nINJECTED=1\nghadelimiter_1\nsecr_00%0AEVIL=1",
	"PLAIN_LONG": "sk_live_0123456789abcdef",
}

// server is a running `secr server` with a user, an org "acme" and a
// project "web" whose production environment holds tricky.
type server struct {
	t    *testing.T
	url  string
	home string
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(secrBin, "server", "--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "secr.db"))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	urlRE := regexp.MustCompile(`msg="secr server listening" url=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	s := &server{t: t, home: filepath.Join(dir, "home")}
	select {
	case s.url = <-found:
	case <-time.After(15 * time.Second):
		t.Fatal("secr server did not start")
	}
	s.secr("correct horse battery staple\n", "signup", "--email", "ada@example.com", "--password-stdin")
	s.secr("", "orgs", "create", "acme")
	s.secr("", "projects", "create", "web", "--org", "acme")
	for name, v := range tricky {
		s.secr(v, "secrets", "set", "--org", "acme", "--project", "web", "--env", "production", name)
	}
	s.secr("", "secrets", "set", "--org", "acme", "--project", "web", "--env", "production", "--not-secret", "PUBLIC_URL=https://example.com")
	return s
}

// env is the environment for a secr process talking to this server.
func (s *server) env(extra ...string) []string {
	env := []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH"), "SECR_API_URL=" + s.url}
	return append(env, extra...)
}

// secr runs the CLI as the logged-in user and returns stdout.
func (s *server) secr(stdin string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(secrBin, args...)
	cmd.Env, cmd.Stdin = s.env(), strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("secr %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// token creates a read-only service token for an environment of acme/web.
func (s *server) token(env string) string {
	return strings.TrimSpace(s.secr("", "tokens", "create", "--org", "acme", "--project", "web", "--env", env))
}

var (
	packOnce sync.Once
	packErr  error
	packDir  string
)

// npmTarballs packs the npm packages for this machine's platform from the
// test run's snapshot (see snapshot in release_test.go) with the
// repository's build script, as `make npm` does for every platform, and
// returns the directory of the tarballs and their version. build.sh runs
// with a `go` on PATH that fails: it must not compile anything.
func npmTarballs(t *testing.T) (dir, version string) {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the npm tests install the linux-x64 package")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed")
	}
	dist, v := snapshot(t)
	packOnce.Do(func() {
		noGo := filepath.Join(filepath.Dir(dist), "no-go")
		os.MkdirAll(noGo, 0o755)
		os.WriteFile(filepath.Join(noGo, "go"), []byte("#!/bin/sh\necho 'build.sh ran go' >&2\nexit 97\n"), 0o755)
		cmd := exec.Command("bash", "npm/build.sh", dist)
		cmd.Env = append(os.Environ(), "PATH="+noGo+":"+os.Getenv("PATH"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if packErr = cmd.Run(); packErr != nil || strings.Contains(out.String(), "build.sh ran go") {
			packErr = fmt.Errorf("build.sh: %v\n%s", packErr, out.String())
		}
		packDir = filepath.Join(dist, "npm")
	})
	if packErr != nil {
		t.Fatal(packErr)
	}
	return packDir, v
}

func version(t *testing.T) string {
	v, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}

// npmInstall installs tarballs globally into a fresh prefix, offline (no
// registry involved), and returns the prefix.
func npmInstall(t *testing.T, tarballs ...string) string {
	t.Helper()
	prefix := t.TempDir()
	args := append([]string{"install", "--global", "--offline", "--no-audit", "--no-fund", "--prefix", prefix}, tarballs...)
	cmd := exec.Command("npm", args...)
	cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(t.TempDir(), "npm-cache"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}
	return prefix
}

func run(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", cmd.Path, err)
	}
	return o.String(), e.String(), code
}
