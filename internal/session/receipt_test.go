package session

import (
	"context"
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
	off.UseCache(true, 0)
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
