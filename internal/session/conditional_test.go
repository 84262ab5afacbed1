package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/config"
)

// TestConditionalFetch: a machine that holds the latest revision is told
// 304 and opens its own copy (so a server-side edit of that same revision
// is not even read); a newer revision is fetched whole; the cache's time
// is when the server last confirmed it.
func TestConditionalFetch(t *testing.T) { bothOpens(t, testConditionalFetch) }

func testConditionalFetch(t *testing.T, openEarly bool) {
	ctx := context.Background()
	f := newFixture(t)
	f.openEarly = openEarly
	s := f.session()
	f.set(s, "A", "1")
	if env, err := s.Load(ctx, f.target); err != nil || env.Values()["A"] != "1" {
		t.Fatalf("load: %v", err)
	}

	// Another machine (its own HOME, same account) writes revision 2.
	g := newFixture(t)
	other, err := Authenticate(f.target, g.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Update(ctx, f.target, func(e *Editor) error { return e.Set("A", "2", false) }); err != nil {
		t.Fatal(err)
	}
	env, err := s.Load(ctx, f.target)
	if err != nil || env.Values()["A"] != "2" || env.Revision != 2 {
		t.Fatalf("a newer revision is fetched whole: %+v, %v", env, err)
	}

	// The server's copy of revision 2 is now damaged. This machine holds
	// revision 2 already, so the server answers 304 and the verified copy
	// is used; the cache's time moves to the confirmation.
	f.damageCiphertext(f.envID("development"), 2)
	f.advance(time.Hour)
	env, err = s.Load(ctx, f.target)
	if err != nil || env.Values()["A"] != "2" || env.Revision != 2 {
		t.Fatalf("304: %+v, %v", env, err)
	}
	c, err := s.readSnap(s.cacheKey(f.target))
	if err != nil || c.confirmed.Sub(f.now) > time.Second || f.now.Sub(c.confirmed) > time.Second {
		t.Fatalf("cache time after a 304: %v (now %v), %v", c.confirmed, f.now, err)
	}
	if len(c.receipt) == 0 {
		t.Fatalf("the cache holds no receipt of the verified revision")
	}

	// A cache older than the rollback mark is never named: the machine
	// that only holds revision 2 raises its mark past it, and the damaged
	// revision 2 is then fetched and refused (not silently opened).
	if err := s.seen.Record(s.api, markID(must(s.Chain(ctx, f.target.Org)), f.envID("development")), config.Mark{Rev: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, f.target); err == nil || !strings.Contains(err.Error(), "revision 2") {
		t.Fatalf("cache older than the mark: %v", err)
	}
}

// bothOpens runs test with a held copy opened after the 304 and opened
// while the request is out, as a large one is.
func bothOpens(t *testing.T, test func(*testing.T, bool)) {
	t.Run("after", func(t *testing.T) { test(t, false) })
	t.Run("early", func(t *testing.T) { test(t, true) })
}

// TestUpdateSizeLimit: an environment over the server's limit is refused
// before anything is uploaded, naming the limit and the size.
func TestUpdateSizeLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.session()
	f.set(s, "A", "1")
	_, err := s.Update(ctx, f.target, func(e *Editor) error {
		for i := 0; i < 45; i++ {
			b := make([]byte, 50<<10)
			rand.Read(b)
			if err := e.Set(fmt.Sprintf("BIG_%02d", i), hex.EncodeToString(b), false); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		t.Fatal("an environment over the limit was written")
	}
	msg := err.Error() + " " + Hint(err)
	for _, want := range []string{`environment "development" would be 4.`, "MiB (", "more than the limit of 4.0 MiB (4194304 bytes) per environment"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("size error %q does not say %q", msg, want)
		}
	}
	t.Log(msg)
	if env, err := s.Load(ctx, f.target); err != nil || env.Revision != 1 {
		t.Fatalf("after the refused write: %+v, %v", env, err)
	}
	_ = api.MaxCiphertext
}
