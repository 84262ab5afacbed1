package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Dirs are the per-user directories secr uses, resolved once from the
// environment so nothing below reads os.Getenv.
type Dirs struct {
	Config string // credentials
	State  string // revision high-water marks
	Data   string // the embedded server's database
	Cache  string // sealed snapshots for offline runs
}

// ResolveDirs applies the XDG base-directory rules with getenv.
func ResolveDirs(getenv func(string) string) (Dirs, error) {
	home := getenv("HOME")
	pick := func(xdg, fallback string) (string, error) {
		if v := getenv(xdg); v != "" && filepath.IsAbs(v) {
			return filepath.Join(v, "secr"), nil
		}
		if home == "" {
			return "", fmt.Errorf("neither $%s nor $HOME is set", xdg)
		}
		return filepath.Join(home, fallback, "secr"), nil
	}
	var d Dirs
	var err error
	if runtime.GOOS == "windows" {
		base := getenv("AppData")
		if base == "" {
			return d, errors.New("%AppData% is not set")
		}
		return Dirs{Config: filepath.Join(base, "secr"), State: filepath.Join(base, "secr", "state"),
			Data: filepath.Join(base, "secr", "data"), Cache: filepath.Join(base, "secr", "cache")}, nil
	}
	if d.Config, err = pick("XDG_CONFIG_HOME", ".config"); err != nil {
		return d, err
	}
	if d.State, err = pick("XDG_STATE_HOME", filepath.Join(".local", "state")); err != nil {
		return d, err
	}
	if d.Data, err = pick("XDG_DATA_HOME", filepath.Join(".local", "share")); err != nil {
		return d, err
	}
	if d.Cache, err = pick("XDG_CACHE_HOME", ".cache"); err != nil {
		return d, err
	}
	return d, nil
}

// Login is one server's stored login. Identity is the account's X25519
// private key in its canonical string form. Session and Identity are the
// secret parts: Credentials keeps them in the OS keyring or in the file, as
// Store says.
type Login struct {
	Email      string    `json:"email"`
	UserID     string    `json:"user_id"`
	Session    string    `json:"session,omitempty"`
	ExpiresAt  time.Time `json:"expires_at"`
	Identity   string    `json:"identity,omitempty"`
	DefaultOrg string    `json:"default_org,omitempty"`
	// Store is where Session and Identity are: StoreKeyring or StoreFile
	// ("" in a file written before secr used a keyring: the file).
	Store string `json:"store,omitempty"`
}

// Where a login's secret parts are kept.
const (
	StoreKeyring = "keyring"
	StoreFile    = "file"
)

type credentialsFile struct {
	Servers map[string]*Login `json:"servers"`
}

// keyringEntry is the secret part of a login, as one keyring entry.
type keyringEntry struct {
	UserID   string `json:"user_id"`
	Session  string `json:"session"`
	Identity string `json:"identity"`
}

// Credentials stores logins: per server, the non-secret parts (email, user
// ID, expiry, default org, and where the rest is) in a 0600 file under
// Dirs.Config, and the session token and account private key in the OS
// keyring, or in that file where there is no keyring.
//
// The rule, applied when a login is saved (Put), by Mode:
//   - "" or "auto": the keyring; if no keyring service can be reached at
//     all (ErrNoKeyring), the file, and Saved.Fallback says why. A keyring
//     that exists but is locked or refuses is an error, never the file.
//   - "keyring": the keyring, or an error.
//   - "file": the file; the keyring is not used.
//
// Reading and removing follow the record's Store, whatever Mode is.
type Credentials struct {
	Path    string
	Keyring Keyring
	// Mode is SECR_CREDENTIALS: "", "auto", "keyring" or "file".
	Mode string
}

// CredentialsAt returns the credentials store in dirs, with the OS keyring
// reached through getenv's environment and getenv's SECR_CREDENTIALS.
func CredentialsAt(d Dirs, getenv func(string) string) *Credentials {
	return &Credentials{
		Path:    filepath.Join(d.Config, "credentials.json"),
		Keyring: OSKeyring(getenv),
		Mode:    getenv("SECR_CREDENTIALS"),
	}
}

// Saved says where Put put a login's session token and account key.
type Saved struct {
	Store string // StoreKeyring or StoreFile
	Where string // the keyring's name, or the file's path
	// Fallback is why the file was used although Mode did not ask for it
	// (no keyring is reachable); "" otherwise.
	Fallback string
}

// ErrBadMode is an unknown SECR_CREDENTIALS.
var ErrBadMode = errors.New("SECR_CREDENTIALS must be keyring, file or auto")

func (c *Credentials) read() (*credentialsFile, error) {
	f := &credentialsFile{Servers: map[string]*Login{}}
	data, err := os.ReadFile(c.Path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("credentials file %s is corrupt: %v (run 'secr login' again)", c.Path, err)
	}
	if f.Servers == nil {
		f.Servers = map[string]*Login{}
	}
	return f, nil
}

func (c *Credentials) write(f *credentialsFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return WritePrivate(c.Path, data)
}

// Get returns the login for server with its secret parts, or nil. A login
// kept in the keyring whose entry cannot be read is an error wrapping the
// keyring's (ErrNoKeyring, ErrKeyringLocked, ErrKeyringNotFound, ...).
func (c *Credentials) Get(server string) (*Login, error) {
	f, err := c.read()
	if err != nil {
		return nil, err
	}
	l := f.Servers[server]
	if l == nil || l.Store != StoreKeyring {
		return l, nil
	}
	v, err := c.Keyring.Get(server)
	if err != nil {
		return nil, fmt.Errorf("read the login for %s from %s: %w", server, c.Keyring.Name(), err)
	}
	var e keyringEntry
	if err := json.Unmarshal([]byte(v), &e); err != nil || e.UserID != l.UserID || e.Session == "" || e.Identity == "" {
		return nil, fmt.Errorf("the login for %s in %s is corrupt or belongs to another account (run 'secr login' again)", server, c.Keyring.Name())
	}
	l.Session, l.Identity = e.Session, e.Identity
	return l, nil
}

