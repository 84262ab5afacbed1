package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeKeyring is an in-memory keyring whose failure can be chosen.
type fakeKeyring struct {
	fail    error // returned by every call when set
	entries map[string]string
	calls   int
}

func newFake(fail error) *fakeKeyring { return &fakeKeyring{fail: fail, entries: map[string]string{}} }

func (k *fakeKeyring) Name() string { return "the test keyring" }
func (k *fakeKeyring) Get(a string) (string, error) {
	k.calls++
	if k.fail != nil {
		return "", k.fail
	}
	v, ok := k.entries[a]
	if !ok {
		return "", ErrKeyringNotFound
	}
	return v, nil
}
func (k *fakeKeyring) Set(a, _, v string) error {
	k.calls++
	if k.fail != nil {
		return k.fail
	}
	k.entries[a] = v
	return nil
}
func (k *fakeKeyring) Delete(a string) error {
	k.calls++
	if k.fail != nil {
		return k.fail
	}
	delete(k.entries, a)
	return nil
}

const (
	server     = "https://secr.example"
	secretSess = "sess_SECRET_session_token"
	secretID   = "AGE-SECRET-KEY-TESTIDENTITY"
)

func testLogin() *Login {
	return &Login{Email: "ada@example.com", UserID: "usr_1", Session: secretSess, Identity: secretID,
		ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), DefaultOrg: "acme"}
}

func creds(t *testing.T, k Keyring, mode string) *Credentials {
	t.Helper()
	return &Credentials{Path: filepath.Join(t.TempDir(), "secr", "credentials.json"), Keyring: k, Mode: mode}
}

func fileText(t *testing.T, c *Credentials) string {
	t.Helper()
	data, err := os.ReadFile(c.Path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, secretSess) || strings.Contains(s, secretID) {
		t.Fatalf("%s holds a secret: %s", what, s)
	}
}

// A reachable keyring gets the session token and account key; the file
// keeps only the rest, and says where the secrets are.
func TestCredentialsKeyring(t *testing.T) {
	for _, mode := range []string{"", "auto", "keyring"} {
		k := newFake(nil)
		c := creds(t, k, mode)
		saved, err := c.Put(server, testLogin())
		if err != nil || saved.Store != StoreKeyring || saved.Fallback != "" || saved.Where != k.Name() {
			t.Fatalf("mode %q: Put: %+v, %v", mode, saved, err)
		}
		text := fileText(t, c)
		noSecrets(t, "credentials.json", text)
		if !strings.Contains(text, `"store": "keyring"`) || !strings.Contains(text, "ada@example.com") {
			t.Fatalf("credentials.json: %s", text)
		}
		got, err := c.Get(server)
		if err != nil || got.Session != secretSess || got.Identity != secretID || got.DefaultOrg != "acme" {
			t.Fatalf("Get: %+v, %v", got, err)
		}
		if rec, _ := c.Record(server); rec.Session != "" || rec.Identity != "" {
			t.Fatalf("Record read the keyring: %+v", rec)
		}
		if err := c.Delete(server); err != nil {
			t.Fatal(err)
		}
		if len(k.entries) != 0 || strings.Contains(fileText(t, c), server) {
			t.Fatalf("Delete left %v and %s", k.entries, fileText(t, c))
		}
	}
}

// No keyring service at all: the file, and Saved says why (the CLI
// announces it). Only in auto mode.
func TestCredentialsNoKeyringFallsBackToFile(t *testing.T) {
	for _, mode := range []string{"", "auto"} {
		c := creds(t, noKeyring{why: "no D-Bus session bus"}, mode)
		saved, err := c.Put(server, testLogin())
		if err != nil || saved.Store != StoreFile || saved.Where != c.Path || saved.Fallback != "no D-Bus session bus" {
			t.Fatalf("mode %q: Put: %+v, %v", mode, saved, err)
		}
		fi, err := os.Stat(c.Path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("credentials.json: %v %v", fi, err)
		}
		if !strings.Contains(fileText(t, c), secretID) || !strings.Contains(fileText(t, c), `"store": "file"`) {
			t.Fatalf("credentials.json: %s", fileText(t, c))
		}
		got, err := c.Get(server)
		if err != nil || got.Session != secretSess || got.Identity != secretID {
			t.Fatalf("Get: %+v, %v", got, err)
		}
		if err := c.Delete(server); err != nil || strings.Contains(fileText(t, c), server) {
			t.Fatalf("Delete: %v: %s", err, fileText(t, c))
		}
	}
	// SECR_CREDENTIALS=keyring makes a missing keyring an error.
	c := creds(t, noKeyring{}, "keyring")
	if _, err := c.Put(server, testLogin()); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("keyring mode without a keyring: %v", err)
	}
	if fileText(t, c) != "" {
		t.Fatalf("keyring mode wrote the file: %s", fileText(t, c))
	}
}

