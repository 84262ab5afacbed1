package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"
	"time"
)

func TestChainReplay(t *testing.T) {
	f := newFixture(t)
	st := f.st
	if st.OrgID() != "org_acme" || st.OrgName() != "Acme" || st.Seq() != 9 || st.Anchor() != f.entries[0].Hash() || st.Head() != f.entries[9].Hash() {
		t.Fatalf("head: org %q %q seq %d", st.OrgID(), st.OrgName(), st.Seq())
	}
	var roles []string
	for _, m := range st.Members() {
		roles = append(roles, m.Principal.Name()+"="+m.Role.String())
	}
	if want := []string{"alice@example.com=owner", "bob@example.com=admin", "carol@example.com=developer", "dave@example.com=viewer"}; !slices.Equal(roles, want) {
		t.Fatalf("members %v, want %v", roles, want)
	}
	if p, ok := st.Principal("usr_carol"); !ok || !p.Equal(f.carol.p) {
		t.Fatal("carol's identity is not the one added")
	}
	if st.Role("usr_erin") != 0 || st.Role("usr_bob") != Admin {
		t.Fatal("roles")
	}

	env, ok := st.LookupEnv("prj_web", "production")
	if !ok || env.ID != "env_prod" || env.KeyVersion != 1 || env.KeySeq != 6 {
		t.Fatalf("production = %+v", env)
	}
	if id, ok := st.LookupProject("web"); !ok || id != "prj_web" {
		t.Fatal("project lookup")
	}
	if _, ok := st.LookupEnv("prj_web", "staging"); ok {
		t.Fatal("found an environment that was never created")
	}

	for _, c := range []struct {
		who, env string
		seq      uint64
		want     Access
	}{
		{"usr_alice", "env_prod", 9, NoAccess}, // owners read only what they are granted
		{"usr_bob", "env_prod", 9, Write},      // env.create gives its signer write access
		{"usr_bob", "env_prod", 5, NoAccess},   // ... from the env.create on
		{"usr_carol", "env_dev", 6, NoAccess},
		{"usr_carol", "env_dev", 7, Write},
		{"usr_dave", "env_prod", 8, Read}, // a viewer granted write reads only
		{"usr_dave", "env_dev", 9, NoAccess},
		{f.token.ID(), "env_prod", 9, Read},
		{f.token.ID(), "env_prod", 8, NoAccess},
		{"usr_erin", "env_prod", 9, NoAccess},
		{"usr_carol", "env_dev", 10, NoAccess}, // beyond the head
	} {
		if got := st.Access(c.who, c.env, c.seq); got != c.want {
			t.Errorf("Access(%s, %s, %d) = %s, want %s", c.who, c.env, c.seq, got, c.want)
		}
	}
	var readers []string
	for _, p := range st.Readers("env_prod") {
		readers = append(readers, p.ID())
	}
	if want := []string{f.token.ID(), "usr_bob", "usr_carol", "usr_dave"}; !slices.Equal(readers, want) {
		t.Fatalf("readers %v, want %v", readers, want)
	}
	ti, ok := st.Token(f.token.ID())
	if !ok || ti.EnvID != "env_prod" || ti.Access != Read || ti.Revoked || !ti.Expires.IsZero() || ti.Principal.Name() != "ci" {
		t.Fatalf("token %+v", ti)
	}

	// Later changes: role, revoke, token revoke, rotation, removal.
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tok2, _ := GenerateToken(st.Anchor())
	tp2, _ := tok2.Principal("deploy")
	f.add(f.carol, CreateToken{Token: tp2, EnvID: "env_dev", Access: Write, Expires: exp}) // 10
	f.add(f.bob, SetRole{"usr_carol", Viewer})                                             // 11
	f.add(f.bob, RevokeAccess{"usr_carol", []string{"env_prod"}})                          // 12
	f.add(f.carol, RevokeToken{tok2.ID()})                                                 // 13: a viewer with access to dev
	f.add(f.bob, RotateKey{"env_prod", 2})                                                 // 14
	f.add(f.alice, RemoveMember{"usr_bob"})                                                // 15
	st = f.st
	if ti, _ := st.Token(tok2.ID()); !ti.Expires.Equal(exp) || !ti.Revoked || ti.Access != Write {
		t.Fatalf("token 2 %+v", ti)
	}
	for _, c := range []struct {
		who, env string
		seq      uint64
		want     Access
	}{
		{"usr_carol", "env_dev", 10, Write},
		{"usr_carol", "env_dev", 11, Read},
		{"usr_carol", "env_prod", 11, Read},
		{"usr_carol", "env_prod", 12, NoAccess},
		{tok2.ID(), "env_dev", 12, Write},
		{tok2.ID(), "env_dev", 13, NoAccess},
		{"usr_bob", "env_prod", 14, Write},
		{"usr_bob", "env_prod", 15, NoAccess},
	} {
		if got := st.Access(c.who, c.env, c.seq); got != c.want {
			t.Errorf("Access(%s, %s, %d) = %s, want %s", c.who, c.env, c.seq, got, c.want)
		}
	}
	if env, _ := st.Env("env_prod"); env.KeyVersion != 2 || env.KeySeq != 14 {
		t.Fatalf("after rotation %+v", env)
	}
	if st.Role("usr_bob") != 0 || len(st.Members()) != 3 {
		t.Fatal("bob is still a member")
	}
	if p, ok := st.Principal("usr_bob"); !ok || !p.Equal(f.bob.p) {
		t.Fatal("a removed member's identity must stay known, for old signatures")
	}
}

