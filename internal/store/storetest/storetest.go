// Package storetest is the conformance suite every store.Store must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/store"
)

// Run runs the suite. open must return a new, empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ServerSecretStable", testServerSecret},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"OrgsAndMembers", testOrgs},
		{"ProjectsEnvsGrants", testProjects},
		{"Revisions", testRevisions},
		{"ConcurrentAppend", testConcurrentAppend},
		{"ChainAppend", testChainAppend},
		{"ConcurrentChainAppend", testConcurrentChainAppend},
		{"Tokens", testTokens},
		{"ResolveEnv", testResolveEnv},
		{"LoginLimiter", testLoginLimiter},
		{"LoginLimiterConcurrent", testLoginLimiterConcurrent},
		{"Invites", testInvites},
		{"OrgChange", testOrgChange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var ctx = context.Background()

// now is truncated to milliseconds, the stores' resolution.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testServerSecret(t *testing.T, s store.Store) {
	a, err := s.ServerSecret(ctx)
	must(t, err)
	b, err := s.ServerSecret(ctx)
	must(t, err)
	if len(a) != 32 || string(a) != string(b) {
		t.Fatalf("server secret not stable: %x %x", a, b)
	}
}

func user(id, email string) store.User {
	return store.User{ID: id, Email: email, Salt: []byte("salt"), KDF: `{"t":3}`, AuthHash: []byte("hash"),
		PublicKey: "pk", Principal: []byte("principal " + id), SealedKey: []byte("sealed"), RecoverySealedKey: []byte("rec"), RecoveryAuthHash: []byte("rh"), CreatedAt: now()}
}

func testUsers(t *testing.T, s store.Store) {
	u := user("usr_a", "a@example.com")
	must(t, s.CreateUser(ctx, u))
	if err := s.CreateUser(ctx, user("usr_b", "a@example.com")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate email: %v", err)
	}
	if err := s.CreateUser(ctx, user("usr_a", "b@example.com")); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	got, err := s.UserByEmail(ctx, "a@example.com")
	must(t, err)
	if got.ID != u.ID || string(got.SealedKey) != "sealed" || string(got.Principal) != "principal usr_a" || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("user round trip: %+v", got)
	}
	if _, err := s.UserByID(ctx, "usr_none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}
	must(t, s.CreateSession(ctx, store.Session{TokenHash: []byte("s1"), UserID: "usr_a", ExpiresAt: now().Add(time.Hour), CreatedAt: now()}))
	must(t, s.UpdatePassword(ctx, "usr_a", []byte("salt2"), `{"t":4}`, []byte("hash2"), []byte("sealed2")))
	got, err = s.UserByID(ctx, "usr_a")
	must(t, err)
	if string(got.Salt) != "salt2" || string(got.AuthHash) != "hash2" || string(got.SealedKey) != "sealed2" || string(got.RecoveryAuthHash) != "rh" {
		t.Fatalf("after password change: %+v", got)
	}
	if _, _, err := s.SessionUser(ctx, []byte("s1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a session survived the password change: %v", err)
	}
	if err := s.UpdatePassword(ctx, "usr_none", nil, "", nil, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("password change of a missing user: %v", err)
	}
}

func testSessions(t *testing.T, s store.Store) {
	must(t, s.CreateUser(ctx, user("usr_a", "a@example.com")))
	se := store.Session{TokenHash: []byte("h1"), UserID: "usr_a", ExpiresAt: now().Add(time.Hour), CreatedAt: now()}
	must(t, s.CreateSession(ctx, se))
	gotSe, gotU, err := s.SessionUser(ctx, []byte("h1"))
	must(t, err)
	if gotSe.UserID != "usr_a" || gotU.Email != "a@example.com" || !gotSe.ExpiresAt.Equal(se.ExpiresAt) {
		t.Fatalf("session user: %+v %+v", gotSe, gotU)
	}
	must(t, s.DeleteSession(ctx, []byte("h1")))
	if _, _, err := s.SessionUser(ctx, []byte("h1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted session user: %v", err)
	}
}

