package session

import (
	"context"
	"testing"
)

// Attacker review of the client commits bf43675..c69d2c3: the early open
// of a held copy (98783f6), the binary cache record (5fd1362) and the
// receipt reuse (c69d2c3). Each TestAttackClient3_* failed while its
// attack worked.

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
