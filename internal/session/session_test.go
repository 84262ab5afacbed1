package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/trust"
)

func TestResolveTargetPrecedence(t *testing.T) {
	proj := &config.Project{Org: "fileorg", Project: "fileproj", Environment: "staging", API: "http://file:1"}
	for _, tc := range []struct {
		name  string
		flags Flags
		env   map[string]string
		proj  *config.Project
		want  Target
	}{
		{"defaults", Flags{}, nil, nil, Target{API: DefaultAPI, Env: "development"}},
		{".secr.json", Flags{}, nil, proj, Target{API: "http://file:1", Org: "fileorg", Project: "fileproj", Env: "staging"}},
		{"environment over .secr.json", Flags{}, map[string]string{"SECR_API_URL": "http://env:2", "SECR_ENV": "production", "SECR_ORG": "envorg", "SECR_PROJECT": "envproj"}, proj,
			Target{API: "http://env:2", Org: "envorg", Project: "envproj", Env: "production", EnvExplicit: true}},
		{"flags over environment", Flags{API: "http://flag:3", Org: "flagorg", Env: "preview"}, map[string]string{"SECR_API_URL": "http://env:2", "SECR_ENV": "production"}, proj,
			Target{API: "http://flag:3", Org: "flagorg", Project: "fileproj", Env: "preview", EnvExplicit: true}},
		{"env flag is explicit", Flags{Env: "preview"}, nil, nil, Target{API: DefaultAPI, Env: "preview", EnvExplicit: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ResolveTarget(tc.flags, func(k string) string { return tc.env[k] }, tc.proj)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestProjectFile(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	os.MkdirAll(sub, 0o755)
	if p, err := ProjectFile(sub); p != nil || err != nil {
		t.Fatalf("no .secr.json: %+v, %v", p, err)
	}
	os.WriteFile(filepath.Join(root, ".secr.json"), []byte(`{"org":"acme","project":"web"}`), 0o644)
	if p, err := ProjectFile(sub); err != nil || p.Org != "acme" {
		t.Fatalf("found from a subdirectory: %+v, %v", p, err)
	}
	os.WriteFile(filepath.Join(root, ".secr.json"), []byte(`{"org":"x","project":"y","enviroment":"typo"}`), 0o644)
	if _, err := ProjectFile(sub); err == nil || !strings.Contains(err.Error(), `unknown field "enviroment"`) {
		t.Fatalf("malformed .secr.json: %v", err)
	}
}

func TestAuthenticateServiceTokenSources(t *testing.T) {
	tok, _ := trust.GenerateToken([32]byte{1})
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte(tok.String()+"\n"), 0o600)
	env := map[string]string{"SECR_TOKEN_FILE": path}
	o := optionsFor(t.TempDir(), env)
	target := Target{API: DefaultAPI}
	s, err := Authenticate(target, o)
	if err != nil || !s.IsServiceToken() || s.token.ID() != tok.ID() {
		t.Fatalf("token from SECR_TOKEN_FILE not used: %v", err)
	}
	other, _ := trust.GenerateToken([32]byte{2})
	env["SECR_TOKEN"] = other.String()
	if s, err := Authenticate(target, o); err != nil || s.token.ID() != other.ID() {
		t.Fatalf("SECR_TOKEN did not win over the file: %v", err)
	}
	delete(env, "SECR_TOKEN")
	os.WriteFile(path, []byte("secr_st_garbage"), 0o600)
	if _, err := Authenticate(target, o); err == nil || !strings.HasPrefix(err.Error(), "SECR_TOKEN_FILE: malformed") || strings.Contains(err.Error(), "garbage") {
		t.Fatalf("malformed token file: %v", err)
	}
	env["SECR_TOKEN_FILE"] = filepath.Join(t.TempDir(), "missing")
	if _, err := Authenticate(target, o); err == nil || !strings.Contains(err.Error(), "SECR_TOKEN_FILE") {
		t.Fatalf("missing token file: %v", err)
	}
	delete(env, "SECR_TOKEN_FILE")
	if _, err := Authenticate(target, o); !errors.Is(err, ErrNotLoggedIn) || Hint(err) == "" {
		t.Fatalf("no login: %v (hint %q)", err, Hint(err))
	}
}

func TestUpdateLoadHistoryRollback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.session()
	if env := f.set(s, "A", "1", "B", "two words"); env.Revision != 1 {
		t.Fatalf("first write is revision %d", env.Revision)
	}
	f.set(s, "A", "changed")
	if _, err := s.Update(ctx, f.target, func(e *Editor) error { return e.Delete("B") }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, f.target, func(e *Editor) error { return e.Delete("NOPE") }); err == nil {
		t.Fatal("deleting a missing secret succeeded")
	}
	env, err := s.Load(ctx, f.target)
	if err != nil {
		t.Fatal(err)
	}
	if env.Revision != 3 || fmt.Sprint(env.Values()) != "map[A:changed]" || env.Name != "development" || !env.CanWrite {
		t.Fatalf("loaded %+v %v", env, env.Values())
	}
	h, err := s.History(ctx, f.target)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, r := range h.Revisions {
		changes = append(changes, r.Changes.String())
	}
	if got := strings.Join(changes, " | "); got != "+A +B | ~A | -B" {
		t.Fatalf("history changes: %s", got)
	}
	restored, err := s.Rollback(ctx, f.target, 1)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Revision != 4 || fmt.Sprint(restored.Values()) != "map[A:1 B:two words]" {
		t.Fatalf("rollback wrote revision %d: %v", restored.Revision, restored.Values())
	}
	// Rolling back to identical contents writes nothing.
	if again, err := s.Rollback(ctx, f.target, 4); err != nil || again.Revision != 4 {
		t.Fatalf("no-op rollback: revision %d, %v", again.Revision, err)
	}
	if _, err := s.Rollback(ctx, f.target, 99); err == nil {
		t.Fatal("rollback to a missing revision succeeded")
	}
}

// TestUpdateRetriesOnConflict: concurrent writers each lose races and
// re-apply their edit; every write survives.
func TestUpdateRetriesOnConflict(t *testing.T) {
	f := newFixture(t)
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Authenticate(f.target, f.opts)
			if err == nil {
				_, err = s.Update(context.Background(), f.target, func(e *Editor) error {
					return e.Set(fmt.Sprintf("W%d", i), "x", false)
				})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	env, err := f.session().Load(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Values()) != writers || env.Revision != writers {
		t.Fatalf("after %d concurrent writers: revision %d with %d secrets", writers, env.Revision, len(env.Values()))
	}
}

// envID returns the ID of the fixture's environment named name.
func (f *fixture) envID(name string) string {
	f.t.Helper()
	var id string
	err := f.db().QueryRow(`SELECT e.id FROM environments e JOIN projects p ON p.id = e.project_id JOIN orgs o ON o.id = p.org_id
		WHERE o.name = ? AND p.name = 'web' AND e.name = ?`, f.target.Org, name).Scan(&id)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// prodValue is production's secret in TestIntegrityErrors: no error may
// show it. It cannot occur in the fixture's random org name (lower-case
// base32), as a short value like "prod" could.
const prodValue = "PROD-VALUE-9"

// TestIntegrityErrors edits the server's database the way a hostile
// operator could, and checks that each edit is refused as an integrity
// failure, not opened or half-trusted.
func TestIntegrityErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		attack func(f *fixture, dev, prod string)
		want   string
	}{
		{"flipped ciphertext byte", func(f *fixture, dev, _ string) {
			f.damageCiphertext(dev, 2)
		}, "revision 2"},
		{"truncated ciphertext", func(f *fixture, dev, _ string) {
			f.exec(`UPDATE revisions SET ciphertext = substr(ciphertext, 1, 30) WHERE env_id = ? AND revision = 2`, dev)
		}, "revision 2"},
		{"revision moved from another environment", func(f *fixture, dev, prod string) {
			f.exec(`DELETE FROM revisions WHERE env_id = ? AND revision = 2`, dev)
			f.exec(`UPDATE revisions SET env_id = ?, revision = 2 WHERE env_id = ? AND revision = 1`, dev, prod)
		}, "revision 2"},
		{"grant of another environment", func(f *fixture, dev, prod string) {
			f.exec(`UPDATE grants SET signed_grant = (SELECT signed_grant FROM grants WHERE env_id = ?) WHERE env_id = ?`, prod, dev)
		}, "instead of this principal's key"},
		{"older revision replayed", func(f *fixture, dev, _ string) {
			f.exec(`DELETE FROM revisions WHERE env_id = ? AND revision = 2`, dev)
		}, "older than revision 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.session()
			f.set(s, "A", "1")
			prodTarget := f.target
			prodTarget.Env = "production"
			if _, err := s.Update(context.Background(), prodTarget, func(e *Editor) error { return e.Set("P", prodValue, false) }); err != nil {
				t.Fatal(err)
			}
			f.set(s, "A", "2")
			if _, err := s.Load(context.Background(), f.target); err != nil {
				t.Fatal(err)
			}
			// This machine's cache holds revision 2, which a conditional
			// fetch would keep using without looking at the server's
			// copy (TestConditionalFetch): drop it, so that the server's
			// edited answer is what the client must verify.
			if err := os.RemoveAll(filepath.Join(mustDirs(t, f.opts).Cache, "snapshots")); err != nil {
				t.Fatal(err)
			}
			tc.attack(f, f.envID("development"), f.envID("production"))
			env, err := s.Load(context.Background(), f.target)
			if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (env %+v), want an integrity error mentioning %q", err, env, tc.want)
			}
			if strings.Contains(err.Error(), prodValue) {
				t.Fatalf("error mentions another environment's value: %v", err)
			}
			// And nothing is written on top of data that did not verify.
			_, err = s.Update(context.Background(), f.target, func(e *Editor) error { return e.Set("B", "b", false) })
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("update on tampered data: %v", err)
			}
		})
	}
}