// entry and state stand in for trust.Entry.Bytes and trust.State.Bytes:
// the store keeps them without parsing.
func entry(seq uint64) []byte { return []byte(fmt.Sprintf("entry %d", seq)) }
func state(seq uint64) []byte { return []byte(fmt.Sprintf("state %d", seq)) }

// app is a chain append of n entries to org_1 starting at seq from.
func app(from uint64, n int) store.ChainAppend {
	c := store.ChainAppend{OrgID: "org_1", From: from, State: state(from + uint64(n) - 1)}
	for i := range n {
		c.Entries = append(c.Entries, entry(from+uint64(i)))
	}
	return c
}

func newOrg(id, name string) store.Org {
	return store.Org{ID: id, Name: name, CreatedAt: now(), Head: entry(0), State: state(0)}
}

// checkChain checks that org_1's chain is entries 0..head and the org row
// records that head.
func checkChain(t *testing.T, s store.Store, head uint64) {
	t.Helper()
	o, err := s.OrgByID(ctx, "org_1")
	must(t, err)
	if o.HeadSeq != head || string(o.Head) != string(entry(head)) || string(o.State) != string(state(head)) {
		t.Fatalf("org head %d %q %q, want %d", o.HeadSeq, o.Head, o.State, head)
	}
	for from := uint64(0); from <= head+1; from++ {
		es, err := s.Chain(ctx, "org_1", from)
		must(t, err)
		if uint64(len(es)) != head+1-from {
			t.Fatalf("chain from %d: %d entries, want %d", from, len(es), head+1-from)
		}
		for i, e := range es {
			if string(e) != string(entry(from+uint64(i))) {
				t.Fatalf("chain from %d: entry %d is %q", from, i, e)
			}
		}
	}
}

func testOrgs(t *testing.T, s store.Store) {
	must(t, s.CreateUser(ctx, user("usr_a", "a@example.com")))
	must(t, s.CreateUser(ctx, user("usr_b", "b@example.com")))
	must(t, s.CreateOrg(ctx, newOrg("org_1", "acme"), "usr_a"))
	if err := s.CreateOrg(ctx, newOrg("org_2", "acme"), "usr_b"); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate org name: %v", err)
	}
	// The failed create left no member row behind.
	if orgs, _ := s.OrgsForUser(ctx, "usr_b"); len(orgs) != 0 {
		t.Fatalf("usr_b is in %+v after a failed create", orgs)
	}
	m, err := s.Member(ctx, "org_1", "usr_a")
	must(t, err)
	if m.Role != store.RoleOwner {
		t.Fatalf("creator role %q", m.Role)
	}
	if _, err := s.Member(ctx, "org_1", "usr_b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("non-member: %v", err)
	}
	orgs, err := s.OrgsForUser(ctx, "usr_a")
	must(t, err)
	if len(orgs) != 1 || orgs[0].Name != "acme" || orgs[0].Role != store.RoleOwner {
		t.Fatalf("orgs: %+v", orgs)
	}
	o, err := s.OrgByID(ctx, "org_1")
	must(t, err)
	if o.Name != "acme" {
		t.Fatalf("org by id: %+v", o)
	}
	checkChain(t, s, 0)
}

func setupProject(t *testing.T, s store.Store) {
	t.Helper()
	must(t, s.CreateUser(ctx, user("usr_a", "a@example.com")))
	must(t, s.CreateOrg(ctx, newOrg("org_1", "acme"), "usr_a"))
	envs := []store.Environment{
		{ID: "env_dev", ProjectID: "prj_1", Name: "development", KeyVersion: 1, CreatedAt: now()},
		{ID: "env_prod", ProjectID: "prj_1", Name: "production", KeyVersion: 1, CreatedAt: now()},
	}
	grants := []store.Grant{
		{EnvID: "env_dev", PrincipalID: "usr_a", KeyVersion: 1, Signed: []byte("wd")},
		{EnvID: "env_prod", PrincipalID: "usr_a", KeyVersion: 1, Signed: []byte("wp")},
	}
	must(t, s.CreateProject(ctx, store.Project{ID: "prj_1", OrgID: "org_1", Name: "web", CreatedAt: now()}, envs, grants, app(1, 3)))
}