// A keyring that exists but is locked or refuses is an error: never a
// silent downgrade to the file.
func TestCredentialsLockedKeyringIsAnError(t *testing.T) {
	for _, fail := range []error{ErrKeyringLocked, errors.New("org.freedesktop.DBus.Error.AccessDenied")} {
		for _, mode := range []string{"", "auto", "keyring"} {
			c := creds(t, newFake(fail), mode)
			saved, err := c.Put(server, testLogin())
			if !errors.Is(err, fail) || saved.Store != "" {
				t.Fatalf("mode %q, %v: Put: %+v, %v", mode, fail, saved, err)
			}
			noSecrets(t, "the error", err.Error())
			if fileText(t, c) != "" {
				t.Fatalf("mode %q, %v: the file was written: %s", mode, fail, fileText(t, c))
			}
		}
	}
}

// SECR_CREDENTIALS=file never touches the keyring, except to remove the
// entry of the login it replaces.
func TestCredentialsFileMode(t *testing.T) {
	k := newFake(nil)
	c := creds(t, k, "file")
	saved, err := c.Put(server, testLogin())
	if err != nil || saved.Store != StoreFile || saved.Fallback != "" {
		t.Fatalf("Put: %+v, %v", saved, err)
	}
	if _, err := c.Get(server); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDefaultOrg(server, "other"); err != nil {
		t.Fatal(err)
	}
	if k.calls != 0 {
		t.Fatalf("file mode used the keyring %d times", k.calls)
	}

	c.Mode = ""
	if saved, err := c.Put(server, testLogin()); err != nil || saved.Store != StoreKeyring {
		t.Fatalf("Put: %+v, %v", saved, err)
	}
	c.Mode = "file"
	if _, err := c.Put(server, testLogin()); err != nil {
		t.Fatal(err)
	}
	if len(k.entries) != 0 {
		t.Fatalf("the replaced login's keyring entry is still there: %v", k.entries)
	}

	c.Mode = "plaintext"
	if _, err := c.Put(server, testLogin()); !errors.Is(err, ErrBadMode) {
		t.Fatalf("unknown SECR_CREDENTIALS: %v", err)
	}
}

// A login kept in the keyring is read only from there: a locked or
// missing keyring, or a missing, foreign or corrupt entry, is an error.
func TestCredentialsKeyringReadErrors(t *testing.T) {
	k := newFake(nil)
	c := creds(t, k, "")
	if _, err := c.Put(server, testLogin()); err != nil {
		t.Fatal(err)
	}
	good := k.entries[server]
	for _, tc := range []struct {
		name  string
		fail  error
		entry string
		want  error
	}{
		{"locked", ErrKeyringLocked, good, ErrKeyringLocked},
		{"unreachable", ErrNoKeyring, good, ErrNoKeyring},
		{"missing", nil, "", ErrKeyringNotFound},
		{"another user's", nil, `{"user_id":"usr_2","session":"s","identity":"i"}`, nil},
		{"corrupt", nil, "{", nil},
	} {
		k.fail = tc.fail
		delete(k.entries, server)
		if tc.entry != "" {
			k.entries[server] = tc.entry
		}
		l, err := c.Get(server)
		if err == nil || l != nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Fatalf("%s: Get: %+v, %v", tc.name, l, err)
		}
		noSecrets(t, tc.name+" error", err.Error())
	}
	// Logout with a locked keyring keeps the record, so it can be retried.
	k.fail = ErrKeyringLocked
	if err := c.Delete(server); !errors.Is(err, ErrKeyringLocked) || !strings.Contains(fileText(t, c), server) {
		t.Fatalf("Delete with a locked keyring: %v: %s", err, fileText(t, c))
	}
	k.fail = nil
	if err := c.SetDefaultOrg(server, "beta"); err != nil {
		t.Fatal(err)
	}
	if rec, _ := c.Record(server); rec.DefaultOrg != "beta" || rec.Store != StoreKeyring {
		t.Fatalf("SetDefaultOrg: %+v", rec)
	}
}

// A credentials.json written before secr used a keyring (no "store") is
// read from the file, without asking the keyring.
func TestCredentialsLegacyFile(t *testing.T) {
	k := newFake(errors.New("must not be called"))
	c := creds(t, k, "")
	legacy := `{"servers":{"` + server + `":{"email":"ada@example.com","user_id":"usr_1","session":"` + secretSess +
		`","expires_at":"2030-01-01T00:00:00Z","identity":"` + secretID + `"}}}`
	if err := WritePrivate(c.Path, []byte(legacy)); err != nil {
		t.Fatal(err)
	}
	l, err := c.Get(server)
	if err != nil || l.Session != secretSess || l.Identity != secretID || k.calls != 0 {
		t.Fatalf("Get: %+v, %v (keyring calls: %d)", l, err, k.calls)
	}
	if err := c.Delete(server); err != nil || k.calls != 0 {
		t.Fatalf("Delete: %v (keyring calls: %d)", err, k.calls)
	}
}
