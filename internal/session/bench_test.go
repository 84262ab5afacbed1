package session

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/envdoc"
	"github.com/secr-dev/secr/internal/trust"
)

// environment returns a snapshot of n secrets as the server would send it,
// the verified org chain it belongs to, a session that can open it and the
// target that names it.
func environment(tb testing.TB, n int) (api.Snapshot, *trust.State, *Session, Target) {
	id, _ := crypto.GenerateIdentity()
	userID := api.NewID("usr")
	signer := trust.NewSigner(userID, trust.UserSigningKey(id))
	me, err := trust.NewUser(userID, "bench@example.com", id.Recipient(), trust.UserSigningKey(id))
	if err != nil {
		tb.Fatal(err)
	}
	root, err := trust.NewOrg(signer, me, api.NewID("org"), "bench")
	if err != nil {
		tb.Fatal(err)
	}
	st, err := trust.Verify([]*trust.Entry{root}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Session{identity: id, signer: signer}
	prj, envID := api.NewID("prj"), api.NewID("env")
	st, _, err = s.appendOps(st, trust.CreateProject{ProjectID: prj, Name: "web"}, trust.CreateEnv{EnvID: envID, ProjectID: prj, Name: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	ek, _ := crypto.GenerateEnvKey(envID, 1)
	g, err := st.MakeGrant(signer, ek, userID)
	if err != nil {
		tb.Fatal(err)
	}
	doc := envdoc.New()
	for i := 0; i < n; i++ {
		if err := doc.Set(fmt.Sprintf("SECRET_%04d", i), fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", 40)), false); err != nil {
			tb.Fatal(err)
		}
	}
	h, ct, err := st.SealRevision(signer, ek, nil, doc.Marshal())
	if err != nil {
		tb.Fatal(err)
	}
	return api.Snapshot{
		Org: "bench", Project: "web",
		Environment: api.Environment{ID: envID, Name: "bench", KeyVersion: 1},
		Revision:    &api.Revision{Revision: 1, KeyVersion: 1, Header: h.Bytes(), Ciphertext: ct},
		Grant:       g.Bytes(),
	}, st, s, Target{Org: "bench", Project: "web", Env: "bench", EnvExplicit: true}
}

func TestOpenSnapshot(t *testing.T) {
	snap, st, s, target := environment(t, 50)
	env, err := s.open(target, snap, st, nil, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sec, _ := env.Lookup("SECRET_0049"); env.Revision != 1 || env.doc.Len() != 50 || sec.Value != "value-0049-"+strings.Repeat("x", 40) {
		t.Fatalf("opened %d secrets at revision %d", env.doc.Len(), env.Revision)
	}
	other, _ := crypto.GenerateIdentity()
	if _, err := (&Session{identity: other, signer: s.signer}).open(target, snap, st, nil, false, nil, nil); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("a stranger's identity opened the snapshot: %v", err)
	}
}

// TestOpenSnapshotReceipt: the receipt made by one opening stands for the
// signature checks and the unwrap in the next, for the same principal
// only.
func TestOpenSnapshotReceipt(t *testing.T) {
	snap, st, s, target := environment(t, 50)
	first, err := s.open(target, snap, st, nil, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first.receiptNew || len(first.receipt) == 0 {
		t.Fatalf("the first opening made no receipt")
	}
	again, err := s.open(target, snap, st, nil, false, first.receipt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.receiptNew || !bytes.Equal(again.receipt, first.receipt) || !slices.Equal(again.Secrets(), first.Secrets()) {
		t.Fatalf("the receipt was not used (new=%v) or opened something else", again.receiptNew)
	}
	// Another identity cannot use it: it verifies in full, and fails.
	other, _ := crypto.GenerateIdentity()
	if _, err := (&Session{identity: other, signer: s.signer}).open(target, snap, st, nil, false, first.receipt, nil); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("a stranger's identity opened the snapshot with the owner's receipt: %v", err)
	}
	// Bytes that are no receipt are ignored: a full verification, and a
	// new receipt.
	junk, err := s.open(target, snap, st, nil, false, bytes.Repeat([]byte{7}, len(first.receipt)), nil)
	if err != nil || !junk.receiptNew {
		t.Fatalf("a corrupt receipt: err=%v new=%v", err, junk != nil && junk.receiptNew)
	}
}

// BenchmarkOpenSnapshot1000 is the client-side work of `secr run` for an
// environment of 1,000 secrets: check and unwrap the grant, check the
// revision's signature and open it, parse it.
func BenchmarkOpenSnapshot1000(b *testing.B) {
	snap, st, s, target := environment(b, 1000)
	b.SetBytes(int64(len(snap.Revision.Ciphertext)))
	for b.Loop() {
		if _, err := s.open(target, snap, st, nil, false, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenSnapshotReceipt1000 is BenchmarkOpenSnapshot1000 for a
// snapshot this principal opened before on the same chain head (the 304
// path of 'secr run'): the receipt stands for the signature checks and the
// unwrap.
func BenchmarkOpenSnapshotReceipt1000(b *testing.B) {
	snap, st, s, target := environment(b, 1000)
	first, err := s.open(target, snap, st, nil, false, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(snap.Revision.Ciphertext)))
	for b.Loop() {
		if _, err := s.open(target, snap, st, nil, false, first.receipt, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealRevision1000 is the client-side work of a write to an
// environment of 1,000 secrets: encode the document and seal it.
func BenchmarkSealRevision1000(b *testing.B) {
	snap, st, s, target := environment(b, 1000)
	env, err := s.open(target, snap, st, nil, false, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := st.SealRevision(s.signer, env.key, env.header, env.doc.Marshal()); err != nil {
			b.Fatal(err)
		}
	}
}
