package session

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/envdoc"
)

// environment returns a snapshot of n secrets as the server would send it,
// and an identity that can open it.
func environment(tb testing.TB, n int) (api.Snapshot, *crypto.Identity, *envdoc.Doc) {
	id, _ := crypto.GenerateIdentity()
	ek, _ := crypto.GenerateEnvKey("env_bench", 1)
	wrapped, _ := crypto.WrapKey(ek, id.Recipient())
	doc := envdoc.New()
	for i := 0; i < n; i++ {
		if err := doc.Set(fmt.Sprintf("SECRET_%04d", i), fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", 40)), false); err != nil {
			tb.Fatal(err)
		}
	}
	ct, err := crypto.SealRevision(ek, 7, doc.Marshal())
	if err != nil {
		tb.Fatal(err)
	}
	return api.Snapshot{
		Environment: api.Environment{ID: "env_bench", Name: "bench", KeyVersion: 1},
		Revision:    &api.Revision{Revision: 7, KeyVersion: 1, Ciphertext: ct},
		WrappedKey:  wrapped,
	}, id, doc
}

func TestOpenSnapshot(t *testing.T) {
	snap, id, doc := environment(t, 50)
	s := &Session{identity: id}
	env, err := s.open(snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	if env.Revision != 7 || len(env.doc.Secrets) != 50 || env.doc.Secrets["SECRET_0049"] != doc.Secrets["SECRET_0049"] {
		t.Fatalf("opened %d secrets at revision %d", len(env.doc.Secrets), env.Revision)
	}
	other, _ := crypto.GenerateIdentity()
	if _, err := (&Session{identity: other}).open(snap, nil); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("a stranger's identity opened the snapshot: %v", err)
	}
}

// BenchmarkOpenSnapshot1000 is the client-side work of `secr run` for an
// environment of 1,000 secrets: unwrap the key, open the revision, parse it.
func BenchmarkOpenSnapshot1000(b *testing.B) {
	snap, id, _ := environment(b, 1000)
	s := &Session{identity: id}
	b.SetBytes(int64(len(snap.Revision.Ciphertext)))
	for b.Loop() {
		if _, err := s.open(snap, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealRevision1000 is the client-side work of a write to an
// environment of 1,000 secrets: encode the document and seal it.
func BenchmarkSealRevision1000(b *testing.B) {
	_, _, doc := environment(b, 1000)
	ek, _ := crypto.GenerateEnvKey("env_bench", 1)
	for b.Loop() {
		if _, err := crypto.SealRevision(ek, 8, doc.Marshal()); err != nil {
			b.Fatal(err)
		}
	}
}
