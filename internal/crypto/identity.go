package crypto

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/curve25519"
)

const (
	identityPrefix  = "SECR-IDENTITY-"
	recipientPrefix = "secrpk_"
)

// Identity is an X25519 private key: the secret half of a principal. It
// pairs with the Recipient returned by its Recipient method.
type Identity struct {
	priv [32]byte
	// pub is computed on first use: a base-point multiplication that a
	// 'secr run' answered from a receipt (session) never needs.
	pub func() [32]byte
}

// Recipient is an X25519 public key: what the server stores for a principal
// and what environment keys are wrapped to.
type Recipient struct {
	pub [32]byte
}

// GenerateIdentity returns a new random Identity.
func GenerateIdentity() (*Identity, error) {
	priv, err := random32()
	if err != nil {
		return nil, fmt.Errorf("read random identity: %w", err)
	}
	return newIdentity(priv[:])
}

func newIdentity(priv []byte) (*Identity, error) {
	if len(priv) != 32 {
		return nil, fmt.Errorf("malformed identity")
	}
	id := &Identity{}
	copy(id.priv[:], priv)
	id.pub = sync.OnceValue(func() (pub [32]byte) {
		curve25519.ScalarBaseMult(&pub, &id.priv)
		return pub
	})
	return id, nil
}

// ParseIdentity parses the canonical form produced by Identity.String.
// The error never echoes the input, which is a private key.
func ParseIdentity(s string) (*Identity, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), identityPrefix)
	if !ok {
		return nil, fmt.Errorf("malformed identity")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("malformed identity")
	}
	return newIdentity(b)
}

// String returns the canonical, secret form of the identity.
func (i *Identity) String() string {
	return identityPrefix + base64.RawURLEncoding.EncodeToString(i.priv[:])
}

// Recipient returns the public half of i.
func (i *Identity) Recipient() *Recipient { return &Recipient{pub: i.pub()} }

// ParseRecipient parses the canonical form produced by Recipient.String.
func ParseRecipient(s string) (*Recipient, error) {
	rest, ok := strings.CutPrefix(s, recipientPrefix)
	if !ok {
		return nil, fmt.Errorf("malformed public key %q", s)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("malformed public key %q", s)
	}
	var r Recipient
	copy(r.pub[:], b)
	return &r, nil
}

// String returns the canonical form of the public key.
func (r *Recipient) String() string {
	return recipientPrefix + base64.RawURLEncoding.EncodeToString(r.pub[:])
}

// Fingerprint is a short, human-comparable digest of the public key, for
// checking it out of band.
func (r *Recipient) Fingerprint() string {
	sum := sha256.Sum256(r.pub[:])
	h := hex.EncodeToString(sum[:10])
	return h[0:5] + " " + h[5:10] + " " + h[10:15] + " " + h[15:20]
}

// NewIdentity returns the Identity whose private key is priv (32 bytes),
// for keys derived elsewhere (a v2 service token derives its X25519 key
// from its secret). The error never echoes priv.
func NewIdentity(priv []byte) (*Identity, error) { return newIdentity(priv) }

// DeriveKey returns a key for another purpose derived from i with
// HKDF-SHA256 under info. A user's Ed25519 signing key is derived this way,
// so the sealed account key blob, which holds i, holds it too.
func (i *Identity) DeriveKey(info string) [32]byte { return deriveKey(i.priv[:], info) }

const infoSelfSeal = "secr/v2/self-seal"

// SealToSelf seals data so that only the holder of i can open it, bound to
// ad. Unlike an anonymous box, nobody without i can make such a box: the
// server that stores it cannot swap in contents of its own (an inviter's
// copy of an invite secret, for one).
func (i *Identity) SealToSelf(ad string, data []byte) ([]byte, error) {
	return seal(deriveKey(i.priv[:], infoSelfSeal), ad, data)
}

// OpenFromSelf opens what SealToSelf sealed with the same ad.
func (i *Identity) OpenFromSelf(ad string, sealed []byte) ([]byte, error) {
	return open(deriveKey(i.priv[:], infoSelfSeal), ad, sealed)
}
