package session

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
)

// Attacker review of the client commits bf43675..c69d2c3: the early open
// of a held copy (98783f6), the binary cache record (5fd1362) and the
// receipt reuse (c69d2c3). A TestAttackClient3_* test either failed while
// its attack worked (it says what fixed it), or records an attack that was
// already refused (it says so), so that it stays refused.

// TestAttackClient3_EarlyOpenOutlivesLoad: a server that has a newer
// revision answers 200 while the held copy is being opened early. The
// early open's goroutine was left running after Load returned, reading
// the Session (open calls s.me(), which reads s.signer) while the caller
// went on: Update signs the new revision with s.sig(), which sets
// s.signer. That is a data race (reported by go test -race); nothing
// orders the goroutine's reads before anything the caller does next, so
// the speculative open must end before Load returns.
func TestAttackClient3_EarlyOpenOutlivesLoad(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.openEarly = true
	ada := f.session()
	f.set(ada, "A", "1")
	if _, err := ada.Load(ctx, f.target); err != nil { // caches revision 1 with its receipt
		t.Fatal(err)
	}
	// Another machine writes revision 2, so the next conditional fetch is
	// answered 200 while revision 1 is opened early.
	g := newFixture(t)
	other, err := Authenticate(f.target, g.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Update(ctx, f.target, func(e *Editor) error { return e.Set("A", "2", false) }); err != nil {
		t.Fatal(err)
	}
	// A fresh session (its signer not derived yet) updates: Load, then sign.
	s := f.session()
	if c, err := s.readSnap(s.cacheKey(f.target)); err != nil || len(c.receipt) == 0 {
		t.Fatalf("no held copy with a receipt: %v", err)
	}
	env, err := s.Update(ctx, f.target, func(e *Editor) error { return e.Set("A", "3", false) })
	if err != nil || env.Revision != 3 {
		t.Fatalf("update: %+v, %v", env, err)
	}
}

// serverAnswering is a server in front of the real one that answers
// snapshot requests itself (with status and body), as a lying or failing
// server may; everything else is passed through. s talks to it from now on
// (its cache, marks and pinned chain stay those of the real server's URL).
func serverAnswering(t *testing.T, s *Session, status int, body string) {
	t.Helper()
	h := sharedServer(t).api
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/snapshot") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	cl, err := client.New(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.client = cl.WithSession(s.login.Session)
}

// heldFromElsewhere gives f's machine the cache record of a newer revision
// than its rollback mark: ada's other machine (same account, same chain
// head) wrote and opened revision 2, and its cache record (with ada's own
// receipt, which opens on any of her machines at that head) is restored
// into this machine's cache directory, as a CI cache shared between
// runners is. It returns the session of f's machine, whose mark is at 1,
// and the record.
func heldFromElsewhere(t *testing.T, f *fixture) (*Session, []byte) {
	t.Helper()
	ctx := context.Background()
	s := f.session()
	f.set(s, "A", "1")
	if _, err := s.Load(ctx, f.target); err != nil {
		t.Fatal(err)
	}
	g := newFixture(t)
	other, err := Authenticate(f.target, g.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Update(ctx, f.target, func(e *Editor) error { return e.Set("A", "2", false) }); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Load(ctx, f.target); err != nil { // its record now carries a receipt
		t.Fatal(err)
	}
	key := s.cacheKey(f.target)
	rec, _, err := other.cache.Get(other.api, other.principalID(), key, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cache.Put(s.api, s.principalID(), key, rec, f.now); err != nil {
		t.Fatal(err)
	}
	if c, err := s.readSnap(key); err != nil || len(c.receipt) == 0 || c.snap.Revision == nil {
		t.Fatalf("restored record: %v", err)
	}
	if got := f.mark(s).Rev; got != 1 {
		t.Fatalf("precondition: mark %d", got)
	}
	if _, _, ok := f.heldCopy(s); !ok {
		t.Fatal("precondition: the restored record is not a held copy")
	}
	return s, rec
}

// heldCopy is what s's machine holds for f's development environment, and
// the ETag it names it with, as Load finds them before its request.
func (f *fixture) heldCopy(s *Session) (cached, string, bool) {
	f.t.Helper()
	st, err := s.pinned(s.chainKey(f.target.Org))
	if err != nil || st == nil {
		f.t.Fatalf("pinned chain: %v", err)
	}
	env, ok := s.chainEnv(st, f.target)
	if !ok {
		f.t.Fatal("no development in the pinned chain")
	}
	return s.held(s.cacheKey(f.target), st, env, s.marks())
}

// mark is the rollback mark of f's development environment on s's machine.
func (f *fixture) mark(s *Session) config.Mark {
	f.t.Helper()
	st, err := s.pinned(s.chainKey(f.target.Org))
	if err != nil || st == nil {
		f.t.Fatalf("pinned chain: %v", err)
	}
	return s.seen.Load().Get(s.api, markID(st, f.envID("development")))
}

// TestAttackClient3_SpeculativeOpenRecordsNothing: the held copy (a newer
// revision than the machine's mark, verified by its receipt) is opened
// while the request is out. A server that then fails the request, or
// answers with something the client refuses, must leave the rollback mark
// where it was: only what the client uses raises it. (Passed before the
// review's fix: recordSeen is called only for what load returns.)
func TestAttackClient3_SpeculativeOpenRecordsNothing(t *testing.T) {
	bothOpens(t, testSpeculativeOpenRecordsNothing)
}

func testSpeculativeOpenRecordsNothing(t *testing.T, openEarly bool) {
	ctx := context.Background()
	f := newFixture(t)
	f.openEarly = openEarly
	held, rec := heldFromElsewhere(t, f)
	key := held.cacheKey(f.target)
	for _, answer := range []struct {
		status int
		body   string
	}{
		{http.StatusInternalServerError, `{"code":"internal","message":"boom"}`},
		{http.StatusForbidden, `{"code":"forbidden","message":"no"}`},
		{http.StatusOK, `{"org":"x"}`}, // a 200 the client refuses
	} {
		s := f.session()
		serverAnswering(t, s, answer.status, answer.body)
		if env, err := s.Load(ctx, f.target); err == nil {
			t.Fatalf("answer %d: loaded revision %d", answer.status, env.Revision)
		}
		if got := f.mark(s).Rev; got != 1 {
			t.Fatalf("answer %d: the held copy (revision 2) opened while the request was out raised the mark to %d", answer.status, got)
		}
		// The 403 dropped the record: put it back.
		if err := s.cache.Put(s.api, s.principalID(), key, rec, f.now); err != nil {
			t.Fatal(err)
		}
	}
	// The real server confirms revision 2 (304): now it is used, and
	// recorded.
	env, err := held.Load(ctx, f.target)
	if err != nil || env.Revision != 2 || env.Values()["A"] != "2" {
		t.Fatalf("after a 304: %v", err)
	}
	if got := f.mark(held); got.Rev != 2 || got.Hash != env.header.Hash() {
		t.Fatalf("the revision used was not recorded: mark %d", got.Rev)
	}
}

// TestAttackClient3_ForgedRecordFields: whoever can write the cache
// directory edits every field of a version-3 record that no signature or
// receipt covers (write access, pending work, chain head, latest revision,
// key version, names, the revision's number, key version, author and
// time). The ETag the client names is unchanged (it is made of the pinned
// chain and the verified header), the server's 304 opens the copy as it
// was verified, and nothing the client reports comes from the edited
// fields; offline likewise. (Passed before the review: open replaces or
// ignores each of them.)
func TestAttackClient3_ForgedRecordFields(t *testing.T) { bothOpens(t, testForgedRecordFields) }

func testForgedRecordFields(t *testing.T, openEarly bool) {
	ctx := context.Background()
	f := newFixture(t)
	f.openEarly = openEarly
	s := f.session()
	f.set(s, "A", "1")
	if _, err := s.Load(ctx, f.target); err != nil {
		t.Fatal(err)
	}
	c, etag, ok := f.heldCopy(s)
	if !ok {
		t.Fatal("precondition: no held copy")
	}
	c.snap.CanWrite, c.snap.Pending, c.snap.ChainHead = false, true, 1<<40
	c.snap.Environment.LatestRevision, c.snap.Environment.KeyVersion, c.snap.Environment.Name = 99, 7, "production"
	c.snap.Org, c.snap.Project = "evil", "evil"
	c.snap.Revision.Revision, c.snap.Revision.KeyVersion = 99, 7
	c.snap.Revision.Author, c.snap.Revision.CreatedAt = "usr_mallory", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	key := s.cacheKey(f.target)
	if err := s.writeSnap(key, c.snap, c.receipt, f.now); err != nil {
		t.Fatal(err)
	}
	if _, forged, ok := f.heldCopy(s); !ok || forged != etag {
		t.Fatalf("the edited record is named as %q (held %v), not %q", forged, ok, etag)
	}
	// The server's revision 1 is damaged: only a 304 (the held copy) opens.
	f.damageCiphertext(f.envID("development"), 1)
	check := func(how string, env *Env, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if env.Revision != 1 || env.Values()["A"] != "1" || !env.CanWrite || env.Name != "development" ||
			env.Org != f.target.Org || env.Project != "web" || env.key.Version() != 1 {
			t.Fatalf("%s: the edited fields were believed: %+v", how, env)
		}
		if env.snap.Revision.Revision != 1 || env.snap.Environment.KeyVersion != 1 || env.snap.Environment.Name != "development" {
			t.Fatalf("%s: the snapshot kept for the cache has the edited fields: %+v", how, env.snap)
		}
		// Pending is the server's word (a hint to sync, which verifies
		// everything itself); on a 304 it is the cache's.
		t.Logf("%s: Pending() = %v", how, env.Pending())
	}
	env, err := f.session().Load(ctx, f.target)
	check("online (304)", env, err)
	off := f.session()
	off.UseCache(CachePolicy{Offline: true})
	env, err = off.Load(ctx, f.target)
	check("offline", env, err)
}

// TestAttackClient3_ReceiptForAnotherCopy: the receipt held() opened for
// one copy is handed to open() with another: a revision forged by someone
// who knows the environment key but may not write (signed under ada's name
// with a key of their own), and a genuine newer revision. Covers matches
// neither (another header), so the first is verified in full and refused,
// and the second is verified in full and gets a receipt of its own.
// (Passed before the review: Covers binds the head, the grant and the
// header.)
func TestAttackClient3_ReceiptForAnotherCopy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.session()
	f.set(s, "A", "1")
	env1, err := s.Load(ctx, f.target)
	if err != nil {
		t.Fatal(err)
	}
	c, _, ok := f.heldCopy(s)
	if !ok || c.opened == nil {
		t.Fatal("precondition: no held copy with an opened receipt")
	}
	st := env1.state
	marks := s.marks()

	a := f.attacker(s, "development")
	a.key = env1.key
	h, ct := a.revision(t, c.snap.Revision.Header, "BASH_ENV=/tmp/evil.sh\n")
	forged := c.snap
	forged.Revision = &api.Revision{Revision: 2, KeyVersion: 1, Header: h, Ciphertext: ct}
	forged.Headers = [][]byte{c.snap.Revision.Header, h}
	if env, err := s.open(f.target, forged, st, marks, true, c.receipt, c.opened); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("a forged revision with the receipt of revision 1: %v (opened: %v)", err, env != nil)
	} else {
		t.Logf("refused: %v", err)
	}

	genuine := f.set(f.session(), "A", "2") // revision 2, as another run of ada's wrote it
	snap := genuine.snap
	snap.Headers = [][]byte{c.snap.Revision.Header, genuine.header.Bytes()}
	env, err := s.open(f.target, snap, st, marks, true, c.receipt, c.opened)
	if err != nil || env.Revision != 2 || env.Values()["A"] != "2" {
		t.Fatalf("the genuine revision 2: %v", err)
	}
	if !env.receiptNew || string(env.receipt) == string(c.receipt) {
		t.Fatal("revision 2 was opened under revision 1's receipt")
	}
}

// TestAttackClient3_EarlyOpenWhileChainAdvances: while the held copy is
// opened early on the pinned chain, the server answers 200 with new chain
// entries (a token created and revoked: a new principal, a revocation
// and a key rotation of the very environment being opened), and load
// extends the pinned chain with them. Extend must not change the state
// the early open reads (go test -race), and the answer on the new chain
// is what is used and recorded. (Passed before the review: a State never
// changes.)
func TestAttackClient3_EarlyOpenWhileChainAdvances(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.openEarly = true
	ada := f.session()
	f.set(ada, "A", "1")
	if _, err := ada.Load(ctx, f.target); err != nil {
		t.Fatal(err)
	}
	g := newFixture(t)
	other, err := Authenticate(f.target, g.opts)
	if err != nil {
		t.Fatal(err)
	}
	_, info, err := other.CreateToken(ctx, f.target, TokenRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.RevokeToken(ctx, f.target, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Update(ctx, f.target, func(e *Editor) error { return e.Set("A", "2", false) }); err != nil {
		t.Fatal(err)
	}
	s := f.session()
	if _, _, ok := f.heldCopy(s); !ok {
		t.Fatal("precondition: no held copy")
	}
	env, err := s.Load(ctx, f.target)
	if err != nil || env.Values()["A"] != "2" || env.key.Version() < 2 {
		t.Fatalf("load on the advanced chain: %v", err)
	}
	if got := f.mark(s); got.Rev != env.Revision || got.Hash != env.header.Hash() {
		t.Fatalf("mark %d after using revision %d", got.Rev, env.Revision)
	}
}