func testProjects(t *testing.T, s store.Store) {
	setupProject(t, s)
	// A failing project create is atomic: nothing of it remains.
	err := s.CreateProject(ctx, store.Project{ID: "prj_2", OrgID: "org_1", Name: "api", CreatedAt: now()},
		[]store.Environment{
			{ID: "env_x", ProjectID: "prj_2", Name: "development", KeyVersion: 1, CreatedAt: now()},
			{ID: "env_dev", ProjectID: "prj_2", Name: "staging", KeyVersion: 1, CreatedAt: now()}, // duplicate ID
		}, nil, app(4, 3))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate env id: %v", err)
	}
	if _, err := s.ProjectByName(ctx, "org_1", "api"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("half-created project exists: %v", err)
	}
	checkChain(t, s, 3) // nor its chain entries
	if err := s.CreateProject(ctx, store.Project{ID: "prj_3", OrgID: "org_1", Name: "web", CreatedAt: now()}, nil, nil, app(4, 1)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate project name: %v", err)
	}
	if err := s.CreateProject(ctx, store.Project{ID: "prj_4", OrgID: "org_1", Name: "api", CreatedAt: now()}, nil, nil, app(3, 1)); !errors.Is(err, store.ErrChainMoved) {
		t.Fatalf("project on a stale head: %v", err)
	}
	if _, err := s.ProjectByName(ctx, "org_1", "api"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("project on a stale head exists: %v", err)
	}
	p, err := s.ProjectByName(ctx, "org_1", "web")
	must(t, err)
	envs, err := s.Environments(ctx, p.ID)
	must(t, err)
	if len(envs) != 2 {
		t.Fatalf("environments: %+v", envs)
	}
	e, err := s.EnvironmentByName(ctx, p.ID, "production")
	must(t, err)
	if e.ID != "env_prod" || e.KeyVersion != 1 {
		t.Fatalf("env: %+v", e)
	}
	must(t, s.CreateEnvironment(ctx, store.Environment{ID: "env_prev", ProjectID: p.ID, Name: "preview", KeyVersion: 1, CreatedAt: now()},
		[]store.Grant{{EnvID: "env_prev", PrincipalID: "usr_a", KeyVersion: 1, Signed: []byte("wv")}}, app(4, 1)))
	checkChain(t, s, 4)
	if err := s.CreateEnvironment(ctx, store.Environment{ID: "env_prev2", ProjectID: p.ID, Name: "preview", KeyVersion: 1, CreatedAt: now()}, nil, app(5, 1)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate env name: %v", err)
	}
	g, err := s.Grants(ctx, "env_prev", "usr_a")
	must(t, err)
	if len(g) != 1 || string(g[0].Signed) != "wv" {
		t.Fatalf("grants: %+v", g)
	}
	if g, _ := s.Grants(ctx, "env_prev", "usr_b"); len(g) != 0 {
		t.Fatalf("grants of a stranger: %+v", g)
	}
}

func rev(env string, n int64) store.Revision {
	return store.Revision{EnvID: env, Revision: n, KeyVersion: 1, Header: []byte(fmt.Sprintf("h%d", n)), Ciphertext: []byte(fmt.Sprintf("ct%d", n)), AuthorID: "usr_a", CreatedAt: now()}
}