// Record returns server's record in the file, without reading the
// keyring (Session and Identity are empty when they are in the keyring),
// or nil.
func (c *Credentials) Record(server string) (*Login, error) {
	f, err := c.read()
	if err != nil {
		return nil, err
	}
	return f.Servers[server], nil
}

// Put stores the login for server, its secret parts where Mode says (see
// Credentials), replacing the previous login for server wherever that was.
func (c *Credentials) Put(server string, l *Login) (Saved, error) {
	var saved Saved
	switch c.Mode {
	case "", "auto", StoreKeyring, StoreFile:
	default:
		return saved, fmt.Errorf("%w, not %q", ErrBadMode, c.Mode)
	}
	f, err := c.read()
	if err != nil {
		return saved, err
	}
	prev := f.Servers[server]
	rec := *l
	if c.Mode != StoreFile {
		entry, err := json.Marshal(keyringEntry{UserID: l.UserID, Session: l.Session, Identity: l.Identity})
		if err != nil {
			return saved, err
		}
		err = c.Keyring.Set(server, fmt.Sprintf("secr login for %s on %s", l.Email, server), string(entry))
		switch {
		case err == nil:
			rec.Session, rec.Identity, rec.Store = "", "", StoreKeyring
			saved = Saved{Store: StoreKeyring, Where: c.Keyring.Name()}
		case errors.Is(err, ErrNoKeyring) && c.Mode != StoreKeyring:
			saved.Fallback = strings.TrimPrefix(err.Error(), ErrNoKeyring.Error()+": ")
		default:
			return saved, fmt.Errorf("save the login for %s in %s: %w", server, c.Keyring.Name(), err)
		}
	}
	if rec.Store != StoreKeyring {
		rec.Store = StoreFile
		saved.Store, saved.Where = StoreFile, c.Path
		if prev != nil && prev.Store == StoreKeyring {
			// The previous login's secrets must not outlive it. Best
			// effort: the file was chosen because the keyring may not be
			// usable.
			_ = c.Keyring.Delete(server)
		}
	}
	f.Servers[server] = &rec
	return saved, c.write(f)
}

// SetDefaultOrg records the default org of server's login; the keyring is
// not touched.
func (c *Credentials) SetDefaultOrg(server, org string) error {
	f, err := c.read()
	if err != nil {
		return err
	}
	l := f.Servers[server]
	if l == nil {
		return nil
	}
	l.DefaultOrg = org
	return c.write(f)
}

// Delete forgets the login for server: its keyring entry, then its record
// in the file. When the keyring entry cannot be removed the record is kept
// (so that 'secr logout' can be retried) and the error says why.
func (c *Credentials) Delete(server string) error {
	f, err := c.read()
	if err != nil {
		return err
	}
	l := f.Servers[server]
	if l == nil {
		return nil
	}
	if l.Store == StoreKeyring {
		if err := c.Keyring.Delete(server); err != nil {
			return fmt.Errorf("remove the login for %s from %s: %w", server, c.Keyring.Name(), err)
		}
	}
	delete(f.Servers, server)
	return c.write(f)
}

// WritePrivate atomically replaces path with data, mode 0600, in a 0700
// directory.
func WritePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Seen records, per server and environment, the newest revision this
// client has opened (its number and its header's hash), so that a server
// replaying an older revision, or a different one under the same number,
// is caught (TRUST.md §4).
type Seen struct {
	Path string
	mu   sync.Mutex
}

// SeenAt returns the high-water-mark store in dirs.
func SeenAt(d Dirs) *Seen { return &Seen{Path: filepath.Join(d.State, "seen.json")} }

// Mark is the newest revision of one environment this client has opened:
// its number and the hash of its signed header (trust.Header.Hash).
type Mark struct {
	Rev  int64    `json:"rev"`
	Hash [32]byte `json:"hash"`
}

func (s *Seen) read() map[string]Mark {
	m := map[string]Mark{}
	data, err := os.ReadFile(s.Path)
	if err == nil {
		// A corrupt file only weakens rollback detection; it is rewritten.
		if json.Unmarshal(data, &m) != nil {
			m = map[string]Mark{}
		}
	}
	return m
}

func seenKey(server, envID string) string { return server + "|" + envID }

// Marks is a snapshot of the high-water marks.
type Marks map[string]Mark

// Get returns the newest revision seen (the zero Mark for none).
func (m Marks) Get(server, envID string) Mark { return m[seenKey(server, envID)] }

// Load reads the current marks. Read them before asking the server: a
// mark that another process records while our request is in flight is no
// evidence that the server replayed anything.
func (s *Seen) Load() Marks {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read()
}

// Record raises the high-water mark to mark if its revision is higher. The
// read, change and write happen under a lock on seen.json.lock, so
// concurrent secr processes (parallel CI jobs, make -j) keep every mark: a
// lost or lowered mark would silently weaken rollback detection.
func (s *Seen) Record(server, envID string, mark Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return err
	}
	unlock, err := lockFile(s.Path + ".lock")
	if err != nil {
		return fmt.Errorf("lock %s: %w", s.Path, err)
	}
	defer unlock()
	m := s.read()
	k := seenKey(server, envID)
	if m[k].Rev >= mark.Rev {
		return nil
	}
	m[k] = mark
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return WritePrivate(s.Path, data)
}
