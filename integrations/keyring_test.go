//go:build linux || freebsd || openbsd || netbsd || dragonfly

package integrations

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"

	"github.com/secr-dev/secr/internal/config"
)

// startSecretService runs a D-Bus session bus with GNOME Keyring's Secret
// Service in it, its login keyring created and unlocked under home, and
// returns the bus's address. It skips (saying why) where Debian's dbus
// and gnome-keyring are not installed; .ci/run installs them.
func startSecretService(t *testing.T, home string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service test runs on Linux")
	}
	for _, tool := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian's dbus and gnome-keyring; .ci/run installs them): the real Secret Service test skips", tool)
		}
	}
	runtimeDir := t.TempDir()
	// The session lasts until its stdin closes; gnome-keyring-daemon --unlock
	// returns once the daemon is on the bus, so the address it prints is
	// ready to use.
	cmd := exec.Command("dbus-run-session", "--", "sh", "-c",
		`printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1; echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null`)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "XDG_RUNTIME_DIR=" + runtimeDir}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("dbus-run-session did not end after its stdin closed")
		}
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(l)
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	select {
	case addr := <-line:
		if addr == "" {
			t.Fatalf("dbus-run-session with gnome-keyring-daemon printed no bus address\n%s", stderr.String())
		}
		return addr
	case <-time.After(60 * time.Second):
		t.Fatalf("gnome-keyring-daemon did not start in 60s\n%s", stderr.String())
	}
	return ""
}

// TestKeyringSecretService: with a real Secret Service (GNOME Keyring on a
// private session bus), `secr login` puts the session token and account key
// in the keyring and nothing secret in credentials.json; `secr run` works
// from the keyring; `secr logout` removes the keyring entry and the record.
// A locked keyring is an error with a hint, never a silent switch to the
// file; SECR_CREDENTIALS=file is the explicit way to the file; a login kept
// in the keyring is an error where the keyring cannot be reached.
func TestKeyringSecretService(t *testing.T) {
	s := startServer(t)
	home := t.TempDir()
	bus := startSecretService(t, home)
	kr := &config.SecretService{Address: bus}
	credsPath := filepath.Join(home, ".config", "secr", "credentials.json")

	secr := func(stdin string, extraEnv []string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(secrBin, args...)
		cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "SECR_API_URL=" + s.url, "DBUS_SESSION_BUS_ADDRESS=" + bus}, extraEnv...)
		cmd.Stdin = strings.NewReader(stdin)
		return run(t, cmd)
	}
	login := func(extraEnv ...string) (string, int) {
		_, stderr, code := secr("correct horse battery staple\n", extraEnv, "login", "--email", "ada@example.com", "--password-stdin")
		return stderr, code
	}
	record := func() map[string]any {
		t.Helper()
		data, err := os.ReadFile(credsPath)
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Servers map[string]map[string]any }
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("credentials.json: %v\n%s", err, data)
		}
		return f.Servers[s.url]
	}
	runArgs := []string{"run", "--org", "acme", "--project", "web", "--env", "production", "--", "sh", "-c", `printf %s "$DB_URL"`}

	stderr, code := login()
	if code != 0 || !strings.Contains(stderr, "saved in the Secret Service keyring") {
		t.Fatalf("login: exit %d\n%s", code, stderr)
	}
	rec := record()
	if rec["store"] != "keyring" || rec["email"] != "ada@example.com" {
		t.Fatalf("credentials.json record: %v", rec)
	}
	if _, ok := rec["session"]; ok {
		t.Fatalf("credentials.json holds the session token: %v", rec)
	}
	if _, ok := rec["identity"]; ok {
		t.Fatalf("credentials.json holds the account private key: %v", rec)
	}
	entry, err := kr.Get(s.url)
	if err != nil {
		t.Fatalf("the keyring entry: %v", err)
	}
	var secrets struct {
		UserID   string `json:"user_id"`
		Session  string `json:"session"`
		Identity string `json:"identity"`
	}
	if err := json.Unmarshal([]byte(entry), &secrets); err != nil || secrets.Session == "" || secrets.Identity == "" || secrets.UserID != rec["user_id"] {
		t.Fatalf("the keyring entry does not hold the login's secrets (%v)", err)
	}
	if data, _ := os.ReadFile(credsPath); strings.Contains(string(data), secrets.Session) || strings.Contains(string(data), secrets.Identity) {
		t.Fatal("credentials.json holds a secret")
	}

	out, stderr, code := secr("", nil, runArgs...)
	if code != 0 || out != tricky["DB_URL"] {
		t.Fatalf("run from the keyring: exit %d, %q\n%s", code, out, stderr)
	}

	// Where the keyring cannot be reached, a login kept in it is an error
	// that says so (not "not logged in", not the file).
	cmd := exec.Command(secrBin, runArgs...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "SECR_API_URL=" + s.url}
	_, stderr, code = run(t, cmd)
	if code == 0 || !strings.Contains(stderr, "no OS keyring is available") || !strings.Contains(stderr, "SECR_CREDENTIALS=file") {
		t.Fatalf("run without the session bus: exit %d\n%s", code, stderr)
	}

	if _, stderr, code := secr("", nil, "logout"); code != 0 {
		t.Fatalf("logout: exit %d\n%s", code, stderr)
	}
	if _, err := kr.Get(s.url); !errors.Is(err, config.ErrKeyringNotFound) {
		t.Fatalf("after logout, the keyring entry: %v", err)
	}
	if rec := record(); rec != nil {
		t.Fatalf("after logout, credentials.json still has %v", rec)
	}

	// A locked keyring: run and login fail with a hint; nothing falls back
	// to the file by itself.
	if stderr, code := login(); code != 0 {
		t.Fatalf("login: exit %d\n%s", code, stderr)
	}
	lockKeyring(t, bus)
	_, stderr, code = secr("", nil, runArgs...)
	if code == 0 || !strings.Contains(stderr, "locked") || !strings.Contains(stderr, "hint: unlock the keyring") {
		t.Fatalf("run with a locked keyring: exit %d\n%s", code, stderr)
	}
	if stderr, code := login(); code == 0 || !strings.Contains(stderr, "locked") || !strings.Contains(stderr, "SECR_CREDENTIALS=file") {
		t.Fatalf("login with a locked keyring: exit %d\n%s", code, stderr)
	}
	if rec := record(); rec["store"] != "keyring" {
		t.Fatalf("a failed login changed the record: %v", rec)
	}
	// The explicit opt-in to the file.
	stderr, code = login("SECR_CREDENTIALS=file")
	if code != 0 || !strings.Contains(stderr, credsPath+" (mode 0600; SECR_CREDENTIALS=file)") {
		t.Fatalf("login with SECR_CREDENTIALS=file: exit %d\n%s", code, stderr)
	}
	if rec := record(); rec["store"] != "file" || rec["identity"] == nil || rec["session"] == nil {
		t.Fatalf("SECR_CREDENTIALS=file record: %v", rec)
	}
	if fi, err := os.Stat(credsPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials.json: %v %v", fi, err)
	}
	if out, stderr, code := secr("", nil, runArgs...); code != 0 || out != tricky["DB_URL"] {
		t.Fatalf("run from the file with a locked keyring: exit %d, %q\n%s", code, out, stderr)
	}
	if _, stderr, code := secr("", nil, "logout"); code != 0 || record() != nil {
		t.Fatalf("logout of a file login: exit %d\n%s", code, stderr)
	}
}

