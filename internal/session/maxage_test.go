package session

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMaxAge: LoadWithin uses the copy the server
// confirmed within maxAge without asking it (so a change made elsewhere
// is not seen yet: the server holds a newer revision and is not asked),
// sees this machine's own write at once, asks again once the copy is
// older, and asks when the confirmation time is in the future or the copy
// does not verify. All on the fixture's injected clock.
func TestMaxAge(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.session()
	maxAge := time.Minute
	load := func(what string) *Env {
		t.Helper()
		env, err := s.LoadWithin(ctx, f.target, maxAge)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return env
	}
	other, err := Authenticate(f.target, newFixture(t).opts) // another machine, same account
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := func(v string) {
		t.Helper()
		if _, err := other.Update(ctx, f.target, func(e *Editor) error { return e.Set("A", v, false) }); err != nil {
			t.Fatal(err)
		}
	}

	// This machine's own write is the confirmed latest: read at once.
	f.set(s, "A", "1")
	if env := load("own write"); !env.Unasked || env.Values()["A"] != "1" || env.Revision != 1 {
		t.Fatalf("after this machine's write: unasked %v, revision %d", env.Unasked, env.Revision)
	}

	// Within maxAge the server is not asked, so its newer revision is not
	// seen: that is the trade --max-age makes.
	elsewhere("2")
	f.advance(59 * time.Second)
	env := load("within maxAge")
	if !env.Unasked || env.ConfirmedAgo != 59*time.Second || env.Values()["A"] != "1" {
		t.Fatalf("within maxAge: unasked %v, confirmed %v ago, revision %d", env.Unasked, env.ConfirmedAgo, env.Revision)
	}
	// Using it did not move the confirmation: only the server does.
	f.advance(2 * time.Second)
	if env := load("past maxAge"); env.Unasked || env.Values()["A"] != "2" || env.Revision != 2 {
		t.Fatalf("past maxAge: unasked %v, revision %d", env.Unasked, env.Revision)
	}
	if env := load("just confirmed"); !env.Unasked || env.Revision != 2 {
		t.Fatalf("after the server confirmed revision 2: unasked %v, revision %d", env.Unasked, env.Revision)
	}

	// Load (every other command, and --watch after a change) always asks.
	elsewhere("3")
	if env, err := s.Load(ctx, f.target); err != nil || env.Unasked || env.Values()["A"] != "3" {
		t.Fatalf("Load within maxAge: %v", err)
	}

	// A confirmation in the future (the clock went back, or the cache
	// file's time was set ahead) does not keep a copy fresh.
	elsewhere("4")
	f.advance(-2 * time.Hour)
	if env := load("confirmed in the future"); env.Unasked || env.Values()["A"] != "4" {
		t.Fatalf("confirmation in the future: unasked %v, revision %d", env.Unasked, env.Revision)
	}

	// A recent copy that does not verify is fetched whole, with a warning.
	key := s.cacheKey(f.target)
	c, err := s.readSnap(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := c.snap.Revision.Ciphertext
	ct[len(ct)/2] ^= 1
	if err := s.writeSnap(key, c.snap, c.receipt, f.now); err != nil {
		t.Fatal(err)
	}
	f.warns = nil
	if env := load("damaged"); env.Unasked || env.Values()["A"] != "4" {
		t.Fatalf("damaged recent copy: unasked %v, revision %d", env.Unasked, env.Revision)
	}
	if len(f.warns) != 1 || !strings.Contains(f.warns[0], "did not verify") {
		t.Fatalf("warnings: %q", f.warns)
	}

	// maxAge 0 asks every time, and so does Load.
	elsewhere("5")
	maxAge = 0
	if env := load("maxAge 0"); env.Unasked || env.Values()["A"] != "5" {
		t.Fatalf("maxAge 0: unasked %v, revision %d", env.Unasked, env.Revision)
	}

	// A service token's run too: its first load asks, the next does not.
	ts := f.tokenSession(s)
	for i, wantUnasked := range []bool{false, true} {
		env, err := ts.LoadWithin(ctx, Target{API: f.target.API}, time.Minute)
		if err != nil || env.Unasked != wantUnasked || env.Values()["A"] != "5" {
			t.Fatalf("token load %d: unasked %v, %v", i, env != nil && env.Unasked, err)
		}
	}
}
