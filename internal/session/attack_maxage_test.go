package session

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Attacker review of 'secr run --max-age' and of the receipt a write now
// stores (commit 5943d0d). Each TestAttackMaxAge_* failed while its attack
// worked.

// TestAttackMaxAge_OwnWriteHidesFork: someone who can write the server's
// database (or a server restored from a backup, which loses the last
// writes) drops the revision ada just wrote, and another writer then
// writes a different revision under the same number. ada's machine saw
// her revision 3; the server's revision 3 is now another one: a fork, which
// a machine with state must refuse. Before the write stored a receipt, the
// next run fetched the revision whole and refused it ("not the one seen
// before"). With the receipt, the run names ada's copy in a conditional
// fetch by its revision number alone (the ETag has no header hash), the
// honest server finds its own revision 3 under the same number and answers
// 304, and ada's machine keeps running her dropped revision without a
// word, every run, until someone writes revision 4. Fixed in the ETag
// (api.SnapshotETag holds the header's hash), which also covers a machine
// that only read (TestAttackMaxAge_ReaderForkHiddenBy304).
func TestAttackMaxAge_OwnWriteHidesFork(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	f.set(ada, "DB_PASSWORD", "value-1")
	f.set(ada, "DB_PASSWORD", "value-2")
	f.set(ada, "DB_PASSWORD", "value-3-ada") // this machine's mark: revision 3
	dev := f.envID("development")
	f.exec(`DELETE FROM revisions WHERE env_id = ? AND revision = 3`, dev)

	// Another machine of the same account (no state for this org) writes
	// its revision 3 on top of revision 2.
	other, err := Authenticate(f.target, newFixture(t).opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Update(ctx, f.target, func(e *Editor) error { return e.Set("DB_PASSWORD", "value-3-rotated", false) }); err != nil {
		t.Fatal(err)
	}

	for run := 1; run <= 2; run++ {
		env, err := f.session().Load(ctx, f.target)
		if err == nil {
			t.Fatalf("run %d: the server's revision 3 is not the one this machine wrote and saw, yet the run used revision %d (%q) without a word",
				run, env.Revision, env.Values()["DB_PASSWORD"])
		}
		mustRefuse(t, "run after the fork", err, "revision 3")
	}
	// A --max-age run past its window asks, and refuses the same way.
	f.advance(2 * time.Minute)
	_, err = f.session().LoadWithin(ctx, f.target, time.Minute)
	mustRefuse(t, "--max-age run past its window", err, "revision 3")
}

// TestAttackMaxAge_ExpiredTokenRunsUnasked: a service token's expiry is
// in the org chain this machine verified (token.create), so after it the
// machine knows the token's access has ended; asked, the server refuses it
// (401) and the token's cache is deleted. A --max-age run checked only
// the confirmation time: a CI job with SECR_MAX_AGE=24h kept running with
// a token up to a day past the expiry its admin set, without asking.
func TestAttackMaxAge_ExpiredTokenRunsUnasked(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.session()
	f.set(s, "A", "1")
	exp := f.now.Add(time.Minute)
	tok, _, err := s.CreateToken(ctx, f.target, TokenRequest{Name: "ci", ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	f.env["SECR_TOKEN"] = tok
	t.Cleanup(func() { delete(f.env, "SECR_TOKEN") })
	ts, err := Authenticate(Target{API: f.target.API}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.LoadWithin(ctx, Target{API: f.target.API}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if env, err := ts.LoadWithin(ctx, Target{API: f.target.API}, time.Hour); err != nil || !env.Unasked {
		t.Fatalf("before the expiry: %v", err)
	}
	// Past the expiry on this machine's clock (the server's clock, which
	// decides, is still before it in this test: asked, it answers).
	f.advance(2 * time.Minute)
	env, err := ts.LoadWithin(ctx, Target{API: f.target.API}, time.Hour)
	if err == nil && env.Unasked {
		t.Fatalf("the token expired at %s (org chain); the run used the cache confirmed %s ago without asking", exp.UTC().Format(time.RFC3339), env.ConfirmedAgo)
	}
}

// TestAttackMaxAge_AliasWriteCachedUnderAlias (robustness, not an attack):
// 'secr secrets set --env dev' writes development (the alias resolved on
// the verified chain), but the write cached it under "dev", a name no
// load ever reads a cache under. So the next --max-age run of development
// asked the server after all ("your own writes are seen at once"), and an
// offline run of development found its older copy below the rollback mark
// the write had raised and refused it as a replay (an integrity failure,
// exit 6). (This predates --max-age; the write's receipt made it visible.)
func TestAttackMaxAge_AliasWriteCachedUnderAlias(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.session()
	f.set(s, "A", "1")
	if _, err := s.Load(ctx, f.target); err != nil {
		t.Fatal(err)
	}
	alias := f.target
	alias.Env = "dev"
	if _, err := s.Update(ctx, alias, func(e *Editor) error { return e.Set("A", "2", false) }); err != nil {
		t.Fatal(err)
	}
	off := f.session()
	off.UseCache(CachePolicy{Offline: true})
	if env, err := off.Load(ctx, f.target); err != nil || env.Values()["A"] != "2" {
		t.Errorf("offline run of development after writing it as %q: %v", alias.Env, err)
	}
	if env, err := f.session().LoadWithin(ctx, f.target, time.Hour); err != nil || !env.Unasked || env.Values()["A"] != "2" {
		t.Errorf("--max-age run of development after writing it as %q: asked the server (unasked %v), %v", alias.Env, env != nil && env.Unasked, err)
	}
}

// TestAttackMaxAge_UnaskedAfterAsking (cosmetic, not an attack): with no
// pinned chain (deleted, as a hint suggests) but rollback marks, a run asks
// the server, pins the chain from its answer, and loads again to ask for
// the history since the mark. With --max-age that second load took the
// cached copy instead, dropped the answer, and said "not asked again"
// although the server was asked (and logged the read).
func TestAttackMaxAge_UnaskedAfterAsking(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.session()
	f.set(s, "A", "1")
	if _, err := s.Load(ctx, f.target); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(f.home, ".local", "state", "secr", "chains")); err != nil {
		t.Fatal(err)
	}
	env, err := f.session().LoadWithin(ctx, f.target, time.Hour)
	if err != nil || env.Unasked {
		t.Fatalf("the server was asked, yet the run says it was not (unasked %v): %v", env != nil && env.Unasked, err)
	}
}

// TestAttackMaxAge_ReaderForkHiddenBy304: the same fork against a machine
// that only read (found by the review, and older than --max-age): it holds
// revision 2 as fetched; the row is dropped and another revision 2 stored.
// With the ETag naming the revision by number alone, the honest server
// answered 304 and the reader kept its copy; the header's hash in the ETag
// makes the server send its revision 2, which the reader refuses.
func TestAttackMaxAge_ReaderForkHiddenBy304(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	writer := f.session()
	f.set(writer, "DB_PASSWORD", "value-1")
	f.set(writer, "DB_PASSWORD", "value-2")

	g := newFixture(t)
	reader, err := Authenticate(f.target, g.opts)
	if err != nil {
		t.Fatal(err)
	}
	if env, err := reader.Load(ctx, f.target); err != nil || env.Revision != 2 {
		t.Fatalf("reader's first load: %v", err)
	}
	f.exec(`DELETE FROM revisions WHERE env_id = ? AND revision = 2`, f.envID("development"))
	third, err := Authenticate(f.target, newFixture(t).opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := third.Update(ctx, f.target, func(e *Editor) error { return e.Set("DB_PASSWORD", "value-2-other", false) }); err != nil {
		t.Fatal(err)
	}
	env, err := reader.Load(ctx, f.target)
	if err == nil {
		t.Fatalf("the server's revision 2 is not the one this machine saw, yet the run used revision %d without a word", env.Revision)
	}
	mustRefuse(t, "reader after the fork", err, "revision 2")
}
