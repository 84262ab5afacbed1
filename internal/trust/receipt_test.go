package trust

import (
	"errors"
	"testing"

	"github.com/secr-dev/secr/internal/crypto"
)

// receiptFixture is carol's view of env_dev: a grant from bob, a revision
// she wrote, and her receipt for both on the fixture's head.
func receiptFixture(t *testing.T) (f *fixture, g *Grant, h *Header, ct, receipt []byte, k *crypto.EnvKey) {
	t.Helper()
	f = newFixture(t)
	k, _ = crypto.GenerateEnvKey("env_dev", 1)
	g, err := f.st.MakeGrant(f.bob.s, k, "usr_carol")
	if err != nil {
		t.Fatal(err)
	}
	h, ct, err = f.st.SealRevision(f.carol.s, k, nil, []byte(`{"version":1,"secrets":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	opened, err := f.st.OpenGrant(g, f.carol.box)
	if err != nil {
		t.Fatal(err)
	}
	if receipt, err = f.st.SealReceipt(f.carol.box, g, h, opened); err != nil {
		t.Fatal(err)
	}
	return f, g, h, ct, receipt, k
}

func TestReceipt(t *testing.T) {
	f, g, h, ct, receipt, k := receiptFixture(t)
	r, ok := f.st.OpenReceipt(f.carol.box, receipt, g, h)
	if !ok {
		t.Fatal("carol's own receipt did not open")
	}
	if r.Key().EnvID() != "env_dev" || r.Key().Version() != 1 || r.Key().DeriveKey("x") != k.DeriveKey("x") {
		t.Fatal("the receipt holds another key")
	}
	doc, err := f.st.OpenLatestWith(r, "env_dev", h, ct)
	if err != nil || string(doc) != `{"version":1,"secrets":{}}` {
		t.Fatalf("open with the receipt: %q, %v", doc, err)
	}
	// Whatever the receipt vouches for, the ciphertext must still be the
	// one the header names, and the environment the one asked for.
	bad := append([]byte(nil), ct...)
	bad[len(bad)-1] ^= 1
	if _, err := f.st.OpenLatestWith(r, "env_dev", h, bad); err == nil {
		t.Fatal("a changed ciphertext opened with a receipt")
	}
	if _, err := f.st.OpenLatestWith(r, "env_prod", h, ct); err == nil {
		t.Fatal("env_dev's revision opened as env_prod's with a receipt")
	}
}

// TestReceiptDoesNotMatch: a receipt opens only for the identity that
// sealed it, the same chain head, grant and header; anything else is
// verified in full.
func TestReceiptDoesNotMatch(t *testing.T) {
	f, g, h, ct, receipt, k := receiptFixture(t)

	if _, ok := f.st.OpenReceipt(f.dave.box, receipt, g, h); ok {
		t.Fatal("dave opened carol's receipt")
	}
	// Someone who can write carol's cache but does not hold her identity
	// seals a receipt of their own: it does not open for her.
	forged, err := f.erin.box.SealKeyToSelf(k, f.st.receiptAD(g, h))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.st.OpenReceipt(f.carol.box, forged, g, h); ok {
		t.Fatal("a receipt sealed by another identity opened")
	}
	for _, junk := range [][]byte{nil, {}, receipt[:len(receipt)-1], append(append([]byte(nil), receipt...), 0)} {
		if _, ok := f.st.OpenReceipt(f.carol.box, junk, g, h); ok {
			t.Fatalf("%d bytes of junk opened as a receipt", len(junk))
		}
	}

	// Another header: carol's next revision.
	h2, _, err := f.st.SealRevision(f.carol.s, k, h, []byte(`{"version":1,"secrets":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.st.OpenReceipt(f.carol.box, receipt, g, h2); ok {
		t.Fatal("the receipt opened for another revision")
	}
	// Another grant of the same key: one carol made for herself.
	g2, err := f.st.MakeGrant(f.carol.s, k, "usr_carol")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.st.OpenReceipt(f.carol.box, receipt, g2, h); ok {
		t.Fatal("the receipt opened for another grant")
	}
	// The chain moved on: same grant and header, another head.
	r, _ := f.st.OpenReceipt(f.carol.box, receipt, g, h)
	before := f.st
	f.add(f.alice, CreateEnv{"env_stage", "prj_web", "staging"})
	if _, ok := f.st.OpenReceipt(f.carol.box, receipt, g, h); ok {
		t.Fatal("the receipt opened on another chain head")
	}
	// An opened receipt used on another head is refused.
	if _, err := f.st.OpenLatestWith(r, "env_dev", h, ct); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a receipt used on another head: %v", err)
	}
	if _, ok := before.OpenReceipt(f.carol.box, receipt, g, h); !ok {
		t.Fatal("the receipt no longer opens on its own head")
	}
}

// TestReceiptCovers: an opened receipt covers exactly the grant, header
// and chain head it was opened for (a caller reuses it for that copy
// only); a nil one covers nothing.
func TestReceiptCovers(t *testing.T) {
	f, g, h, _, receipt, k := receiptFixture(t)
	r, ok := f.st.OpenReceipt(f.carol.box, receipt, g, h)
	if !ok || !r.Covers(f.st, g, h) {
		t.Fatal("a receipt does not cover what it was opened for")
	}
	var none *Receipt
	if none.Covers(f.st, g, h) {
		t.Fatal("a nil receipt covers something")
	}
	h2, _, err := f.st.SealRevision(f.carol.s, k, h, []byte(`{"version":1,"secrets":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	g2, err := f.st.MakeGrant(f.carol.s, k, "usr_carol")
	if err != nil {
		t.Fatal(err)
	}
	if r.Covers(f.st, g, h2) || r.Covers(f.st, g2, h) {
		t.Fatal("a receipt covers another header or grant")
	}
	f.add(f.alice, CreateEnv{"env_stage", "prj_web", "staging"})
	if r.Covers(f.st, g, h) {
		t.Fatal("a receipt covers another chain head")
	}
}

// TestAttackReceiptForgedRevision: someone who holds env_dev's key but may
// not write (a removed member who kept it, or whoever can write carol's
// cache and learnt it) puts a revision of their own beside carol's
// receipt. The receipt does not vouch for it, so it is verified, and
// refused.
func TestAttackReceiptForgedRevision(t *testing.T) {
	f, g, h, _, receipt, k := receiptFixture(t)
	forged := forgeHeader(f, f.erin, k, h, f.st.Seq())
	if _, ok := f.st.OpenReceipt(f.carol.box, receipt, g, forged); ok {
		t.Fatal("carol's receipt opened for erin's revision")
	}
	r, _ := f.st.OpenReceipt(f.carol.box, receipt, g, h)
	_, err := f.st.OpenLatestWith(r, "env_dev", forged, []byte("whatever"))
	wantErr(t, err, ErrInvalid)
	// Without the receipt, it is the verification that refuses it.
	_, err = f.st.OpenLatest("env_dev", forged, []byte("whatever"), k)
	wantErr(t, err, ErrUnauthorized)
}

// TestReceiptCoversTheSignature: the receipt is for the header as signed;
// the same header with other signature bytes is not the one verified.
func TestReceiptCoversTheSignature(t *testing.T) {
	f, g, h, _, receipt, _ := receiptFixture(t)
	b := h.Bytes()
	b[len(b)-1] ^= 1
	bad, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.st.OpenReceipt(f.carol.box, receipt, g, bad); ok {
		t.Fatal("the receipt opened for the header with another signature")
	}
}
