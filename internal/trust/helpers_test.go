package trust

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/secr-dev/secr/internal/crypto"
)

// actor is one principal with its private keys, as a client holds them.
type actor struct {
	p   *Principal
	box *crypto.Identity
	s   *Signer
}

// seededActor derives every key from seed, for known-answer tests.
func seededActor(t testing.TB, id, email string, seed byte) *actor {
	t.Helper()
	var b [32]byte
	for i := range b {
		b[i] = seed + byte(i)
	}
	box, err := crypto.ParseIdentity("SECR-IDENTITY-" + base64.RawURLEncoding.EncodeToString(b[:]))
	if err != nil {
		t.Fatal(err)
	}
	sk := &SigningKey{priv: ed25519.NewKeyFromSeed(b[:])}
	return makeActor(t, id, email, box, sk)
}

func newActor(t testing.TB, id, email string) *actor {
	t.Helper()
	box, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return makeActor(t, id, email, box, sk)
}

func makeActor(t testing.TB, id, email string, box *crypto.Identity, sk *SigningKey) *actor {
	p, err := NewUser(id, email, box.Recipient(), sk)
	if err != nil {
		t.Fatal(err)
	}
	return &actor{p: p, box: box, s: NewSigner(id, sk)}
}

// fixture is a small org:
//
//	0 org.create      alice (owner)
//	1 member.add      bob admin            by alice
//	2 member.add      carol developer      by bob
//	3 member.add      dave viewer          by bob
//	4 project.create  prj_web "web"        by bob
//	5 env.create      env_dev "development" by bob (bob gets write)
//	6 env.create      env_prod "production" by bob (bob gets write)
//	7 access.grant    carol dev+prod write by bob
//	8 access.grant    dave prod write      by bob (a viewer reads only)
//	9 token.create    ci: prod read        by carol
//
// erin is not a member.
type fixture struct {
	t                       testing.TB
	alice, bob, carol, dave *actor
	erin                    *actor
	token                   *Token
	entries                 []*Entry
	st                      *State
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureOf(t, "Acme", &fixture{
		alice: newActor(t, "usr_alice", "alice@example.com"),
		bob:   newActor(t, "usr_bob", "bob@example.com"),
		carol: newActor(t, "usr_carol", "carol@example.com"),
		dave:  newActor(t, "usr_dave", "dave@example.com"),
		erin:  newActor(t, "usr_erin", "erin@example.com"),
	})
}

// newFixtureOf builds the fixture's org, named name, with people's actors:
// the same people, keys and IDs can make a second org.
func newFixtureOf(t testing.TB, name string, people *fixture) *fixture {
	t.Helper()
	f := &fixture{t: t, alice: people.alice, bob: people.bob, carol: people.carol, dave: people.dave, erin: people.erin}
	root, err := NewOrg(f.alice.s, f.alice.p, "org_acme", name)
	if err != nil {
		t.Fatal(err)
	}
	f.entries = []*Entry{root}
	if f.st, err = Verify(f.entries, nil); err != nil {
		t.Fatal(err)
	}
	f.add(f.alice, AddMember{f.bob.p, Admin})
	f.add(f.bob, AddMember{f.carol.p, Developer})
	f.add(f.bob, AddMember{f.dave.p, Viewer})
	f.add(f.bob, CreateProject{"prj_web", "web"})
	f.add(f.bob, CreateEnv{"env_dev", "prj_web", "development"})
	f.add(f.bob, CreateEnv{"env_prod", "prj_web", "production"})
	f.add(f.bob, GrantAccess{"usr_carol", []string{"env_dev", "env_prod"}, Write})
	f.add(f.bob, GrantAccess{"usr_dave", []string{"env_prod"}, Write})
	if f.token, err = GenerateToken(f.st.Anchor()); err != nil {
		t.Fatal(err)
	}
	tp, err := f.token.Principal("ci")
	if err != nil {
		t.Fatal(err)
	}
	f.add(f.carol, CreateToken{Token: tp, EnvID: "env_prod", Access: Read})
	return f
}

// add appends op signed by a through the public API and extends the state.
func (f *fixture) add(a *actor, op Op) *Entry {
	f.t.Helper()
	e, err := f.st.Append(a.s, op)
	if err != nil {
		f.t.Fatalf("append %s by %s: %v", op.Type(), a.p.ID(), err)
	}
	f.extend(e)
	return e
}

func (f *fixture) extend(e *Entry) {
	f.t.Helper()
	st, err := f.st.Extend([]*Entry{e})
	if err != nil {
		f.t.Fatal(err)
	}
	f.st = st
	f.entries = append(f.entries, e)
}

// forge signs op as the next entry on s without Append's checks: what a
// malicious or buggy client could send.
func forge(s *State, signer *Signer, op Op) *Entry {
	e := newEntry(s.Seq()+1, s.Head(), op, signer.id)
	e.sig = signer.sign(e.signedMessage(s.orgID))
	return e
}

// testKey is a deterministic EnvKey for the revision tests (known-answer
// vectors need fixed keys; realkey_test.go uses *crypto.EnvKey).
type testKey struct {
	env string
	v   int
	k   [32]byte
}

func newTestKey(env string, v int) *testKey {
	k := &testKey{env: env, v: v}
	k.k[0], k.k[1] = byte(v), byte(len(env))
	copy(k.k[2:], env)
	return k
}

func (k *testKey) EnvID() string { return k.env }
func (k *testKey) Version() int  { return k.v }
func (k *testKey) DeriveKey(info string) [32]byte {
	b, err := hkdf.Key(sha256.New, k.k[:], nil, info, 32)
	if err != nil {
		panic(err)
	}
	return [32]byte(b)
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
	if !errors.Is(err, ErrIntegrity) && target != ErrChainBehind && target != ErrOldToken {
		t.Fatalf("%v does not match ErrIntegrity", err)
	}
}