func testRevisions(t *testing.T, s store.Store) {
	setupProject(t, s)
	if _, err := s.LatestRevision(ctx, "env_dev"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("latest of empty env: %v", err)
	}
	must(t, s.AppendRevision(ctx, rev("env_dev", 1), 0))
	must(t, s.AppendRevision(ctx, rev("env_dev", 2), 1))
	for _, base := range []int64{0, 1, 3} {
		if err := s.AppendRevision(ctx, rev("env_dev", base+1), base); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("append on stale base %d: %v", base, err)
		}
	}
	must(t, s.AppendRevision(ctx, rev("env_prod", 1), 0))
	latest, err := s.LatestRevision(ctx, "env_dev")
	must(t, err)
	if latest.Revision != 2 || string(latest.Ciphertext) != "ct2" {
		t.Fatalf("latest: %+v", latest)
	}
	all, err := s.Revisions(ctx, "env_dev")
	must(t, err)
	if len(all) != 2 || all[0].Revision != 1 || string(all[1].Header) != "h2" {
		t.Fatalf("revisions: %+v", all)
	}
	must(t, s.AppendRevision(ctx, rev("env_dev", 3), 2))
	for since, want := range map[int64]string{0: "h1 h2 h3", 1: "h1 h2 h3", 2: "h2 h3", 3: "h3", 4: ""} {
		hs, err := s.RevisionHeaders(ctx, "env_dev", since)
		must(t, err)
		var got []string
		for _, h := range hs {
			got = append(got, string(h))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("headers since %d: %q, want %q", since, got, want)
		}
	}
}

func testChainAppend(t *testing.T, s store.Store) {
	setupProject(t, s)
	checkChain(t, s, 3)
	// Appends must start right after the head: not on it, not past it.
	for _, from := range []uint64{1, 3, 5} {
		err := s.CreateEnvironment(ctx, store.Environment{ID: "env_x", ProjectID: "prj_1", Name: "x", KeyVersion: 1, CreatedAt: now()}, nil, app(from, 1))
		if !errors.Is(err, store.ErrChainMoved) {
			t.Fatalf("append from %d on head 3: %v", from, err)
		}
	}
	if _, err := s.EnvironmentByID(ctx, "env_x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("environment of a refused append exists: %v", err)
	}
	checkChain(t, s, 3)
	if es, err := s.Chain(ctx, "org_other", 0); err != nil || len(es) != 0 {
		t.Fatalf("chain of a missing org: %q %v", es, err)
	}
}

func testConcurrentChainAppend(t *testing.T, s store.Store) {
	setupProject(t, s)
	// Every writer re-reads the head after losing; all land once, in order.
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				o, err := s.OrgByID(ctx, "org_1")
				if err != nil {
					errs <- err
					return
				}
				id := fmt.Sprintf("env_w%d", w)
				err = s.CreateEnvironment(ctx, store.Environment{ID: id, ProjectID: "prj_1", Name: id[4:], KeyVersion: 1, CreatedAt: now()}, nil, app(o.HeadSeq+1, 1))
				if errors.Is(err, store.ErrChainMoved) {
					continue
				}
				errs <- err
				return
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	checkChain(t, s, 3+writers)
}

func testConcurrentAppend(t *testing.T, s store.Store) {
	setupProject(t, s)
	// Every writer retries on conflict; all must land exactly once.
	const writers = 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var base int64
				if r, err := s.LatestRevision(ctx, "env_dev"); err == nil {
					base = r.Revision
				} else if !errors.Is(err, store.ErrNotFound) {
					errs <- err
					return
				}
				err := s.AppendRevision(ctx, rev("env_dev", base+1), base)
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				errs <- err
				return
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	all, err := s.Revisions(ctx, "env_dev")
	must(t, err)
	if len(all) != writers {
		t.Fatalf("%d revisions after %d writers", len(all), writers)
	}
}

