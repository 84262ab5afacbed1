package trust

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/secr-dev/secr/internal/crypto"
)

// HKDF info strings for what a v2 service token derives from its secret.
// Changing one changes every token's keys.
const (
	infoTokenAuth    = "secr/v2/token-auth"
	infoTokenX25519  = "secr/v2/token-x25519"
	infoTokenEd25519 = "secr/v2/token-ed25519"
)

// TokenPrefix starts every service token, so that secret scanners can
// recognise one. It is the same as v1's; the length tells the formats apart.
const TokenPrefix = "secr_st_"

const (
	tokenLenV1 = 16 + 32
	tokenLenV2 = 16 + 32 + 16
)

// Token is a v2 service token: secr_st_ + base64url(id16 ‖ secret32 ‖
// anchor16). The ID is public; the secret never reaches the server (an auth
// key, an X25519 crypto.Identity and a SigningKey are derived from it); the
// anchor is the first 16 bytes of the org anchor, so a CI runner with no
// state can check that the chain it is served is its org's (pass
// Token.Anchor to Verify).
type Token struct {
	id     [16]byte
	secret [32]byte
	anchor [16]byte
}

// GenerateToken returns a new random token for the org whose anchor is
// anchor (State.Anchor).
func GenerateToken(anchor [32]byte) (*Token, error) {
	var t Token
	if _, err := rand.Read(t.id[:]); err != nil {
		return nil, fmt.Errorf("read random token: %w", err)
	}
	if _, err := rand.Read(t.secret[:]); err != nil {
		return nil, fmt.Errorf("read random token: %w", err)
	}
	copy(t.anchor[:], anchor[:16])
	return &t, nil
}

// ParseToken parses the form produced by Token.String. A v1 token (no
// anchor) returns ErrOldToken. No error echoes the input.
func ParseToken(s string) (*Token, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), TokenPrefix)
	if !ok {
		return nil, fmt.Errorf("malformed service token: it must start with %q", TokenPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err == nil && len(b) == tokenLenV1 {
		return nil, ErrOldToken
	}
	if err != nil || len(b) != tokenLenV2 {
		return nil, fmt.Errorf("malformed service token: wrong length or characters (was it copied whole?)")
	}
	var t Token
	copy(t.id[:], b[:16])
	copy(t.secret[:], b[16:48])
	copy(t.anchor[:], b[48:])
	return &t, nil
}

// String returns the whole secret token. Print it once, never log it.
func (t *Token) String() string {
	b := make([]byte, 0, tokenLenV2)
	b = append(append(append(b, t.id[:]...), t.secret[:]...), t.anchor[:]...)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ID returns the token's principal ID ("st_" + hex), as the server and the
// org chain know it.
func (t *Token) ID() string { return "st_" + hex.EncodeToString(t.id[:]) }

// Anchor returns the first 16 bytes of the org anchor, for Verify.
func (t *Token) Anchor() []byte { return append([]byte(nil), t.anchor[:]...) }

// AuthKey returns the key that authenticates the token to the server, which
// stores only its hash.
func (t *Token) AuthKey() []byte { k := t.derive(infoTokenAuth); return k[:] }

// Identity returns the token's X25519 key, to which environment keys are
// wrapped.
func (t *Token) Identity() *crypto.Identity {
	k := t.derive(infoTokenX25519)
	id, err := crypto.NewIdentity(k[:])
	if err != nil {
		panic("secr/trust: derived token identity: " + err.Error()) // unreachable: 32 bytes
	}
	return id
}

// SigningKey returns the token's Ed25519 key, with which a read-write token
// signs the revisions it writes.
func (t *Token) SigningKey() *SigningKey {
	k := t.derive(infoTokenEd25519)
	return &SigningKey{priv: ed25519.NewKeyFromSeed(k[:])}
}

// Signer returns a Signer for the token's principal ID and SigningKey.
func (t *Token) Signer() *Signer { return NewSigner(t.ID(), t.SigningKey()) }

// Principal returns the token's public identity under name, for the
// token.create entry that its creator signs.
func (t *Token) Principal(name string) (*Principal, error) {
	box, err := recipientBytes(t.Identity().Recipient())
	if err != nil {
		return nil, err
	}
	p := &Principal{id: t.ID(), kind: KindToken, name: name, box: box, sig: t.SigningKey().public()}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

func (t *Token) derive(info string) [32]byte {
	var out [32]byte
	k, err := hkdf.Key(sha256.New, t.secret[:], nil, info, 32)
	if err != nil {
		panic("secr/trust: hkdf: " + err.Error()) // only for absurd lengths
	}
	copy(out[:], k)
	return out
}