// TestEntryRoundTrip: every entry type survives Bytes/ParseEntry, and the
// parsed chain verifies to the same state from the token's anchor.
func TestEntryRoundTrip(t *testing.T) {
	f := newFixture(t)
	f.add(f.bob, SetRole{"usr_dave", Developer})
	f.add(f.bob, RevokeAccess{"usr_dave", []string{"env_prod"}})
	f.add(f.carol, RotateKey{"env_dev", 2})
	f.add(f.bob, RevokeToken{f.token.ID()})
	f.add(f.bob, RemoveMember{"usr_dave"})
	types := map[string]bool{}
	var parsed []*Entry
	for _, e := range f.entries {
		p, err := ParseEntry(e.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Bytes(), e.Bytes()) || p.Hash() != e.Hash() || p.Seq() != e.Seq() || p.Signer() != e.Signer() || p.Op().Type() != e.Op().Type() {
			t.Fatalf("entry %d changed in a round trip", e.Seq())
		}
		types[p.Op().Type()] = true
		parsed = append(parsed, p)
	}
	if len(types) != 11 {
		t.Fatalf("the fixture covers %d entry types, want all 11", len(types))
	}
	st, err := Verify(parsed, f.token.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.Bytes(), f.st.Bytes()) {
		t.Fatal("verifying the parsed chain gave another state")
	}
	if _, err := ParseEntry(append(f.entries[3].Bytes(), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// TestStateRoundTrip: a cached State resumes exactly where it was.
func TestStateRoundTrip(t *testing.T) {
	f := newFixture(t)
	cached := f.st.Bytes()
	st, err := ParseState(cached)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.Bytes(), cached) {
		t.Fatal("state changed in a round trip")
	}
	e := f.add(f.carol, RotateKey{"env_dev", 2})
	st2, err := st.Extend([]*Entry{e})
	if err != nil {
		t.Fatal(err)
	}
	full, err := Verify(f.entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st2.Bytes(), full.Bytes()) || !bytes.Equal(st2.Bytes(), f.st.Bytes()) {
		t.Fatal("a resumed state extended differently from a full verification")
	}
	if !bytes.Equal(st.Bytes(), cached) {
		t.Fatal("Extend changed the state it extended")
	}
	for i := range cached {
		bad := bytes.Clone(cached)
		bad[i] ^= 1
		if _, err := ParseState(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("corrupted cache byte %d: %v", i, err)
		}
	}
	if _, err := ParseState(cached[:20]); !errors.Is(err, ErrMalformed) {
		t.Fatal("truncated cache accepted")
	}
}

// TestExtendIncremental: a client fetching from its head, inclusive.
func TestExtendIncremental(t *testing.T) {
	f := newFixture(t)
	pinned := f.st
	e10 := f.add(f.carol, RotateKey{"env_dev", 2})
	e11 := f.add(f.bob, GrantAccess{"usr_dave", []string{"env_dev"}, Read})
	for name, batch := range map[string][]*Entry{
		"new only":       {e10, e11},
		"from head":      f.entries[9:],
		"whole chain":    f.entries,
		"head, no news":  f.entries[9:10],
		"older and head": f.entries[5:10],
	} {
		st, err := pinned.Extend(batch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := batch[len(batch)-1].Seq(); st.Seq() != max(want, 9) {
			t.Fatalf("%s: head %d", name, st.Seq())
		}
	}
	// Two clients' states extended from the same cached one do not interfere.
	a, _ := pinned.Extend([]*Entry{e10})
	other := forge(pinned, f.bob.s, GrantAccess{"usr_dave", []string{"env_dev"}, Read})
	b, err := pinned.Extend([]*Entry{other})
	if err != nil {
		t.Fatal(err)
	}
	if a.Head() == b.Head() || a.Access("usr_dave", "env_dev", 10) != NoAccess || b.Access("usr_dave", "env_dev", 10) != Read {
		t.Fatal("sibling extensions share state")
	}
}

func TestLongChainBatchVerify(t *testing.T) {
	entries, _ := buildChain(t, 300)
	st, err := Verify(entries, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A bad signature deep in a batch is reported at its own entry.
	bad := slices.Clone(entries)
	e, _ := ParseEntry(entries[200].Bytes())
	e.sig[0] ^= 1
	bad[200] = e
	_, err = Verify(bad, nil)
	wantErr(t, err, ErrBadSignature)
	if want := "org chain entry 200 "; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not name entry 200", err)
	}
	// ... even when a later entry is out of line too.
	bad[250] = entries[251]
	_, err = Verify(bad, nil)
	wantErr(t, err, ErrBadSignature)
	bad[200] = entries[200]
	_, err = Verify(bad, nil)
	wantErr(t, err, ErrBadPrev)
	if st.Seq() != 299 {
		t.Fatalf("head %d", st.Seq())
	}
}

// buildChain returns an org chain of n entries that uses every kind of
// entry the way an org would: projects, environments, members, grants,
// tokens, rotations and role changes. alice (the owner) signs most.
func buildChain(tb testing.TB, n int) ([]*Entry, *actor) {
	tb.Helper()
	alice := newActor(tb, "usr_alice", "alice@example.com")
	root, err := NewOrg(alice.s, alice.p, "org_big", "Big")
	if err != nil {
		tb.Fatal(err)
	}
	entries := []*Entry{root}
	st, _ := Verify(entries, nil)
	add := func(a *actor, op Op) {
		e, err := st.Append(a.s, op)
		if err != nil {
			tb.Fatalf("%s: %v", op.Type(), err)
		}
		if st, err = st.Extend([]*Entry{e}); err != nil {
			tb.Fatal(err)
		}
		entries = append(entries, e)
	}
	var prj, env string
	var users []*actor
	versions := map[string]int{}
	for i := 0; len(entries) < n; i++ {
		switch k := i % 10; {
		case k == 0 || prj == "":
			prj = fmt.Sprintf("prj_%d", i)
			add(alice, CreateProject{prj, prj})
		case k <= 2 || env == "":
			env = fmt.Sprintf("env_%d", i)
			versions[env] = 1
			add(alice, CreateEnv{env, prj, env})
		case k <= 5 || len(users) == 0:
			u := newActor(tb, fmt.Sprintf("usr_%d", i), fmt.Sprintf("u%d@example.com", i))
			users = append(users, u)
			add(alice, AddMember{u.p, Developer})
		case k == 6:
			add(alice, GrantAccess{users[len(users)-1].p.ID(), []string{env}, Write})
		case k == 7:
			tok, _ := GenerateToken(st.Anchor())
			tp, _ := tok.Principal(fmt.Sprintf("ci-%d", i))
			add(alice, CreateToken{Token: tp, EnvID: env, Access: Read})
		case k == 8:
			versions[env]++
			add(alice, RotateKey{env, versions[env]})
		default:
			add(alice, SetRole{users[0].p.ID(), Role(3 + i/10%2)})
		}
	}
	return entries, alice
}

// TestStateReadsOlderEncodings: a state cached by an older client
// (encoding 3, a CRC-32C trailer; encoding 2, a SHA-256 one) is still read,
// as the same state; a corrupted one is not, nor an older trailer under
// the current tag.
func TestStateReadsOlderEncodings(t *testing.T) {
	f := newFixture(t)
	cached := f.st.Bytes()
	for _, enc := range []struct {
		tag     string
		trailer func([]byte) []byte
	}{
		{stateTagCRC32C, func(b []byte) []byte {
			return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
		}},
		{stateTagSHA256, func(b []byte) []byte { sum := sha256.Sum256(b); return sum[:] }},
	} {
		body := bytes.Replace(cached[:len(cached)-4], []byte(stateTag), []byte(enc.tag), 1)
		old := append(append([]byte(nil), body...), enc.trailer(body)...)
		st, err := ParseState(old)
		if err != nil {
			t.Fatalf("%s: %v", enc.tag, err)
		}
		if !bytes.Equal(st.Bytes(), cached) {
			t.Fatalf("a %s state read as another state", enc.tag)
		}
		old[len(old)-1] ^= 1
		if _, err := ParseState(old); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a corrupted %s state: %v", enc.tag, err)
		}
		old[len(old)-1] ^= 1
		copy(old[4:], stateTag)
		if _, err := ParseState(old); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a %s trailer under the current tag: %v", enc.tag, err)
		}
	}
}

// TestStateNonCanonicalRefused: a state is read only in the one encoding
// Bytes gives it: keys out of order, or repeated (the later copy would
// replace the earlier), are refused under a valid checksum.
func TestStateNonCanonicalRefused(t *testing.T) {
	build := func(projects ...string) []byte {
		var e encoder
		e.str(stateTag)
		e.str("org_1")
		e.str("acme")
		e.u64(1)
		e.raw(make([]byte, 32))
		e.u64(0) // principals
		e.u64(uint64(len(projects)))
		for _, id := range projects {
			e.str(id)
			e.str("name of " + id)
			e.u64(1)
		}
		e.u64(0) // environments
		return binary.BigEndian.AppendUint32(e.b, stateChecksum(e.b))
	}
	st, err := ParseState(build("prj_a", "prj_b"))
	if err != nil {
		t.Fatalf("keys in order: %v", err)
	}
	if !bytes.Equal(st.Bytes(), build("prj_a", "prj_b")) {
		t.Fatal("a state in order does not re-encode to itself")
	}
	for _, bad := range [][]string{{"prj_b", "prj_a"}, {"prj_a", "prj_a"}} {
		if _, err := ParseState(build(bad...)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("projects %q: %v", bad, err)
		}
	}
}