func testTokens(t *testing.T, s store.Store) {
	setupProject(t, s)
	tok := store.Token{ID: "st_1", ProjectID: "prj_1", EnvID: "env_prod", Name: "ci", AuthHash: []byte("h"),
		ReadWrite: true, ExpiresAt: now().Add(time.Hour), CreatedBy: "usr_a", CreatedAt: now()}
	must(t, s.CreateToken(ctx, tok, store.Grant{EnvID: "env_prod", PrincipalID: "st_1", KeyVersion: 1, Signed: []byte("wt")}, app(4, 1)))
	got, err := s.TokenByID(ctx, "st_1")
	must(t, err)
	if !got.ReadWrite || !got.ExpiresAt.Equal(tok.ExpiresAt) || got.EnvID != "env_prod" {
		t.Fatalf("token round trip: %+v", got)
	}
	never := tok
	never.ID, never.ExpiresAt, never.ReadWrite = "st_2", time.Time{}, false
	must(t, s.CreateToken(ctx, never, store.Grant{EnvID: "env_prod", PrincipalID: "st_2", KeyVersion: 1, Signed: []byte("w2")}, app(5, 1)))
	got, err = s.TokenByID(ctx, "st_2")
	must(t, err)
	if !got.ExpiresAt.IsZero() || got.ReadWrite {
		t.Fatalf("token without expiry: %+v", got)
	}
	ts, err := s.Tokens(ctx, "prj_1")
	must(t, err)
	if len(ts) != 2 {
		t.Fatalf("tokens: %+v", ts)
	}
	if err := s.DeleteToken(ctx, "st_1", app(5, 1)); !errors.Is(err, store.ErrChainMoved) {
		t.Fatalf("revoke on a stale head: %v", err)
	}
	if _, err := s.TokenByID(ctx, "st_1"); err != nil {
		t.Fatalf("token revoked on a stale head: %v", err)
	}
	must(t, s.DeleteToken(ctx, "st_1", app(6, 1)))
	if _, err := s.TokenByID(ctx, "st_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted token: %v", err)
	}
	if g, _ := s.Grants(ctx, "env_prod", "st_1"); len(g) != 0 {
		t.Fatalf("revoked token kept grants: %+v", g)
	}
	if err := s.DeleteToken(ctx, "st_1", app(7, 1)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	checkChain(t, s, 6)
}

func testResolveEnv(t *testing.T, s store.Store) {
	setupProject(t, s)
	if _, err := s.ResolveEnv(ctx, "nope", "web", "development", "usr_a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing org: %v", err)
	}
	a, err := s.ResolveEnv(ctx, "acme", "web", "development", "usr_a")
	must(t, err)
	if a.Org.ID != "org_1" || a.MemberRole != store.RoleOwner || a.Project == nil || a.Project.ID != "prj_1" ||
		a.Env == nil || a.Env.ID != "env_dev" || a.Grant == nil || string(a.Grant.Signed) != "wd" || a.Latest != nil ||
		a.Org.HeadSeq != 3 || string(a.Org.Head) != string(entry(3)) || a.Org.State != nil {
		t.Fatalf("resolve empty env: %+v", a)
	}
	must(t, s.AppendRevision(ctx, rev("env_dev", 1), 0))
	must(t, s.AppendRevision(ctx, rev("env_dev", 2), 1))
	a, err = s.ResolveEnv(ctx, "acme", "web", "development", "usr_a")
	must(t, err)
	if a.Latest == nil || a.Latest.Revision != 2 || string(a.Latest.Ciphertext) != "ct2" || string(a.Latest.Header) != "h2" {
		t.Fatalf("latest: %+v", a.Latest)
	}
	// Again (a store may answer the bytes from memory now), and after a
	// write, for anyone: the latest is always the database's.
	for _, want := range []int64{2, 3} {
		if want == 3 {
			must(t, s.AppendRevision(ctx, rev("env_dev", 3), 2))
		}
		for _, who := range []string{"usr_a", "usr_stranger"} {
			a, err = s.ResolveEnv(ctx, "acme", "web", "development", who)
			must(t, err)
			ct, h := fmt.Sprintf("ct%d", want), fmt.Sprintf("h%d", want)
			if a.Latest == nil || a.Latest.Revision != want || string(a.Latest.Ciphertext) != ct || string(a.Latest.Header) != h || a.Latest.EnvID != "env_dev" {
				t.Fatalf("latest for %s, want revision %d: %+v", who, want, a.Latest)
			}
		}
	}
	a, err = s.ResolveEnv(ctx, "acme", "web", "development", "usr_stranger")
	must(t, err)
	if a.MemberRole != "" || a.Grant != nil || a.Env == nil {
		t.Fatalf("stranger: %+v", a)
	}
	// By ID (a service token's environment): the same answer.
	byID, err := s.ResolveEnvByID(ctx, "env_dev", "usr_a")
	must(t, err)
	byName, err := s.ResolveEnv(ctx, "acme", "web", "development", "usr_a")
	must(t, err)
	if !reflect.DeepEqual(byID, byName) {
		t.Fatalf("by ID %+v\nby name %+v", byID, byName)
	}
	if _, err := s.ResolveEnvByID(ctx, "env_nope", "usr_a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing env by ID: %v", err)
	}
	a, err = s.ResolveEnv(ctx, "acme", "web", "nope", "usr_a")
	must(t, err)
	if a.Env != nil || a.Project == nil {
		t.Fatalf("missing env: %+v", a)
	}
	a, err = s.ResolveEnv(ctx, "acme", "nope", "development", "usr_a")
	must(t, err)
	if a.Project != nil || a.Env != nil {
		t.Fatalf("missing project: %+v", a)
	}
}

