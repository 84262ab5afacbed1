package trust

// One test per attack a lying server (or anyone who can write its
// database) could try, from TRUST.md. Each is refused with an error that
// matches ErrIntegrity and names what failed.

import (
	"errors"
	"slices"
	"testing"

	"github.com/secr-dev/secr/internal/crypto"
)

func TestAttackForgedSignature(t *testing.T) {
	f := newFixture(t)
	e, _ := f.st.Append(f.bob.s, GrantAccess{"usr_dave", []string{"env_dev"}, Read})
	e.sig[10] ^= 0x40
	_, err := f.st.Extend([]*Entry{e})
	wantErr(t, err, ErrBadSignature)

	// erin signs with her own key but names bob as the signer.
	impostor := NewSigner("usr_bob", f.erin.s.key)
	_, err = f.st.Extend([]*Entry{forge(f.st, impostor, AddMember{f.erin.p, Admin})})
	wantErr(t, err, ErrBadSignature)
	if _, err := f.st.Append(impostor, AddMember{f.erin.p, Admin}); err == nil {
		t.Fatal("Append signed with a key the chain does not hold for the signer")
	}
}

func TestAttackUnauthorizedSigner(t *testing.T) {
	f := newFixture(t)
	for name, c := range map[string]struct {
		by *actor
		op Op
	}{
		"developer adds a member":      {f.carol, AddMember{f.erin.p, Viewer}},
		"viewer creates an env":        {f.dave, CreateEnv{"env_x", "prj_web", "x"}},
		"developer grants access":      {f.carol, GrantAccess{"usr_dave", []string{"env_dev"}, Write}},
		"admin adds an owner":          {f.bob, AddMember{f.erin.p, Owner}},
		"admin promotes self":          {f.bob, SetRole{"usr_bob", Owner}},
		"admin removes the owner":      {f.bob, RemoveMember{"usr_alice"}},
		"non-member signs":             {f.erin, CreateProject{"prj_x", "x"}},
		"owner without access rotates": {f.alice, RotateKey{"env_prod", 2}},
		"viewer makes a write token":   {f.dave, CreateToken{Token: mustTokenPrincipal(t, f), EnvID: "env_prod", Access: Write}},
	} {
		_, err := f.st.Extend([]*Entry{forge(f.st, c.by.s, c.op)})
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", name, err)
		}
		if _, err := f.st.Append(c.by.s, c.op); err == nil {
			t.Errorf("%s: Append signed it", name)
		}
	}

	// A token, even one with access, signs no chain entries.
	_, err := f.st.Extend([]*Entry{forge(f.st, f.token.Signer(), RotateKey{"env_prod", 2})})
	wantErr(t, err, ErrUnauthorized)

	// A removed member signs after their removal.
	f.add(f.alice, RemoveMember{"usr_bob"})
	_, err = f.st.Extend([]*Entry{forge(f.st, f.bob.s, AddMember{f.erin.p, Admin})})
	wantErr(t, err, ErrUnauthorized)
	// Not even by pretending to be earlier: the entry would not link.
	e := newEntry(9, f.entries[8].Hash(), AddMember{f.erin.p, Admin}, "usr_bob")
	e.sig = f.bob.s.sign(e.signedMessage("org_acme"))
	_, err = f.st.Extend([]*Entry{e})
	wantErr(t, err, ErrFork)
}

