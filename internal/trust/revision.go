package trust

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/secr-dev/secr/internal/crypto"
	"golang.org/x/crypto/chacha20poly1305"
)

// EnvKey is one version of an environment key, as SealRevision and
// OpenRevision use it: they ask it for HKDF-SHA256(EK, "secr/v2/data") and
// never see EK itself. It is an interface so that this package does not
// reach into package crypto's key type; *crypto.EnvKey satisfies it once it
// has the one-line method
//
//	func (k *EnvKey) DeriveKey(info string) [32]byte { return deriveKey(k.key[:], info) }
type EnvKey interface {
	EnvID() string
	Version() int
	// DeriveKey returns HKDF-SHA256 of the key with info as the info string.
	DeriveKey(info string) [32]byte
}

// *crypto.EnvKey is the EnvKey a client unwraps from a Grant.
var _ EnvKey = (*crypto.EnvKey)(nil)

const infoData = "secr/v2/data"

// ErrChainBehind means a revision names an org chain entry newer than the
// State it was checked against: fetch the chain (State.Extend) and check
// again. It is not an integrity failure on its own.
var ErrChainBehind = errors.New("revision relies on org chain entries not verified here yet: fetch the org chain and retry")

// Header describes and authenticates one revision of an environment:
//
//	header = {envID, keyVersion, revision, prev, author, chainSeq}
//	AD     = "secr/v2/rev" ‖ org anchor ‖ encoding(header)   (the AEAD's associated data)
//	sig    = Ed25519(author, AD ‖ SHA-256(ciphertext))
//	prev   = Hash of the previous revision's header
//
// chainSeq is the org chain entry the author relied on: the author must have
// been allowed to write the environment at that point, and keyVersion must
// be the one that was current there. The org anchor (which TRUST.md §4 does
// not list) keeps a revision from being replayed into another org whose
// chain happens to use the same environment ID.
//
// A Header carries SHA-256 of its ciphertext and its signature, so a client
// can check signatures and links from headers alone. Make one with
// State.SealRevision; read one with ParseHeader.
type Header struct {
	envID      string
	keyVersion int
	revision   int64
	prev       [32]byte
	author     string
	chainSeq   uint64
	ctHash     [32]byte
	sig        []byte
}

func (h *Header) fields(e *encoder) {
	e.str(h.envID)
	e.u64(uint64(h.keyVersion))
	e.u64(uint64(h.revision))
	e.raw(h.prev[:])
	e.str(h.author)
	e.u64(h.chainSeq)
}

// ad returns the associated data the ciphertext is sealed with.
func (h *Header) ad(anchor [32]byte) []byte {
	var e encoder
	e.raw([]byte("secr/v2/rev"))
	e.raw(anchor[:])
	h.fields(&e)
	return e.b
}

func (h *Header) signedMessage(anchor [32]byte) []byte { return append(h.ad(anchor), h.ctHash[:]...) }

// unsigned returns "secr/v2/rev" ‖ encoding(header) ‖ SHA-256(ciphertext):
// Bytes without the signature.
func (h *Header) unsigned() []byte {
	var e encoder
	e.raw([]byte("secr/v2/rev"))
	h.fields(&e)
	e.raw(h.ctHash[:])
	return e.b
}

// Hash returns SHA-256("secr/v2/rev" ‖ encoding(header) ‖ SHA-256(ciphertext)):
// what the next revision's prev must be. TRUST.md §4 hashes the ciphertext
// itself; hashing its digest instead lets a client check links from headers
// alone, and the digest is signed.
func (h *Header) Hash() [32]byte { return sha256.Sum256(h.unsigned()) }

// Bytes returns the canonical encoding of h with its ciphertext digest and
// signature, for the server to store beside the ciphertext.
func (h *Header) Bytes() []byte { return append(h.unsigned(), h.sig...) }

// ParseHeader parses the encoding produced by Header.Bytes. It checks no
// signature: that needs the org chain (State.VerifyHeader).
func ParseHeader(b []byte) (*Header, error) {
	d := decoder{b: b}
	if tag := string(d.take(len("secr/v2/rev"))); d.err == nil && tag != "secr/v2/rev" {
		d.fail("not a revision header")
	}
	h := &Header{envID: d.str()}
	v, rev := d.u64(), d.u64()
	d.raw(h.prev[:])
	h.author, h.chainSeq = d.str(), d.u64()
	d.raw(h.ctHash[:])
	h.sig = append([]byte(nil), d.take(64)...)
	if d.err == nil && (v < 1 || v > 1<<31 || rev < 1 || rev > 1<<62) {
		d.fail("key version %d or revision %d out of range", v, rev)
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("revision header: %w", err)
	}
	h.keyVersion, h.revision = int(v), int64(rev)
	for _, err := range []error{checkID("environment ID", h.envID), checkID("author ID", h.author)} {
		if err != nil {
			return nil, fmt.Errorf("revision header: %w", err)
		}
	}
	return h, nil
}

