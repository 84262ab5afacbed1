package trust

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/secr-dev/secr/internal/crypto"
)

// sealed is one revision as the server stores it.
type sealed struct {
	h  *Header
	ct []byte
}

func (f *fixture) seal(a *actor, k EnvKey, prev *sealed, doc string) *sealed {
	f.t.Helper()
	var ph *Header
	if prev != nil {
		ph = prev.h
	}
	h, ct, err := f.st.SealRevision(a.s, k, ph, []byte(doc))
	if err != nil {
		f.t.Fatal(err)
	}
	return &sealed{h, ct}
}

func TestRevisionRoundTrip(t *testing.T) {
	f := newFixture(t)
	k := newTestKey("env_dev", 1)
	r1 := f.seal(f.carol, k, nil, `{"API_KEY":"one"}`)
	r2 := f.seal(f.bob, k, r1, `{"API_KEY":"two"}`)
	if r1.h.Revision() != 1 || r2.h.Revision() != 2 || r2.h.Author() != "usr_bob" || r2.h.ChainSeq() != 9 || r2.h.KeyVersion() != 1 || r2.h.EnvID() != "env_dev" {
		t.Fatalf("header fields %+v", r2.h)
	}
	h, err := ParseHeader(r2.h.Bytes())
	if err != nil || !bytes.Equal(h.Bytes(), r2.h.Bytes()) || h.Position() != r2.h.Position() {
		t.Fatalf("header round trip: %v", err)
	}
	doc, err := f.st.OpenLatest("env_dev", h, r2.ct, k)
	if err != nil || string(doc) != `{"API_KEY":"two"}` {
		t.Fatalf("open: %q %v", doc, err)
	}
	if doc, err := f.st.OpenRevision("env_dev", r1.h, r1.ct, k); err != nil || string(doc) != `{"API_KEY":"one"}` {
		t.Fatalf("open r1: %q %v", doc, err)
	}
	if err := CheckLinks(Position{}, []*Header{r1.h, r2.h}); err != nil {
		t.Fatal(err)
	}
	if len(r1.ct) != 24+256+16 {
		t.Fatalf("ciphertext of a small document is %d bytes, want one 256-byte bucket", len(r1.ct))
	}
	// A token with write access signs with its derived key.
	tok, _ := GenerateToken(f.st.Anchor())
	tp, _ := tok.Principal("deploy")
	f.add(f.carol, CreateToken{Token: tp, EnvID: "env_dev", Access: Write})
	r3 := f.seal(&actor{p: tp, box: tok.Identity(), s: tok.Signer()}, k, r2, "{}")
	if err := f.st.VerifyHeader(r3.h); err != nil {
		t.Fatal(err)
	}
	// Wrong key, wrong ciphertext.
	if _, err := f.st.OpenLatest("env_dev", r3.h, r3.ct, newTestKey("env_prod", 1)); err == nil {
		t.Fatal("opened with another environment's key")
	}
	other := newTestKey("env_dev", 1)
	other.k[31] ^= 1
	if _, err := f.st.OpenLatest("env_dev", r3.h, r3.ct, other); !errors.Is(err, crypto.ErrDecrypt) {
		t.Fatalf("wrong key bytes: %v", err)
	}
	ct := bytes.Clone(r3.ct)
	ct[30] ^= 1
	_, err = f.st.OpenLatest("env_dev", r3.h, ct, k)
	wantErr(t, err, ErrBadSignature)
}

