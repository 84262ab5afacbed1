package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
// private key in its canonical string form.
type Login struct {
	Email      string    `json:"email"`
	UserID     string    `json:"user_id"`
	Session    string    `json:"session"`
	ExpiresAt  time.Time `json:"expires_at"`
	Identity   string    `json:"identity"`
	DefaultOrg string    `json:"default_org,omitempty"`
}

type credentialsFile struct {
	Servers map[string]*Login `json:"servers"`
}

// Credentials stores logins in a 0600 file under Dirs.Config. secr uses
// no OS keyring yet; the CLI says so at login.
type Credentials struct {
	Path string
}

// CredentialsAt returns the credentials store in dirs.
func CredentialsAt(d Dirs) *Credentials {
	return &Credentials{Path: filepath.Join(d.Config, "credentials.json")}
}

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

// Get returns the login for server, or nil.
func (c *Credentials) Get(server string) (*Login, error) {
	f, err := c.read()
	if err != nil {
		return nil, err
	}
	return f.Servers[server], nil
}

// Put stores (or with l == nil removes) the login for server.
func (c *Credentials) Put(server string, l *Login) error {
	f, err := c.read()
	if err != nil {
		return err
	}
	if l == nil {
		delete(f.Servers, server)
	} else {
		f.Servers[server] = l
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writePrivate(c.Path, data)
}

// writePrivate atomically replaces path with data, mode 0600, in a 0700
// directory.
func writePrivate(path string, data []byte) error {
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

// Seen records, per server and environment, the highest revision this
// client has opened, so that a server replaying an older revision is
// caught (DESIGN §3.3).
type Seen struct {
	Path string
	mu   sync.Mutex
}

// SeenAt returns the high-water-mark store in dirs.
func SeenAt(d Dirs) *Seen { return &Seen{Path: filepath.Join(d.State, "seen.json")} }

func (s *Seen) read() map[string]int64 {
	m := map[string]int64{}
	data, err := os.ReadFile(s.Path)
	if err == nil {
		// A corrupt file only weakens rollback detection; it is rewritten.
		_ = json.Unmarshal(data, &m)
	}
	return m
}

func seenKey(server, envID string) string { return server + "|" + envID }

// Marks is a snapshot of the high-water marks.
type Marks map[string]int64

// Get returns the highest revision seen, or 0.
func (m Marks) Get(server, envID string) int64 { return m[seenKey(server, envID)] }

// Load reads the current marks. Read them before asking the server: a
// mark that another process records while our request is in flight is no
// evidence that the server replayed anything.
func (s *Seen) Load() Marks {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read()
}

// Record raises the high-water mark to rev if rev is higher. Concurrent
// processes may interleave; the file keeps the maximum each one saw.
func (s *Seen) Record(server, envID string, rev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.read()
	k := seenKey(server, envID)
	if m[k] >= rev {
		return nil
	}
	m[k] = rev
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return writePrivate(s.Path, data)
}
