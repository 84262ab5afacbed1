package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/secr-dev/secr/internal/crypto"
)

// A receipt is a principal's note to itself that a grant and a revision
// header passed every check against one state of the org chain: the
// grant's and the header's signatures, who could grant and write, and the
// key unwrap. It holds the environment key, sealed with a key only the
// principal's identity derives (crypto.Identity.SealKeyToSelf) and bound to
// the chain's anchor and head, the grant and the header.
//
// A client keeps it beside the cached snapshot, so that 'secr run' on an
// unchanged environment (the server's 304) skips two Ed25519 verifications
// and an X25519 unwrap: most of its CPU time outside Go's own start. Whoever
// can write the cache but does not hold the identity cannot make one, and
// any change of head, grant or header makes it not match, so everything is
// verified again.

// Receipt is an opened receipt: the key, and what it vouches for.
type Receipt struct {
	key    *crypto.EnvKey
	head   [32]byte
	header [32]byte
	grant  [32]byte
}

// Key returns the environment key the receipt holds.
func (r *Receipt) Key() *crypto.EnvKey { return r.key }

// receiptRules names the checks a receipt stands for. Change it whenever
// what OpenGrant or VerifyHeader check changes: receipts made by a client
// with other rules then no longer open, and everything is verified again.
const receiptRules = "secr/v2/receipt/1"

// receiptAD binds a receipt to the rules, the chain at s's head, g and h
// (its signature included).
func (s *State) receiptAD(g *Grant, h *Header) string {
	sum := sha256.New()
	var e encoder
	e.str(receiptRules)
	anchor, head, hh := s.Anchor(), s.Head(), sha256.Sum256(h.Bytes())
	e.raw(anchor[:])
	e.raw(head[:])
	e.raw(hh[:])
	sum.Write(e.b)
	sum.Write(g.Bytes())
	return hex.EncodeToString(sum.Sum(nil))
}

// SealReceipt returns a receipt for g and h, which OpenGrant and
// OpenLatest (with the key k that OpenGrant returned) accepted on s.
func (s *State) SealReceipt(id *crypto.Identity, g *Grant, h *Header, k *crypto.EnvKey) ([]byte, error) {
	if k.EnvID() != h.envID || k.Version() != h.keyVersion || g.envID != h.envID || g.version != h.keyVersion {
		return nil, errors.New("receipt: grant, header and key disagree")
	}
	return id.SealKeyToSelf(k, s.receiptAD(g, h))
}

// OpenReceipt opens a receipt that id sealed for g and h on a chain with
// s's anchor and head. Anything else (another head, grant, header or
// identity, or bytes that are no receipt) is ok == false: verify in full
// with OpenGrant and OpenLatest instead.
func (s *State) OpenReceipt(id *crypto.Identity, sealed []byte, g *Grant, h *Header) (r *Receipt, ok bool) {
	if len(sealed) == 0 || g.envID != h.envID || g.version != h.keyVersion {
		return nil, false
	}
	k, err := id.OpenKeyFromSelf(sealed, h.envID, h.keyVersion, s.receiptAD(g, h))
	if err != nil {
		return nil, false
	}
	return &Receipt{key: k, head: s.Head(), header: sha256.Sum256(h.Bytes()), grant: sha256.Sum256(g.Bytes())}, true
}

// Covers reports whether r was opened on s's head for g and h, so that a
// receipt opened once (to name a held copy in a conditional fetch) serves
// that same copy without being opened again.
func (r *Receipt) Covers(s *State, g *Grant, h *Header) bool {
	return r != nil && r.head == s.Head() && r.header == sha256.Sum256(h.Bytes()) && r.grant == sha256.Sum256(g.Bytes())
}

// OpenLatestWith is OpenLatest for the header h that r was opened for, on
// the same state: h's signature and its author's right to write are not
// checked again (r records that they passed); everything else is: h is
// envID's revision at the chain's current key version, the ciphertext is
// the one h names, and it opens under the key. A receipt opened for
// another header or head is an error.
func (s *State) OpenLatestWith(r *Receipt, envID string, h *Header, ciphertext []byte) ([]byte, error) {
	if r.head != s.Head() || r.header != sha256.Sum256(h.Bytes()) {
		return nil, fmt.Errorf("%w: the receipt is for another revision or chain head", ErrInvalid)
	}
	if err := s.checkLatest(h); err != nil {
		return nil, err
	}
	return s.openVerified(envID, h, ciphertext, r.key)
}