func TestGrantRoundTrip(t *testing.T) {
	f := newFixture(t)
	ek, err := crypto.GenerateEnvKey("env_prod", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []struct {
		id  string
		box *crypto.Identity
	}{{"usr_carol", f.carol.box}, {"usr_dave", f.dave.box}, {f.token.ID(), f.token.Identity()}} {
		g, err := f.st.MakeGrant(f.bob.s, ek, to.id)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := ParseGrant(g.Bytes())
		if err != nil || !bytes.Equal(g2.Bytes(), g.Bytes()) || g2.EnvID() != "env_prod" || g2.KeyVersion() != 1 || g2.Recipient() != to.id || g2.Granter() != "usr_bob" {
			t.Fatalf("grant round trip: %v", err)
		}
		got, err := f.st.OpenGrant(g2, to.box)
		if err != nil || got.EnvID() != "env_prod" || got.Version() != 1 {
			t.Fatalf("open grant for %s: %v", to.id, err)
		}
		// The unwrapped key is the granter's: it opens what the granter sealed.
		s1, _ := crypto.SealRevision(ek, 1, []byte("x"))
		if pt, err := crypto.OpenRevision(got, 1, s1); err != nil || string(pt) != "x" {
			t.Fatalf("unwrapped key differs: %v", err)
		}
	}
	// Someone else's key cannot open a grant, and the chain says whose it is.
	g, _ := f.st.MakeGrant(f.bob.s, ek, "usr_carol")
	_, err = f.st.OpenGrant(g, f.dave.box)
	wantErr(t, err, ErrInvalid)
	// A client completing grants refuses recipients the chain does not admit.
	for _, id := range []string{"usr_erin", "usr_alice"} {
		if _, err := f.st.MakeGrant(f.bob.s, ek, id); err == nil {
			t.Fatalf("granted env_prod to %s, who has no access", id)
		}
	}
	if _, err := f.st.MakeGrant(f.alice.s, ek, "usr_carol"); err == nil {
		t.Fatal("alice granted a key she may not hold")
	}
}

func TestPadding(t *testing.T) {
	for _, c := range []struct{ n, bucket int }{
		{0, 256}, {1, 256}, {252, 256}, {253, 272}, {268, 272}, {269, 288}, {1020, 1024}, {1021, 1088},
		{1 << 20, 1<<20 + 1<<15}, {4 << 20, 4<<20 + 1<<17},
	} {
		doc := bytes.Repeat([]byte{0xa5}, c.n)
		p, err := pad(doc)
		if err != nil || len(p) != c.bucket {
			t.Fatalf("pad(%d bytes) = %d bytes (%v), want %d", c.n, len(p), err, c.bucket)
		}
		got, err := unpad(p)
		if err != nil || !bytes.Equal(got, doc) {
			t.Fatalf("unpad(pad(%d bytes)): %v", c.n, err)
		}
	}
	good, _ := pad([]byte("hello"))
	bad := map[string][]byte{
		"empty":            nil,
		"short":            good[:255],
		"not a bucket":     append(bytes.Clone(good), 0),
		"non-zero padding": func() []byte { b := bytes.Clone(good); b[200] = 1; return b }(),
		"last byte":        func() []byte { b := bytes.Clone(good); b[255] = 0x80; return b }(),
		"length too long":  func() []byte { b := bytes.Clone(good); b[0] = 1; return b }(),
		"length = size":    func() []byte { b := bytes.Clone(good); b[2], b[3] = 1, 0; return b }(),
		"over-padded":      append(bytes.Clone(good), make([]byte, 256)...), // 5 bytes in a 512-byte bucket
		"length just over": func() []byte { b := bytes.Clone(good); b[3] = 253; return b }(),
		"all ones":         bytes.Repeat([]byte{0xff}, 256),
	}
	for name, p := range bad {
		if _, err := unpad(p); err == nil {
			t.Errorf("unpad accepted %s", name)
		}
	}
	// Padding costs at most 12%, and every size maps to one bucket.
	for n := 0; n < 1<<22; n += 1 + n/7 {
		b := bucket(n)
		if b < n+4 || b > minBucket && float64(b) > 1.12*float64(n+4) || bucket(b-4) != b {
			t.Fatalf("bucket(%d) = %d", n, b)
		}
	}
}

func TestCheckLinks(t *testing.T) {
	f := newFixture(t)
	k := newTestKey("env_dev", 1)
	var revs []*sealed
	var prev *sealed
	for i := range 5 {
		prev = f.seal(f.carol, k, prev, fmt.Sprint(i))
		revs = append(revs, prev)
	}
	hs := func(idx ...int) []*Header {
		var out []*Header
		for _, i := range idx {
			out = append(out, revs[i].h)
		}
		return out
	}
	seen := revs[1].h.Position()
	for name, c := range map[string]struct {
		from Position
		hs   []*Header
		want error
	}{
		"whole history":      {Position{}, hs(0, 1, 2, 3, 4), nil},
		"since seen":         {seen, hs(2, 3, 4), nil},
		"seen, repeated":     {seen, hs(1, 2, 3, 4), nil},
		"nothing new":        {seen, hs(1), nil},
		"dropped":            {Position{}, hs(0, 1, 3, 4), ErrBrokenHistory},
		"dropped since seen": {seen, hs(3, 4), ErrBrokenHistory},
		"reordered":          {Position{}, hs(0, 2, 1, 3), ErrBrokenHistory},
		"not from the start": {Position{}, hs(1, 2), ErrBrokenHistory},
		"rolled back":        {revs[3].h.Position(), hs(1, 2), ErrRollback},
		"other revision 2":   {seen, []*Header{revs[0].h}, ErrRollback},
		"replaced seen":      {Position{2, [32]byte{1}}, hs(1, 2), ErrBrokenHistory},
		"duplicated":         {Position{}, hs(0, 1, 1, 2), ErrBrokenHistory},
	} {
		err := CheckLinks(c.from, c.hs)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// TestRotationFlow: removing a member as RotateKey describes it, then a
// remaining reader with the new chain reads the re-sealed revision, and the
// removed member's old grant does not let anyone write.
func TestRotationFlow(t *testing.T) {
	f := newFixture(t)
	v1 := newTestKey("env_prod", 1)
	r1 := f.seal(f.carol, v1, nil, `{"K":"old"}`)

	f.add(f.alice, RemoveMember{"usr_dave"})
	// bob's client: one unit of key.rotate, grants and re-sealed revision.
	rot, err := f.st.Append(f.bob.s, RotateKey{"env_prod", 2})
	if err != nil {
		t.Fatal(err)
	}
	local, err := f.st.Extend([]*Entry{rot})
	if err != nil {
		t.Fatal(err)
	}
	ek2, _ := crypto.GenerateEnvKey("env_prod", 2)
	var grants []*Grant
	for _, p := range local.Readers("env_prod") {
		g, err := local.MakeGrant(f.bob.s, ek2, p.ID())
		if err != nil {
			t.Fatal(err)
		}
		grants = append(grants, g)
	}
	if len(grants) != 3 { // bob, carol and the token; not dave
		t.Fatalf("%d grants", len(grants))
	}
	v2 := newTestKey("env_prod", 2)
	h, ct, err := local.SealRevision(f.bob.s, v2, r1.h, []byte(`{"K":"old"}`))
	if err != nil {
		t.Fatal(err)
	}

	// carol, after the server committed all of it.
	carol, err := f.st.Extend([]*Entry{rot})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckLinks(r1.h.Position(), []*Header{h}); err != nil {
		t.Fatal(err)
	}
	if doc, err := carol.OpenLatest("env_prod", h, ct, v2); err != nil || string(doc) != `{"K":"old"}` {
		t.Fatalf("%q %v", doc, err)
	}
	for _, g := range grants {
		if g.Recipient() == "usr_carol" {
			if k, err := carol.OpenGrant(g, f.carol.box); err != nil || k.Version() != 2 {
				t.Fatal(err)
			}
		}
	}
	// Before the rotation committed, the re-sealed revision is from the future.
	if err := f.st.VerifyHeader(h); err != ErrChainBehind {
		t.Fatalf("%v, want ErrChainBehind", err)
	}
}