func mustTokenPrincipal(t *testing.T, f *fixture) *Principal {
	tok, _ := GenerateToken(f.st.Anchor())
	p, err := tok.Principal("x")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAttackRuleBreaking(t *testing.T) {
	f := newFixture(t)
	for name, op := range map[string]Op{
		"member twice":         AddMember{f.carol.p, Viewer},
		"env in no project":    CreateEnv{"env_x", "prj_none", "x"},
		"env name taken":       CreateEnv{"env_x", "prj_web", "production"},
		"env ID taken":         CreateEnv{"env_dev", "prj_web", "other"},
		"project name taken":   CreateProject{"prj_x", "web"},
		"grant unknown env":    GrantAccess{"usr_carol", []string{"env_none"}, Read},
		"grant non-member":     GrantAccess{"usr_erin", []string{"env_dev"}, Read},
		"revoke never granted": RevokeAccess{"usr_dave", []string{"env_dev"}},
		"rotate skips":         RotateKey{"env_prod", 3},
		"second root":          CreateOrg{"org_acme", "Acme", f.bob.p},
		"token reuses an ID":   CreateToken{Token: &Principal{id: "usr_carol", kind: KindToken, name: "x"}, EnvID: "env_prod", Access: Read},
		"role of a token":      SetRole{f.token.ID(), Admin},
	} {
		_, err := f.st.Extend([]*Entry{forge(f.st, f.bob.s, op)})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// The last owner stays.
	_, err := f.st.Extend([]*Entry{forge(f.st, f.alice.s, SetRole{"usr_alice", Admin})})
	wantErr(t, err, ErrInvalid)
	_, err = f.st.Extend([]*Entry{forge(f.st, f.alice.s, RemoveMember{"usr_alice"})})
	wantErr(t, err, ErrInvalid)
}

func TestAttackViewerWrites(t *testing.T) {
	f := newFixture(t)
	k := newTestKey("env_prod", 1)
	if _, _, err := f.st.SealRevision(f.dave.s, k, nil, []byte("{}")); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("viewer sealed: %v", err)
	}
	// The viewer's client is bypassed: dave signs a header himself.
	h := forgeHeader(f, f.dave, k, nil, f.st.Seq())
	wantErr(t, f.st.VerifyHeader(h), ErrUnauthorized)
	// A read-only token too.
	ci := f.token.Signer()
	wantErr(t, f.st.VerifyHeader(forgeHeader(f, &actor{s: ci}, k, nil, f.st.Seq())), ErrUnauthorized)
}

// forgeHeader signs a header as a with no checks, for chainSeq.
func forgeHeader(f *fixture, a *actor, k EnvKey, prev *Header, chainSeq uint64) *Header {
	h := &Header{envID: k.EnvID(), keyVersion: k.Version(), revision: 1, author: a.s.id, chainSeq: chainSeq}
	if prev != nil {
		h.revision, h.prev = prev.revision+1, prev.Hash()
	}
	h.ctHash[0] = 1
	h.sig = a.s.sign(h.signedMessage(f.st.Anchor()))
	return h
}

func TestAttackTokenInjection(t *testing.T) {
	f := newFixture(t)
	tok, _ := GenerateToken(f.st.Anchor())
	tp, _ := tok.Principal("evil")
	for name, by := range map[string]*actor{"non-member": f.erin, "member without access": f.alice} {
		_, err := f.st.Extend([]*Entry{forge(f.st, by.s, CreateToken{Token: tp, EnvID: "env_prod", Access: Read})})
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A token the chain never recorded cannot author revisions...
	h := forgeHeader(f, &actor{s: tok.Signer()}, newTestKey("env_prod", 1), nil, f.st.Seq())
	wantErr(t, f.st.VerifyHeader(h), ErrUnauthorized)
	// ... and nobody's client will wrap a key to it.
	ek, _ := crypto.GenerateEnvKey("env_prod", 1)
	if _, err := f.st.MakeGrant(f.bob.s, ek, tok.ID()); err == nil {
		t.Fatal("wrapped a key to an injected token")
	}
}

// TestAttackEnvNameSwap: the server serves production's name for
// development's ID, or development's data when asked for production.
func TestAttackEnvNameSwap(t *testing.T) {
	f := newFixture(t)
	// Rewriting the env.create entries breaks their signatures.
	e5, _ := ParseEntry(f.entries[5].Bytes())
	swapped := CreateEnv{"env_dev", "prj_web", "production"}
	e := newEntry(5, e5.prev, swapped, e5.signer)
	e.sig = e5.sig
	chain := slices.Clone(f.entries)
	chain[5] = e
	_, err := Verify(chain, nil)
	wantErr(t, err, ErrBadSignature)

	// The chain answers names with the IDs it signed.
	env, _ := f.st.LookupEnv("prj_web", "production")
	if env.ID != "env_prod" {
		t.Fatalf("production is %q", env.ID)
	}
	// The server answers a request for production with development's
	// (authentic) revision and key: the client refuses it.
	dev := newTestKey("env_dev", 1)
	r := f.seal(f.carol, dev, nil, `{"DATABASE_URL":"dev"}`)
	_, err = f.st.OpenLatest(env.ID, r.h, r.ct, dev)
	wantErr(t, err, ErrInvalid)
}

// TestAttackForkAndTruncation: a pinned client against a server that
// rewrites, forks or shortens the chain.
func TestAttackForkAndTruncation(t *testing.T) {
	f := newFixture(t)
	pinned, err := ParseState(f.st.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	// Two valid successors of the same head: the server shows one to us
	// and the other to someone else.
	ours := f.add(f.bob, GrantAccess{"usr_dave", []string{"env_dev"}, Read})
	theirs := forge(pinned, f.bob.s, GrantAccess{"usr_erin_never", []string{"env_dev"}, Read})
	pinned, err = pinned.Extend([]*Entry{ours})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pinned.Extend([]*Entry{theirs})
	wantErr(t, err, ErrFork)
	_, err = pinned.Extend([]*Entry{f.entries[9], theirs})
	wantErr(t, err, ErrFork)

	// A rewrite deep in the past, served as a whole new valid chain.
	st4, _ := Verify(f.entries[:5], nil)
	alt := forge(st4, f.bob.s, CreateEnv{"env_dev", "prj_web", "dev"})
	rewritten := append(slices.Clone(f.entries[:5]), alt)
	_, err = pinned.Extend(rewritten)
	wantErr(t, err, ErrFork)

	// A fork before the pinned head, served from the head onwards only:
	// the first new entry does not link to the head.
	st8, _ := Verify(f.entries[:9], nil)
	alt9 := forge(st8, f.bob.s, GrantAccess{"usr_dave", []string{"env_dev"}, Read})
	st9, err := st8.Extend([]*Entry{alt9})
	if err != nil {
		t.Fatal(err)
	}
	alt10 := forge(st9, f.bob.s, GrantAccess{"usr_carol", []string{"env_dev"}, Read})
	headOnly, _ := ParseState(f.entries9State(t).Bytes())
	_, err = headOnly.Extend([]*Entry{alt10})
	wantErr(t, err, ErrFork)

	// Truncation: shorter than the pinned head, or nothing at all.
	_, err = pinned.Extend(f.entries[:8])
	wantErr(t, err, ErrTruncated)
	_, err = pinned.Extend(nil)
	wantErr(t, err, ErrTruncated)

	// Another org's chain, against the pinned anchor and a token's.
	other := newFixture(t)
	_, err = pinned.Extend(other.entries)
	wantErr(t, err, ErrWrongAnchor)
	anchor := pinned.Anchor()
	_, err = Verify(other.entries, anchor[:])
	wantErr(t, err, ErrWrongAnchor)
	_, err = Verify(other.entries, f.token.Anchor())
	wantErr(t, err, ErrWrongAnchor)
	if _, err := Verify(f.entries, f.token.Anchor()); err != nil {
		t.Fatalf("own chain from the token's anchor: %v", err)
	}

	// From scratch: dropped and reordered entries do not link.
	dropped := slices.Delete(slices.Clone(f.entries), 4, 5)
	_, err = Verify(dropped, nil)
	wantErr(t, err, ErrBadPrev)
	reordered := slices.Clone(f.entries)
	reordered[3], reordered[4] = reordered[4], reordered[3]
	_, err = Verify(reordered, nil)
	wantErr(t, err, ErrBadPrev)
	_, err = Verify(f.entries[1:], nil)
	wantErr(t, err, ErrBadPrev)
}

// TestAttackReplayedGrant: after a rotation, the server replays an old
// grant, or makes one of its own.
func TestAttackReplayedGrant(t *testing.T) {
	f := newFixture(t)
	v1, _ := crypto.GenerateEnvKey("env_dev", 1)
	old, err := f.st.MakeGrant(f.bob.s, v1, "usr_carol")
	if err != nil {
		t.Fatal(err)
	}
	// bob's access is revoked and carol rotates.
	f.add(f.alice, RevokeAccess{"usr_bob", []string{"env_dev"}})
	f.add(f.carol, RotateKey{"env_dev", 2})

	// The old grant still opens (old revisions stay readable)...
	k, err := f.st.OpenGrant(old, f.carol.box)
	if err != nil || k.Version() != 1 {
		t.Fatalf("old grant: %v", err)
	}
	// ... but nothing is written under it, and a revision sealed under it
	// is not accepted as the newest.
	_, _, err = f.st.SealRevision(f.carol.s, newTestKey("env_dev", k.Version()), nil, []byte("{}"))
	wantErr(t, err, ErrStaleKey)
	pre, _ := Verify(f.entries[:11], nil) // before the rotation
	h, ct, err := pre.SealRevision(f.carol.s, newTestKey("env_dev", 1), nil, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.st.OpenLatest("env_dev", h, ct, newTestKey("env_dev", 1))
	wantErr(t, err, ErrStaleKey)

	// bob kept v1; a v2 grant signed by him is refused: he had no access
	// while v2 was current.
	v2, _ := crypto.GenerateEnvKey("env_dev", 2)
	forged := &Grant{envID: "env_dev", version: 2, recipient: "usr_carol", granter: "usr_bob"}
	forged.wrapped, _ = crypto.WrapKey(v2, f.carol.p.Recipient())
	forged.sig = f.bob.s.sign(forged.signedMessage(f.st.Anchor()))
	_, err = f.st.OpenGrant(forged, f.carol.box)
	wantErr(t, err, ErrUnauthorized)

	// The server's own wrap: signed by a non-member, or by nobody (a real
	// grant's signature kept over the substituted blob).
	forged.granter = "usr_erin"
	forged.sig = f.erin.s.sign(forged.signedMessage(f.st.Anchor()))
	_, err = f.st.OpenGrant(forged, f.carol.box)
	wantErr(t, err, ErrUnauthorized)
	real, err := f.st.MakeGrant(f.carol.s, v2, "usr_dave")
	if err == nil {
		t.Fatal("granted env_dev to dave, who has no access")
	}
	f.add(f.alice, GrantAccess{"usr_dave", []string{"env_dev"}, Read})
	if real, err = f.st.MakeGrant(f.carol.s, v2, "usr_dave"); err != nil {
		t.Fatal(err)
	}
	serverKey, _ := crypto.GenerateEnvKey("env_dev", 2)
	real.wrapped, _ = crypto.WrapKey(serverKey, f.dave.p.Recipient())
	_, err = f.st.OpenGrant(real, f.dave.box)
	wantErr(t, err, ErrBadSignature)

	// A version the chain has not introduced.
	v3, _ := crypto.GenerateEnvKey("env_dev", 3)
	future := &Grant{envID: "env_dev", version: 3, recipient: "usr_dave", granter: "usr_carol"}
	future.wrapped, _ = crypto.WrapKey(v3, f.dave.p.Recipient())
	future.sig = f.carol.s.sign(future.signedMessage(f.st.Anchor()))
	_, err = f.st.OpenGrant(future, f.dave.box)
	wantErr(t, err, ErrStaleKey)
}

// TestAttackRevisionClaimsOldSeq: a revision naming a chain position from
// before the key.rotate that introduced its key version, and a removed
// member's "late" revision.
func TestAttackRevisionClaimsOldSeq(t *testing.T) {
	f := newFixture(t)
	v1, v2 := newTestKey("env_dev", 1), newTestKey("env_dev", 2)
	r1 := f.seal(f.carol, v1, nil, "{}")
	f.add(f.alice, RemoveMember{"usr_bob"}) // 10
	f.add(f.carol, RotateKey{"env_dev", 2}) // 11
	r2 := f.seal(f.carol, v2, r1, "{}")

	// bob, removed, writes under v2 (say he learnt it) claiming seq 9,
	// when he could still write: v2 did not exist there.
	late := forgeHeader(f, f.bob, v2, r2.h, 9)
	wantErr(t, f.st.VerifyHeader(late), ErrStaleKey)
	// Under v1 at seq 9 the header itself is consistent, but it is not
	// the current key: it cannot be the newest revision.
	late = forgeHeader(f, f.bob, v1, r2.h, 9)
	if err := f.st.VerifyHeader(late); err != nil {
		t.Fatalf("a consistent historical header: %v", err)
	}
	_, err := f.st.OpenLatest("env_dev", late, nil, v1)
	wantErr(t, err, ErrStaleKey)
	// Claiming the present, he is not a member.
	wantErr(t, f.st.VerifyHeader(forgeHeader(f, f.bob, v2, r2.h, 11)), ErrUnauthorized)
	// carol herself cannot claim a seq before the rotation for v2.
	wantErr(t, f.st.VerifyHeader(forgeHeader(f, f.carol, v2, r2.h, 10)), ErrStaleKey)
	// A position the client has not verified yet.
	if err := f.st.VerifyHeader(forgeHeader(f, f.carol, v2, r2.h, 12)); err != ErrChainBehind {
		t.Fatalf("future chain seq: %v", err)
	}
}

// TestAttackRevisionHistory: dropped, reordered and re-attributed revisions.
func TestAttackRevisionHistory(t *testing.T) {
	f := newFixture(t)
	k := newTestKey("env_dev", 1)
	r1 := f.seal(f.carol, k, nil, "1")
	r2 := f.seal(f.bob, k, r1, "2")
	r3 := f.seal(f.carol, k, r2, "3")

	wantErr(t, CheckLinks(Position{}, []*Header{r1.h, r3.h}), ErrBrokenHistory)       // dropped
	wantErr(t, CheckLinks(Position{}, []*Header{r2.h, r1.h, r3.h}), ErrBrokenHistory) // reordered
	wantErr(t, CheckLinks(r3.h.Position(), []*Header{r2.h}), ErrRollback)             // rolled back

	// Re-attributed: r2 presented as carol's.
	h, _ := ParseHeader(r2.h.Bytes())
	h.author = "usr_carol"
	_, err := f.st.OpenRevision("env_dev", h, r2.ct, k)
	wantErr(t, err, ErrBadSignature)
	// Re-attributed and re-linked: r3 now names a header that differs from r2.
	wantErr(t, CheckLinks(Position{}, []*Header{r1.h, h, r3.h}), ErrBrokenHistory)
	// A different ciphertext under r2's header.
	_, err = f.st.OpenRevision("env_dev", r2.h, r3.ct, k)
	wantErr(t, err, ErrBadSignature)
}

// entries9State verifies the fixture's first ten entries (seq 0 to 9).
func (f *fixture) entries9State(t *testing.T) *State {
	st, err := Verify(f.entries[:10], nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAttackCrossOrgReplay: the same people, keys and IDs in two orgs. A
// revision or grant made in one is refused in the other, because both
// signatures cover the org anchor.
func TestAttackCrossOrgReplay(t *testing.T) {
	a := newFixture(t)
	b := newFixtureOf(t, "Other", a)
	if a.st.Anchor() == b.st.Anchor() {
		t.Fatal("the two orgs share an anchor")
	}
	k := newTestKey("env_dev", 1)
	r := a.seal(a.carol, k, nil, "{}")
	_, err := b.st.OpenLatest("env_dev", r.h, r.ct, k)
	wantErr(t, err, ErrBadSignature)

	ek, _ := crypto.GenerateEnvKey("env_dev", 1)
	g, err := a.st.MakeGrant(a.bob.s, ek, "usr_carol")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.st.OpenGrant(g, b.carol.box)
	wantErr(t, err, ErrBadSignature)
	if _, err := a.st.OpenGrant(g, a.carol.box); err != nil {
		t.Fatal(err)
	}
}
