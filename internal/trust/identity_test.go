package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the current code")

// TestKnownAnswers pins every encoding, derivation and signature that is
// stored or compared by people: a change to any of them would make existing
// chains, tokens or safety numbers stop verifying. Ed25519 signatures are
// deterministic, so whole signed entries and headers are pinned.
func TestKnownAnswers(t *testing.T) {
	alice := seededActor(t, "usr_alice", "alice@example.com", 1)
	bob := seededActor(t, "usr_bob", "bob@example.com", 2)
	got := map[string]string{}
	fp := alice.p.Fingerprint()
	got["principal"] = hex.EncodeToString(alice.p.Bytes())
	got["principal_fingerprint"] = hex.EncodeToString(fp[:])
	got["principal_safety_number"] = alice.p.SafetyNumber()
	got["signing_key"] = alice.s.key.String()

	var tok Token
	for i := range tok.id {
		tok.id[i], tok.anchor[i] = 0x10+byte(i), 0x30+byte(i)
	}
	for i := range tok.secret {
		tok.secret[i] = 0x20 + byte(i)
	}
	tp, err := tok.Principal("ci")
	if err != nil {
		t.Fatal(err)
	}
	got["token"] = tok.String()
	got["token_id"] = tok.ID()
	got["token_auth_key"] = hex.EncodeToString(tok.AuthKey())
	got["token_principal"] = hex.EncodeToString(tp.Bytes())

	root, err := NewOrg(alice.s, alice.p, "org_acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	st, err := Verify([]*Entry{root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	anchor := st.Anchor()
	got["entry_0"] = hex.EncodeToString(root.Bytes())
	got["anchor"] = hex.EncodeToString(anchor[:])
	e1, err := st.Append(alice.s, AddMember{bob.p, Admin})
	if err != nil {
		t.Fatal(err)
	}
	got["entry_1"] = hex.EncodeToString(e1.Bytes())

	h := &Header{envID: "env_dev", keyVersion: 2, revision: 7, author: "usr_alice", chainSeq: 5}
	for i := range h.prev {
		h.prev[i], h.ctHash[i] = 0x40+byte(i), 0x60+byte(i)
	}
	h.sig = alice.s.sign(h.signedMessage(anchor))
	link := h.Hash()
	got["header"] = hex.EncodeToString(h.Bytes())
	got["header_hash"] = hex.EncodeToString(link[:])

	g := &Grant{envID: "env_dev", version: 2, recipient: "usr_bob", granter: "usr_alice", wrapped: []byte("wrapped key")}
	g.sig = alice.s.sign(g.signedMessage(anchor))
	got["grant"] = hex.EncodeToString(g.Bytes())

	var inv Invite
	copy(inv.secret[:], tok.secret[:16])
	copy(inv.anchor[:], anchor[:16])
	got["invite"] = inv.String()
	got["invite_id"] = inv.ID()
	got["invite_mac"] = hex.EncodeToString(inv.MAC(alice.p))

	const path = "testdata/vectors.json"
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Errorf("%s has %d vectors, the test makes %d", path, len(want), len(got))
	}
	for k, v := range got {
		if want[k] != v {
			t.Errorf("%s = %s, want %s", k, v, want[k])
		}
	}

	// The vectors parse back to what made them.
	if p, err := ParsePrincipal(alice.p.Bytes()); err != nil || !p.Equal(alice.p) {
		t.Errorf("principal round trip: %v", err)
	}
	if e, err := ParseEntry(mustHex(t, want["entry_1"])); err != nil || !bytes.Equal(e.Bytes(), e1.Bytes()) {
		t.Errorf("entry round trip: %v", err)
	}
	if h2, err := ParseHeader(mustHex(t, want["header"])); err != nil || h2.Hash() != link {
		t.Errorf("header round trip: %v", err)
	}
	if g2, err := ParseGrant(mustHex(t, want["grant"])); err != nil || !bytes.Equal(g2.Bytes(), g.Bytes()) {
		t.Errorf("grant round trip: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPrincipalEncodingLayout rebuilds the canonical encoding by hand from
// its definition, so the known answer is not only "what the code did once".
func TestPrincipalEncodingLayout(t *testing.T) {
	a := seededActor(t, "usr_alice", "alice@example.com", 1)
	lp := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	var want []byte
	want = append(want, lp("secr/v2/principal")...)
	want = append(want, lp("usr_alice")...)
	want = append(want, byte(KindUser))
	want = append(want, lp("alice@example.com")...)
	box, _ := recipientBytes(a.box.Recipient())
	want = append(want, box[:]...)
	want = append(want, a.s.key.priv.Public().(ed25519.PublicKey)...)
	if !bytes.Equal(a.p.Bytes(), want) {
		t.Fatalf("encoding\n%x\nwant\n%x", a.p.Bytes(), want)
	}
	if a.p.Fingerprint() != sha256.Sum256(want) {
		t.Fatal("fingerprint is not SHA-256 of the encoding")
	}
}

func TestPrincipalRoundTrip(t *testing.T) {
	a := newActor(t, "usr_1", "ünïcode@example.com")
	p, err := ParsePrincipal(a.p.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(a.p) || p.ID() != "usr_1" || p.Kind() != KindUser || p.Name() != "ünïcode@example.com" ||
		p.Recipient().String() != a.box.Recipient().String() || p.SafetyNumber() != a.p.SafetyNumber() {
		t.Fatalf("round trip changed the principal")
	}
	if _, err := ParsePrincipal(append(a.p.Bytes(), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := ParsePrincipal(a.p.Bytes()[:40]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	for _, bad := range []struct{ id, name string }{{"", "a"}, {"usr 1", "a"}, {"usr_1", ""}, {"usr_1", "evil\x1b[2K"}, {"usr_1", "a\nb"}} {
		if _, err := NewUser(bad.id, bad.name, a.box.Recipient(), a.s.key); err == nil {
			t.Errorf("NewUser(%q, %q) accepted", bad.id, bad.name)
		}
	}
}

func TestSafetyNumber(t *testing.T) {
	a := newActor(t, "usr_1", "a@example.com")
	b := newActor(t, "usr_1", "a@example.com") // same ID and email, other keys
	sn := a.p.SafetyNumber()
	if !regexp.MustCompile(`^\d{5}( \d{5}){11}$`).MatchString(sn) {
		t.Fatalf("safety number %q is not 12 groups of 5 digits", sn)
	}
	if sn != a.p.SafetyNumber() || sn == b.p.SafetyNumber() {
		t.Fatal("safety number is not a stable function of the identity")
	}
}

func TestSigningKeyRoundTrip(t *testing.T) {
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParseSigningKey(k.String())
	if err != nil || k2.String() != k.String() || k2.public() != k.public() {
		t.Fatalf("round trip: %v", err)
	}
	secret := strings.TrimPrefix(k.String(), signingKeyPrefix)
	for _, bad := range []string{"", secret, signingKeyPrefix + secret[:10], signingKeyPrefix + secret + "A"} {
		_, err := ParseSigningKey(bad)
		if err == nil {
			t.Fatalf("parsed %q", bad)
		}
		if strings.Contains(err.Error(), secret[:10]) {
			t.Fatalf("error echoes the key: %v", err)
		}
	}
}

func TestTokenRoundTrip(t *testing.T) {
	anchor := sha256.Sum256([]byte("root"))
	tok, err := GenerateToken(anchor)
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if !strings.HasPrefix(s, TokenPrefix) || len(s) != len(TokenPrefix)+86 {
		t.Fatalf("token %q has the wrong shape", s)
	}
	got, err := ParseToken(" " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != s || got.ID() != tok.ID() || !bytes.Equal(got.Anchor(), anchor[:16]) ||
		!bytes.Equal(got.AuthKey(), tok.AuthKey()) || got.Identity().String() != tok.Identity().String() ||
		got.SigningKey().String() != tok.SigningKey().String() {
		t.Fatal("round trip changed the token")
	}
	// The three derived keys are distinct (distinct HKDF info strings).
	x, _ := recipientBytes(tok.Identity().Recipient())
	ed := tok.SigningKey().public()
	if bytes.Equal(tok.AuthKey(), ed[:]) || x == ed {
		t.Fatal("derived keys collide")
	}
	p, err := tok.Principal("deploy")
	if err != nil || p.Kind() != KindToken || p.ID() != tok.ID() || p.Name() != "deploy" {
		t.Fatalf("token principal: %v", err)
	}
}

func TestTokenErrors(t *testing.T) {
	tok, _ := GenerateToken([32]byte{1})
	s := tok.String()
	body := strings.TrimPrefix(s, TokenPrefix)
	v1 := TokenPrefix + body[:64] // 48 bytes: id ‖ secret, the v1 format
	if _, err := ParseToken(v1); !errors.Is(err, ErrOldToken) {
		t.Fatalf("v1 token: %v, want ErrOldToken", err)
	}
	for _, bad := range []string{"", body, TokenPrefix + body[:80], s + "AA", TokenPrefix + "!" + body[1:], "secr_sk_" + body} {
		_, err := ParseToken(bad)
		if err == nil || errors.Is(err, ErrOldToken) {
			t.Fatalf("ParseToken(%q) = %v", bad, err)
		}
		if strings.Contains(err.Error(), body[10:30]) {
			t.Fatalf("error echoes the token: %v", err)
		}
	}
}