// TestOfflineCache: the cache serves a run while the server is unreachable
// only within --max-stale (measured on an injected clock), always with
// --offline, and is dropped when the server says the principal may no
// longer read.
func TestOfflineCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.session()
	f.set(s, "A", "1")

	// A proxy in front of the real server that can be turned off: the
	// network, not the server, goes away.
	var mu sync.Mutex
	up := true
	backend, _ := url.Parse(f.sh.srv.URL)
	rp := httputil.NewSingleHostReverseProxy(backend)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := up
		mu.Unlock()
		if !ok {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	setUp := func(v bool) { mu.Lock(); up = v; mu.Unlock() }
	// The login is stored for the real server's URL; copy it to the proxy's.
	creds := config.CredentialsAt(mustDirs(t, f.opts), f.opts.Getenv)
	login, err := creds.Get(f.sh.srv.URL)
	if err != nil || login == nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := creds.Put(proxy.URL, login); err != nil {
		t.Fatal(err)
	}
	target := f.target
	target.API = proxy.URL
	open := func(offline bool, maxStale time.Duration) (*Env, error) {
		s, err := Authenticate(target, f.opts)
		if err != nil {
			t.Fatal(err)
		}
		s.UseCache(CachePolicy{Offline: offline, MaxStale: maxStale})
		return s.Load(ctx, target)
	}

	if _, err := open(true, time.Hour); err == nil {
		t.Fatal("--offline with an empty cache succeeded")
	}
	if env, err := open(false, time.Hour); err != nil || env.Values()["A"] != "1" {
		t.Fatalf("online run: %v", err)
	}
	setUp(false)
	f.advance(30 * time.Minute)
	if env, err := open(false, time.Hour); err != nil || env.Values()["A"] != "1" {
		t.Fatalf("unreachable within --max-stale: %v", err)
	}
	if len(f.warns) == 0 || !strings.Contains(f.warns[len(f.warns)-1], "unreachable") {
		t.Fatalf("no warning for a stale cache: %q", f.warns)
	}
	f.advance(time.Hour)
	if _, err := open(false, time.Hour); err == nil {
		t.Fatal("a cache older than --max-stale was used")
	}
	if _, err := open(false, 0); err == nil {
		t.Fatal("--max-stale 0 used the cache")
	}
	if env, err := open(true, 0); err != nil || env.Values()["A"] != "1" {
		t.Fatalf("--offline uses a cache of any age: %v", err)
	}

	// This machine's own writes, and history reads that raise the rollback
	// mark, keep the cache current: no false replay alarm offline.
	setUp(true)
	ps, err := Authenticate(target, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Update(ctx, target, func(e *Editor) error { return e.Set("A", "2", false) }); err != nil {
		t.Fatal(err)
	}
	if env, err := open(true, 0); err != nil || env.Values()["A"] != "2" {
		t.Fatalf("offline after this machine's write: %v", err)
	}
	other := f.session() // another machine's write, seen here only through history
	if _, err := other.Update(ctx, f.target, func(e *Editor) error { return e.Set("A", "3", false) }); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.History(ctx, target); err != nil {
		t.Fatal(err)
	}
	if env, err := open(true, 0); err != nil || env.Values()["A"] != "3" {
		t.Fatalf("offline after history raised the mark: %v", err)
	}
	setUp(false)
	f.advance(48 * time.Hour)
	if _, err := open(false, time.Hour); err == nil || !strings.Contains(err.Error(), "the offline cache was not used") || !strings.Contains(err.Error(), "older than --max-stale") {
		t.Fatalf("an unreachable server with a stale cache does not say why the cache was refused: %v", err)
	}

	// The server now refuses this principal (its session ended): the
	// cache is deleted.
	setUp(true)
	f.exec(`DELETE FROM sessions`)
	if _, err := open(false, time.Hour); err == nil {
		t.Fatal("a refused session read secrets")
	}
	if _, err := open(true, 0); err == nil {
		t.Fatal("the cache survived a 401")
	}
	// Log in again for the other tests sharing the account.
	if _, err := Login(ctx, optionsFor(f.sh.home, nil), f.sh.srv.URL, "ada@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
}

func mustDirs(t *testing.T, o Options) config.Dirs {
	t.Helper()
	d, err := o.dirs()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLoginRefusesServerKDF answers the salt request in the server's
// place with costs outside what a client accepts: too cheap would let the
// server brute-force the password, too costly would exhaust the client.
func TestLoginRefusesServerKDF(t *testing.T) {
	sh := sharedServer(t)
	for _, kdf := range []string{`{"t":1,"m":65536,"p":4}`, `{"t":3,"m":4194304,"p":4}`} {
		liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/auth/params" {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"salt":"AAAAAAAAAAAAAAAAAAAAAA==","kdf":%s}`, kdf)
				return
			}
			t.Errorf("the client went on to %s after refusing the parameters", r.URL.Path)
		}))
		_, err := Login(context.Background(), optionsFor(t.TempDir(), nil), liar.URL, "ada@example.com", testPassword)
		liar.Close()
		if err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Fatalf("kdf %s: %v", kdf, err)
		}
	}
	// The real server's parameters are accepted.
	if _, err := Login(context.Background(), optionsFor(t.TempDir(), nil), sh.srv.URL, "ada@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyTokenCannotWrite(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.session()
	f.set(s, "A", "1")
	tok, info, err := s.CreateToken(ctx, f.target, TokenRequest{Name: "ci"})
	if err != nil || info.ReadWrite {
		t.Fatalf("create token: %+v %v", info, err)
	}
	f.env["SECR_TOKEN"] = tok
	ts, err := Authenticate(Target{API: f.target.API}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ts.Load(ctx, Target{API: f.target.API})
	if err != nil || env.Values()["A"] != "1" || env.Name != "development" {
		t.Fatalf("token reads its own environment: %v", err)
	}
	_, err = ts.Update(ctx, Target{API: f.target.API}, func(e *Editor) error { return e.Set("B", "2", false) })
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only token wrote: %v", err)
	}
	if _, _, err := ts.CreateToken(ctx, f.target, TokenRequest{}); err == nil {
		t.Fatal("a token created a token")
	}
	if _, err := s.RevokeToken(ctx, f.target, tok); err == nil || !strings.Contains(err.Error(), "not the token itself") {
		t.Fatalf("revoke by secret: %v", err)
	}
}