func testLoginLimiter(t *testing.T, s store.Store) {
	t0 := now()
	var seen map[string]store.LoginFailures
	look := func(d time.Duration) func(map[string]store.LoginFailures) time.Duration {
		return func(m map[string]store.LoginFailures) time.Duration { seen = m; return d }
	}
	old := t0.Add(-time.Hour)
	for i := 1; i <= 3; i++ {
		d, err := s.TryLogin(ctx, []string{"a", "b", "a"}, t0.Add(time.Duration(i)*time.Second), old, look(0))
		must(t, err)
		if d != 0 || seen["a"].Fails != i-1 || seen["b"].Fails != i-1 {
			t.Fatalf("attempt %d: wait %v, saw %+v", i, d, seen)
		}
	}
	if !seen["a"].Last.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("last failure %v, want %v", seen["a"].Last, t0.Add(2*time.Second))
	}
	// A refused attempt changes nothing.
	d, err := s.TryLogin(ctx, []string{"a", "c"}, t0.Add(4*time.Second), old, look(7*time.Second))
	must(t, err)
	if d != 7*time.Second || seen["a"].Fails != 3 || seen["c"].Fails != 0 {
		t.Fatalf("refused: wait %v, saw %+v", d, seen)
	}
	_, err = s.TryLogin(ctx, []string{"a", "c"}, t0.Add(5*time.Second), old, look(0))
	must(t, err)
	if seen["a"].Fails != 3 || seen["c"].Fails != 0 {
		t.Fatalf("after a refusal: %+v", seen)
	}
	// Success takes back one failure and clears another key.
	must(t, s.LoginSucceeded(ctx, []string{"a"}, []string{"b"}))
	_, err = s.TryLogin(ctx, []string{"a", "b", "c"}, t0.Add(6*time.Second), old, look(time.Second))
	must(t, err)
	if seen["a"].Fails != 3 || seen["b"].Fails != 0 || seen["c"].Fails != 1 {
		t.Fatalf("after success: %+v", seen)
	}
	// Counts whose last failure is before forgetBefore are forgotten.
	_, err = s.TryLogin(ctx, []string{"a", "c"}, t0.Add(2*time.Hour), t0.Add(time.Hour), look(time.Second))
	must(t, err)
	if seen["a"].Fails != 0 || seen["c"].Fails != 0 {
		t.Fatalf("after an hour: %+v", seen)
	}
}

func testLoginLimiterConcurrent(t *testing.T, s store.Store) {
	// Many concurrent attempts on one key: exactly the allowed number pass.
	const allowed, attempts = 5, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	errs := make(chan error, attempts)
	t0 := now()
	for i := 0; i < attempts; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.TryLogin(ctx, []string{"k", "other"}, t0, t0.Add(-time.Hour), func(m map[string]store.LoginFailures) time.Duration {
				if m["k"].Fails >= allowed {
					return time.Second
				}
				return 0
			})
			if err != nil {
				errs <- err
				return
			}
			if d == 0 {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if passed != allowed {
		t.Fatalf("%d of %d concurrent attempts passed a limit of %d", passed, attempts, allowed)
	}
}
