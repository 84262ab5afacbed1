package session

import (
	"context"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/trust"
)

// Attacker review of the receipts (commit 2fc848f) and of the 304 path
// they sit on. Each TestAttackReceipt_* fails while its attack works.

// TestAttackReceipt_ForgedETagHidesRotation: someone who can write ada's
// cache directory (a CI cache restored from another branch), but holds
// none of her keys, edits only the unsigned fields of her cached snapshot
// that the conditional fetch names (api.SnapshotETag: revision number, key
// version, chain head) to the values the server has now. The *honest*
// server then answers 304 Not Modified, and ada's machine opens its old
// copy (with its own, genuine receipt) on its old pinned chain: it never
// sees the token revocation, the key rotation, or the value changed after
// them. ChainHead is in the ETag precisely so that "a change of the org (a
// role, a rotation) is never answered 304 to a client that has not seen
// it"; the client sends the cache's word for it, not its pinned head. The
// edit persists (a 304 only touches the file's time), so the machine stays
// frozen on every later run.
func TestAttackReceipt_ForgedETagHidesRotation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	f.set(ada, "DB_PASSWORD", "value-leaked")
	if env, err := ada.Load(ctx, f.target); err != nil || env.Values()["DB_PASSWORD"] != "value-leaked" {
		t.Fatalf("load: %v", err)
	}
	key := ada.cacheKey(f.target)
	before, err := ada.readSnap(key)
	if err != nil || len(before.receipt) == 0 {
		t.Fatalf("no receipt cached: %v", err)
	}

	// On another machine (same account), a CI token leaks: ada revokes it,
	// which rotates development's key, and changes the leaked value.
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
	if _, err := other.Update(ctx, f.target, func(e *Editor) error { return e.Set("DB_PASSWORD", "value-rotated", false) }); err != nil {
		t.Fatal(err)
	}
	var headSeq uint64
	var keyVersion int
	var latest int64
	db := f.db()
	if err := db.QueryRow(`SELECT head_seq FROM orgs WHERE name = ?`, f.target.Org).Scan(&headSeq); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT key_version FROM environments WHERE id = ?`, f.envID("development")).Scan(&keyVersion); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT MAX(revision) FROM revisions WHERE env_id = ?`, f.envID("development")).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	if keyVersion < 2 {
		t.Fatalf("the revocation did not rotate the key (version %d)", keyVersion)
	}

	// The cache writer: ada's own record, her receipt untouched, only the
	// fields the ETag is made of changed. Nothing it writes is signed by
	// anyone, and it needs no key.
	c := before
	c.snap.ChainHead = headSeq
	c.snap.Environment.KeyVersion = keyVersion
	c.snap.Revision.Revision = latest
	if err := ada.writeSnap(key, c.snap, c.receipt, time.Now()); err != nil {
		t.Fatal(err)
	}

	for run := 1; run <= 2; run++ {
		env, err := f.session().Load(ctx, f.target)
		if err != nil {
			// Refusing would be acceptable; quietly using the old state is not.
			t.Logf("run %d refused: %v", run, err)
			continue
		}
		if env.key.Version() != keyVersion || env.Values()["DB_PASSWORD"] != "value-rotated" {
			st := env.state
			t.Errorf("run %d: an honest server was made to answer 304 by an edit of ada's cache: she runs revision %d under key version %d on chain entry %d (the server is at revision %d, key version %d, entry %d): the revocation, the rotation and the new value are hidden",
				run, env.Revision, env.key.Version(), chainSeq(st), latest, keyVersion, headSeq)
		}
	}
}

func chainSeq(st *trust.State) uint64 {
	if st == nil {
		return 0
	}
	return st.Seq()
}