// TestCleartextPolicy: a plain-HTTP server that is not loopback is refused
// before anything is sent, unless the user says the network is trusted
// (Options.Insecure or SECR_INSECURE=1). Nothing here dials: Authenticate
// sends no request.
func TestCleartextPolicy(t *testing.T) {
	target := Target{API: "http://192.0.2.1:7700"}
	env := map[string]string{}
	o := optionsFor(t.TempDir(), env)
	var insecure *client.InsecureURLError
	if _, err := Authenticate(target, o); !errors.As(err, &insecure) {
		t.Fatalf("cleartext off loopback: %v", err)
	}
	o.Insecure = true
	if _, err := Authenticate(target, o); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("with Insecure: %v", err)
	}
	o.Insecure = false
	env["SECR_INSECURE"] = "1"
	if _, err := Authenticate(target, o); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("with SECR_INSECURE=1: %v", err)
	}
	if _, err := Authenticate(Target{API: "http://127.0.0.1:7700"}, optionsFor(t.TempDir(), nil)); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("loopback: %v", err)
	}
}

// TestCacheIsForItsTarget: a snapshot read from this machine's cache is
// used only for the environment (or the token scope) it was stored for.
// The names in it are not authenticated, so a cache copied under another
// environment's key, or renamed, must be refused: opened, it would give the
// wrong secrets; written through, it would send one environment's document
// to another.
func TestCacheIsForItsTarget(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.session()
	s.UseCache(CachePolicy{MaxStale: time.Hour})
	f.set(s, "DB", "dev-db")
	prod := f.target
	prod.Env = "production"
	if _, err := s.Update(ctx, prod, func(e *Editor) error { return e.Set("DB", "prod-db", false) }); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []Target{f.target, prod} {
		if _, err := s.Load(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	key := func(tg Target) string { return s.cacheKey(tg) }
	dev, _, err := s.cache.Get(s.api, s.principalID(), key(f.target), 1<<30)
	if err != nil {
		t.Fatal(err)
	}

	// Development's cache copied over production's: refused offline.
	if err := s.cache.Put(s.api, s.principalID(), key(prod), dev, time.Now()); err != nil {
		t.Fatal(err)
	}
	off := f.session()
	off.UseCache(CachePolicy{Offline: true})
	if env, err := off.Load(ctx, prod); !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "which the org chain binds to") {
		t.Fatalf("a copied cache was opened for production: %v (got %v)", err, env != nil)
	}

	// Development's cache renamed to production: the server answers 304 for
	// development, and the write must not go to production. The names in
	// the cache are not believed (the chain's are), so it goes to
	// development, where the cached revision belongs.
	// (The receipt stays: it vouches for the grant and the header, never
	// for names.)
	c, err := s.readSnap(key(f.target))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.receipt) == 0 {
		t.Fatal("the cache holds no receipt")
	}
	c.snap.Environment.Name = "production"
	if err := s.writeSnap(key(f.target), c.snap, c.receipt, time.Now()); err != nil {
		t.Fatal(err)
	}
	if env, err := s.Update(ctx, f.target, func(e *Editor) error { return e.Set("X", "1", false) }); err != nil || env.Name != "development" {
		t.Fatalf("a write through a renamed cache: %v", err)
	}
	fresh := f.session()
	env, err := fresh.Load(ctx, prod)
	if err != nil {
		t.Fatalf("production after the attempt: %v", err)
	}
	if env.Values()["DB"] != "prod-db" || env.Revision != 1 {
		t.Fatalf("production after the attempt: revision %d", env.Revision)
	}

	// A service token for development, used offline for production: refused
	// as it is online.
	if err := s.cache.Put(s.api, s.principalID(), key(f.target), dev, time.Now()); err != nil {
		t.Fatal(err)
	}
	ts := f.tokenSession(s)
	ts.UseCache(CachePolicy{MaxStale: time.Hour})
	if _, err := ts.Load(ctx, Target{API: f.target.API}); err != nil {
		t.Fatal(err)
	}
	ts.UseCache(CachePolicy{Offline: true})
	if _, err := ts.Load(ctx, Target{API: f.target.API, Env: "production", EnvExplicit: true}); err == nil || !strings.Contains(err.Error(), `SECR_TOKEN is for environment "development"`) {
		t.Fatalf("offline token used for another environment: %v", err)
	}
}