// EnvID returns the environment the revision belongs to.
func (h *Header) EnvID() string { return h.envID }

// KeyVersion returns the key version the revision is sealed under.
func (h *Header) KeyVersion() int { return h.keyVersion }

// Revision returns the revision number, from 1.
func (h *Header) Revision() int64 { return h.revision }

// Author returns the principal ID that wrote and signed the revision.
func (h *Header) Author() string { return h.author }

// ChainSeq returns the org chain entry the author relied on.
func (h *Header) ChainSeq() uint64 { return h.chainSeq }

// Position is where a client last saw an environment's history: the
// revision number and its Hash. Store it per environment (the rollback
// high-water mark) and pass it to CheckLinks next time. The zero Position
// is the start of the history, before revision 1.
type Position struct {
	Revision int64
	Hash     [32]byte
}

// Position returns h's place in the history.
func (h *Header) Position() Position { return Position{h.revision, h.Hash()} }

// SealRevision pads and seals doc, the whole new contents of k's
// environment, as the revision after prev (nil for the first), written by
// author, and returns its signed header and ciphertext.
//
// The chain must allow author to write the environment now, and k must be
// the environment's current key version (ErrStaleKey otherwise: a replayed
// old grant cannot make a client write under a key the server may hold).
func (s *State) SealRevision(author *Signer, k EnvKey, prev *Header, doc []byte) (*Header, []byte, error) {
	env, ok := s.Env(k.EnvID())
	if !ok {
		return nil, nil, fmt.Errorf("cannot seal: no environment %q in the org chain", k.EnvID())
	}
	if k.Version() != env.KeyVersion {
		return nil, nil, fmt.Errorf("cannot seal under key version %d of %q: %w (it is %d)", k.Version(), env.ID, ErrStaleKey, env.KeyVersion)
	}
	if s.Access(author.id, env.ID, s.Seq()) != Write {
		return nil, nil, fmt.Errorf("cannot seal: %w: %q may not write %q", ErrUnauthorized, author.id, env.ID)
	}
	h := &Header{envID: env.ID, keyVersion: env.KeyVersion, revision: 1, author: author.id, chainSeq: s.Seq()}
	if prev != nil {
		if prev.envID != env.ID {
			return nil, nil, fmt.Errorf("cannot seal: previous revision belongs to %q, not %q", prev.envID, env.ID)
		}
		h.revision, h.prev = prev.revision+1, prev.Hash()
	}
	padded, err := pad(doc)
	if err != nil {
		return nil, nil, err
	}
	aead, err := chacha20poly1305.NewX(deriveData(k))
	if err != nil {
		return nil, nil, err
	}
	ct := make([]byte, aead.NonceSize(), aead.NonceSize()+len(padded)+aead.Overhead())
	if _, err := rand.Read(ct); err != nil {
		return nil, nil, fmt.Errorf("read random nonce: %w", err)
	}
	ct = aead.Seal(ct, ct, padded, h.ad(s.Anchor()))
	h.ctHash = sha256.Sum256(ct)
	h.sig = author.sign(h.signedMessage(s.Anchor()))
	if err := s.VerifyHeader(h); err != nil {
		return nil, nil, fmt.Errorf("cannot seal: %w", err)
	}
	return h, ct, nil
}

func deriveData(k EnvKey) []byte { d := k.DeriveKey(infoData); return d[:] }

// VerifyHeader checks h against the chain: its author's signature, under the
// identity the chain held for the author at h.ChainSeq (ErrBadSignature);
// that the author could write the environment at that point
// (ErrUnauthorized); and that h's key version was the current one there
// (ErrStaleKey), so a removed member cannot claim a position from before
// their removal with a key version introduced after it. It does not check
// that h is the newest revision: OpenLatest does.
func (s *State) VerifyHeader(h *Header) error {
	if h.chainSeq > s.Seq() {
		return ErrChainBehind
	}
	if s.envs[h.envID] == nil {
		return fmt.Errorf("revision %d: %w: no environment %q", h.revision, ErrInvalid, h.envID)
	}
	p := s.principals[h.author]
	if p == nil || p.identityAt(h.chainSeq) == nil {
		return fmt.Errorf("revision %d: %w: author %q is not in the org chain at entry %d", h.revision, ErrUnauthorized, h.author, h.chainSeq)
	}
	if !p.identityAt(h.chainSeq).verify(h.signedMessage(s.Anchor()), h.sig) {
		return fmt.Errorf("revision %d by %q: %w", h.revision, h.author, ErrBadSignature)
	}
	if s.Access(h.author, h.envID, h.chainSeq) != Write {
		return fmt.Errorf("revision %d: %w: %q could not write %q at org chain entry %d", h.revision, ErrUnauthorized, h.author, h.envID, h.chainSeq)
	}
	if v := s.keyVersionAt(h.envID, h.chainSeq); v != h.keyVersion {
		return fmt.Errorf("revision %d: %w: it uses key version %d, but at org chain entry %d the key was version %d", h.revision, ErrStaleKey, h.keyVersion, h.chainSeq, v)
	}
	return nil
}

