package session

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/server"
	"github.com/secr-dev/secr/internal/store/sqlstore"
)

// The library is tested against the real server and store on a SQLite
// file behind httptest: no fakes of our own HTTP or storage layers. One
// account is signed up per test binary (Argon2id at full cost is slow under
// -race); each test gets its own HOME with a copy of that login, and its
// own org, so tests do not share rollback marks, caches or environments.

type shared struct {
	srv    *httptest.Server
	api    *server.Server
	dbPath string
	home   string // the HOME the account signed up in
}

var (
	sharedOnce sync.Once
	sharedFx   *shared
	sharedErr  error
)

const testPassword = "correct horse battery"

func sharedServer(t *testing.T) *shared {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "secr-session-test-")
		if err != nil {
			sharedErr = err
			return
		}
		dbPath := filepath.Join(dir, "secr.db")
		st, err := sqlstore.Open(context.Background(), dbPath)
		if err != nil {
			sharedErr = err
			return
		}
		api := server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler), SignupOpen: true})
		srv := httptest.NewServer(api)
		home := filepath.Join(dir, "home")
		if _, _, err := Signup(context.Background(), optionsFor(home, nil), srv.URL, "ada@example.com", testPassword); err != nil {
			sharedErr = err
			return
		}
		sharedFx = &shared{srv: srv, api: api, dbPath: dbPath, home: home}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedFx
}

// fixture is one test's view: a fresh HOME holding ada's login, an org
// and a project of its own.
type fixture struct {
	t *testing.T
	// openEarly makes every session it creates open a held copy while the
	// conditional request is out, however small (see Session.openEarlyMin).
	openEarly bool
	sh        *shared
	home      string
	env       map[string]string
	opts      Options
	warns     []string
	target    Target
	clockMu   sync.Mutex
	now       time.Time
}

func optionsFor(home string, env map[string]string) Options {
	return Options{Getenv: func(k string) string {
		if k == "HOME" {
			return home
		}
		return env[k]
	}}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sh := sharedServer(t)
	f := &fixture{t: t, sh: sh, home: t.TempDir(), env: map[string]string{}, now: time.Now()}
	creds, err := os.ReadFile(filepath.Join(sh.home, ".config", "secr", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.home, ".config", "secr"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.home, ".config", "secr", "credentials.json"), creds, 0o600); err != nil {
		t.Fatal(err)
	}
	f.opts = optionsFor(f.home, f.env)
	f.opts.Warnf = func(format string, args ...any) { f.warns = append(f.warns, format) }
	f.opts.Now = func() time.Time {
		f.clockMu.Lock()
		defer f.clockMu.Unlock()
		return f.now
	}
	org := "o-" + api.NewID("x")[2:14]
	f.target = Target{API: sh.srv.URL, Org: org, Project: "web", Env: "development"}
	s := f.session()
	if _, err := s.CreateOrg(context.Background(), org); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProject(context.Background(), org, "web"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.clockMu.Lock()
	f.now = f.now.Add(d)
	f.clockMu.Unlock()
}

func (f *fixture) session() *Session {
	f.t.Helper()
	s, err := Authenticate(f.target, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.openEarly {
		s.openEarlyMin = 0
	}
	return s
}

// tokenSession creates a service token for the fixture's development
// environment as s and returns a session that authenticates with it
// (SECR_TOKEN set for the rest of the test).
func (f *fixture) tokenSession(s *Session) *Session {
	f.t.Helper()
	tok, _, err := s.CreateToken(context.Background(), f.target, TokenRequest{Name: "ci"})
	if err != nil {
		f.t.Fatal(err)
	}
	f.env["SECR_TOKEN"] = tok
	f.t.Cleanup(func() { delete(f.env, "SECR_TOKEN") })
	ts, err := Authenticate(Target{API: f.target.API}, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.openEarly {
		ts.openEarlyMin = 0
	}
	return ts
}

// set writes name=value to the fixture's development environment.
func (f *fixture) set(s *Session, kv ...string) *Env {
	f.t.Helper()
	env, err := s.Update(context.Background(), f.target, func(e *Editor) error {
		for i := 0; i+1 < len(kv); i += 2 {
			if err := e.Set(kv[i], kv[i+1], false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return env
}

// db opens the server's database, as an attacker with write access would.
func (f *fixture) db() *sql.DB {
	f.t.Helper()
	db, err := sql.Open("sqlite", f.sh.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	return db
}

// damageCiphertext changes byte 41 of the stored ciphertext of envID's
// revisions (rev, or all when rev is 0): always a change, whatever the
// byte was (setting it to a fixed value would leave it alone one time in
// 256).
func (f *fixture) damageCiphertext(envID string, rev int64) {
	f.t.Helper()
	f.exec(`UPDATE revisions SET ciphertext = substr(ciphertext, 1, 40) || CASE WHEN substr(ciphertext, 41, 1) = x'00' THEN x'01' ELSE x'00' END || substr(ciphertext, 42)
		WHERE env_id = ? AND (? = 0 OR revision = ?)`, envID, rev, rev)
}

func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.db().Exec(query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	// The server caches authentications for up to a second; an edit behind
	// its back is announced the way another replica's change would be.
	f.sh.api.RecheckStreams()
}