// lockKeyring locks the Secret Service's default collection.
func lockKeyring(t *testing.T, bus string) {
	t.Helper()
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	svc := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets")
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	if err := svc.Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{"/org/freedesktop/secrets/aliases/default"}).Store(&locked, &prompt); err != nil {
		t.Fatalf("lock the keyring: %v", err)
	}
	var isLocked bool
	coll := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets/aliases/default")
	if err := coll.Call("org.freedesktop.DBus.Properties.Get", 0, "org.freedesktop.Secret.Collection", "Locked").Store(&isLocked); err != nil || !isLocked {
		t.Fatalf("the keyring did not lock (locked %v, prompt %s): %v", isLocked, prompt, err)
	}
}

// TestKeyringFallbackAnnounced: with no keyring reachable (no session bus),
// `secr login` keeps the session and account key in credentials.json and
// warns that it did, and why; SECR_CREDENTIALS=keyring makes that an
// error; an unknown SECR_CREDENTIALS is a usage error (exit 2).
func TestKeyringFallbackAnnounced(t *testing.T) {
	s := startServer(t)
	home := t.TempDir()
	credsPath := filepath.Join(home, ".config", "secr", "credentials.json")
	login := func(extraEnv ...string) (string, int) {
		cmd := exec.Command(secrBin, "login", "--email", "ada@example.com", "--password-stdin")
		cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "SECR_API_URL=" + s.url}, extraEnv...)
		cmd.Stdin = strings.NewReader("correct horse battery staple\n")
		_, stderr, code := run(t, cmd)
		return stderr, code
	}
	stderr, code := login("SECR_CREDENTIALS=keyring")
	if code == 0 || !strings.Contains(stderr, "no OS keyring is available") || fileExists(credsPath) {
		t.Fatalf("SECR_CREDENTIALS=keyring without a keyring: exit %d\n%s", code, stderr)
	}
	if stderr, code := login("SECR_CREDENTIALS=plaintext"); code != 2 || !strings.Contains(stderr, "SECR_CREDENTIALS must be keyring, file or auto") {
		t.Fatalf("unknown SECR_CREDENTIALS: exit %d\n%s", code, stderr)
	}
	stderr, code = login()
	want := "secr: warning: no OS keyring is available (no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)): session and account key saved in " + credsPath + " (mode 0600) instead."
	if code != 0 || !strings.Contains(stderr, want) {
		t.Fatalf("login without a keyring: exit %d, want %q in\n%s", code, want, stderr)
	}
	data, err := os.ReadFile(credsPath)
	if err != nil || !strings.Contains(string(data), `"store": "file"`) || !strings.Contains(string(data), `"identity"`) {
		t.Fatalf("credentials.json: %v\n%s", err, data)
	}
}