// OpenRevision verifies h (VerifyHeader), checks that it is a revision of
// envID, the environment the caller looked up by name in the chain
// (LookupEnv), and that ciphertext is the one h signs, and opens it with k,
// h's environment key version. Use it for history; for the revision a
// command will act on, use OpenLatest.
//
// envID is required because everything else the server sends (header,
// ciphertext, grant) could be another environment's, authentic but swapped.
func (s *State) OpenRevision(envID string, h *Header, ciphertext []byte, k EnvKey) ([]byte, error) {
	if h.envID != envID {
		return nil, fmt.Errorf("%w: revision belongs to environment %q, not %q", ErrInvalid, h.envID, envID)
	}
	if err := s.VerifyHeader(h); err != nil {
		return nil, err
	}
	return s.openVerified(envID, h, ciphertext, k)
}

// openVerified is OpenRevision after VerifyHeader: the checks that need no
// signature, and the decryption.
func (s *State) openVerified(envID string, h *Header, ciphertext []byte, k EnvKey) ([]byte, error) {
	if h.envID != envID {
		return nil, fmt.Errorf("%w: revision belongs to environment %q, not %q", ErrInvalid, h.envID, envID)
	}
	if sha256.Sum256(ciphertext) != h.ctHash {
		return nil, fmt.Errorf("revision %d: %w: the ciphertext is not the one its author signed", h.revision, ErrBadSignature)
	}
	if k.EnvID() != h.envID || k.Version() != h.keyVersion {
		return nil, fmt.Errorf("revision %d needs key version %d of %q, not version %d of %q", h.revision, h.keyVersion, h.envID, k.Version(), k.EnvID())
	}
	aead, err := chacha20poly1305.NewX(deriveData(k))
	if err != nil {
		return nil, err
	}
	if len(ciphertext) < aead.NonceSize()+aead.Overhead() {
		return nil, crypto.ErrDecrypt
	}
	padded, err := aead.Open(nil, ciphertext[:aead.NonceSize()], ciphertext[aead.NonceSize():], h.ad(s.Anchor()))
	if err != nil {
		return nil, crypto.ErrDecrypt
	}
	doc, err := unpad(padded)
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w: %v", h.revision, ErrMalformed, err)
	}
	return doc, nil
}

// OpenLatest is OpenRevision for the newest revision, the one 'secr run'
// will act on: it also requires h's key version to be the environment's
// current one (ErrStaleKey). Check the history up to h first with
// CheckLinks, from the Position seen last time.
func (s *State) OpenLatest(envID string, h *Header, ciphertext []byte, k EnvKey) ([]byte, error) {
	if err := s.checkLatest(h); err != nil {
		return nil, err
	}
	return s.OpenRevision(envID, h, ciphertext, k)
}

// checkLatest checks that h uses its environment's current key version.
func (s *State) checkLatest(h *Header) error {
	if env, ok := s.Env(h.envID); ok && env.KeyVersion != h.keyVersion {
		return fmt.Errorf("revision %d: %w: it uses key version %d, the org chain is at %d", h.revision, ErrStaleKey, h.keyVersion, env.KeyVersion)
	}
	return nil
}

// CheckLinks checks that headers continue the history from from: each is
// the next revision of the same environment and names the one before it as
// prev. The first header may repeat from's revision, and must then be
// identical to it; that is how a client that has seen the newest revision
// already confirms nothing changed. An older revision is ErrRollback;
// anything else out of line is ErrBrokenHistory (a dropped, reordered or
// replaced revision).
//
// Pass the zero Position and every header to check a whole history
// ('secr secrets history'), or the last Position seen and the headers since
// ('secr run'). CheckLinks checks no signature: the newest header's
// signature covers the links, and VerifyHeader checks each header's own.
func CheckLinks(from Position, headers []*Header) error {
	cur := from
	for i, h := range headers {
		if i > 0 && h.envID != headers[0].envID {
			return fmt.Errorf("%w: revision %d belongs to %q, not %q", ErrBrokenHistory, h.revision, h.envID, headers[0].envID)
		}
		switch {
		case i == 0 && from.Revision > 0 && h.revision == from.Revision:
			if h.Hash() != from.Hash {
				return fmt.Errorf("%w: revision %d is not the one seen before", ErrBrokenHistory, h.revision)
			}
			continue
		case i == 0 && h.revision < from.Revision:
			return fmt.Errorf("%w: revision %d, after %d was seen", ErrRollback, h.revision, from.Revision)
		case h.revision != cur.Revision+1:
			return fmt.Errorf("%w: revision %d follows %d", ErrBrokenHistory, h.revision, cur.Revision)
		case h.prev != cur.Hash:
			return fmt.Errorf("%w: revision %d does not name revision %d as its previous one", ErrBrokenHistory, h.revision, cur.Revision)
		}
		cur = h.Position()
	}
	return nil
}
