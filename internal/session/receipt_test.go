package session

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

// TestReceiptTamperedCache: the cache holds ada's receipt for the revision
// she opened. Someone who can write her cache and knows the environment's
// key (a former member who kept it) puts a revision of their own there,
// signed with their key under ada's name, and keeps her receipt. The
// receipt does not vouch for that header, so it is verified, and refused,
// offline as online.
func TestReceiptTamperedCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.session()
	f.set(s, "A", "value-1")
	env, err := s.Load(ctx, f.target)
	if err != nil {
		t.Fatal(err)
	}
	key := s.cacheKey(f.target)
	c, err := s.readSnap(key)
	if err != nil || len(c.receipt) == 0 {
		t.Fatalf("no receipt cached: %v", err)
	}

	a := f.attacker(s, "development")
	a.key = env.key
	h, ct := a.revision(t, c.snap.Revision.Header, "BASH_ENV=/tmp/evil.sh\n")
	c.snap.Revision = &api.Revision{Revision: 2, KeyVersion: 1, Header: h, Ciphertext: ct}
	c.snap.Headers = [][]byte{c.snap.Headers[0], h}
	if err := s.writeSnap(key, c.snap, c.receipt, time.Now()); err != nil {
		t.Fatal(err)
	}
	off := f.session()
	off.UseCache(CachePolicy{Offline: true})
	_, err = off.Load(ctx, f.target)
	mustRefuse(t, "offline load", err, "revision 2")

	// Online, the server's revision 1 is the latest: the forged cache is
	// not named (it is newer than anything the server has), and the real
	// revision is fetched and verified.
	got, err := f.session().Load(ctx, f.target)
	if err != nil || got.Values()["A"] != "value-1" || got.Revision != 1 {
		t.Fatalf("online after the tampering: %v", err)
	}
}

// TestHeldCopyDamaged: the server confirms (304) the revision this machine
// holds, but the cached ciphertext was damaged: the client says so and
// fetches the environment whole, once, instead of failing on every run.
func TestHeldCopyDamaged(t *testing.T) { bothOpens(t, testHeldCopyDamaged) }

func testHeldCopyDamaged(t *testing.T, openEarly bool) {
	ctx := context.Background()
	f := newFixture(t)
	f.openEarly = openEarly
	s := f.session()
	f.set(s, "A", "value-1")
	if _, err := s.Load(ctx, f.target); err != nil {
		t.Fatal(err)
	}
	key := s.cacheKey(f.target)
	c, err := s.readSnap(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := c.snap.Revision.Ciphertext
	ct[len(ct)/2] ^= 1
	if err := s.writeSnap(key, c.snap, c.receipt, time.Now()); err != nil {
		t.Fatal(err)
	}
	var warned []string
	again := f.session()
	again.opts.Warnf = func(format string, args ...any) { warned = append(warned, fmt.Sprintf(format, args...)) }
	env, err := again.Load(ctx, f.target)
	if err != nil || env.Values()["A"] != "value-1" {
		t.Fatalf("load after the cache was damaged: %v", err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "did not verify") || strings.Contains(warned[0], "value-1") {
		t.Fatalf("warnings: %q", warned)
	}
	// The whole answer replaced the damaged copy: the next run is quiet.
	warned = nil
	if _, err := again.Load(ctx, f.target); err != nil || len(warned) != 0 {
		t.Fatalf("the next load: %v, %q", err, warned)
	}
}

// TestTokenConditionalFetch: a service token's run is answered 304 too
// (the ETag it builds from the pinned chain matches the server's): with
// the server's copy damaged, the verified cached copy is used.
func TestTokenConditionalFetch(t *testing.T) { bothOpens(t, testTokenConditionalFetch) }

func testTokenConditionalFetch(t *testing.T, openEarly bool) {
	ctx := context.Background()
	f := newFixture(t)
	f.openEarly = openEarly
	s := f.session()
	f.set(s, "A", "value-1")
	ts := f.tokenSession(s)
	if _, err := ts.Load(ctx, Target{API: f.target.API}); err != nil {
		t.Fatal(err)
	}
	f.damageCiphertext(f.envID("development"), 0)
	env, err := ts.Load(ctx, Target{API: f.target.API})
	if err != nil || env.Values()["A"] != "value-1" {
		t.Fatalf("a token's second run was not answered from its verified cache: %v", err)
	}
}
