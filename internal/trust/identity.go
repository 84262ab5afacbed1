package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/secr-dev/secr/internal/crypto"
)

// Kind says what sort of principal an identity belongs to.
type Kind uint8

const (
	// KindUser is a person, named by email, who can be a member of orgs.
	KindUser Kind = 1
	// KindToken is a service token, named by its creator; it is never a
	// member and gets access to exactly one environment through token.create.
	KindToken Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindUser:
		return "user"
	case KindToken:
		return "token"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const signingKeyPrefix = "SECR-SIGNING-KEY-"

// SigningKey is an Ed25519 private key: the half of a principal that signs
// org chain entries, grants and revisions. It sits next to the X25519
// crypto.Identity that receives wrapped keys. A user's SigningKey is sealed
// in the account key blob beside the Identity; a service token derives its
// own (see Token.SigningKey), so none is stored for tokens.
type SigningKey struct {
	priv ed25519.PrivateKey
}

// GenerateSigningKey returns a new random SigningKey.
func GenerateSigningKey() (*SigningKey, error) {
	var seed [ed25519.SeedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("read random signing key: %w", err)
	}
	return &SigningKey{priv: ed25519.NewKeyFromSeed(seed[:])}, nil
}

// ParseSigningKey parses the form produced by SigningKey.String. The error
// never echoes the input, which is a private key.
func ParseSigningKey(s string) (*SigningKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), signingKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("malformed signing key: it must start with %q", signingKeyPrefix)
	}
	seed, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("malformed signing key")
	}
	return &SigningKey{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// String returns the canonical, secret form of the key. Seal it; never log it.
func (k *SigningKey) String() string {
	return signingKeyPrefix + base64.RawURLEncoding.EncodeToString(k.priv.Seed())
}

func (k *SigningKey) public() [32]byte {
	var pub [32]byte
	copy(pub[:], k.priv.Public().(ed25519.PublicKey))
	return pub
}

// Signer is a SigningKey together with the principal ID it signs as: what
// NewOrg, State.Append, MakeGrant and State.SealRevision need. Everything a
// Signer makes is checked against the org chain before it is returned, so a
// Signer whose key is not the one the chain holds for its ID fails early.
type Signer struct {
	id  string
	key *SigningKey
}

// NewSigner returns a Signer that signs as principalID with key.
func NewSigner(principalID string, key *SigningKey) *Signer {
	return &Signer{id: principalID, key: key}
}

// ID returns the principal ID the Signer signs as.
func (s *Signer) ID() string { return s.id }

func (s *Signer) sign(msg []byte) []byte { return ed25519.Sign(s.key.priv, msg) }

// Principal is the public identity of a user or service token as the org
// chain records it: principal ID, kind, email or token name, the X25519
// public key that environment keys are wrapped to, and the Ed25519 public
// key that verifies its signatures. Make one with NewUser or
// Token.Principal; read one with ParsePrincipal.
type Principal struct {
	id   string
	kind Kind
	name string
	box  [32]byte // X25519
	sig  [32]byte // Ed25519
}

// NewUser returns the identity of user userID (named by email) whose keys
// are box (from crypto.Identity.Recipient) and key.
func NewUser(userID, email string, box *crypto.Recipient, key *SigningKey) (*Principal, error) {
	b, err := recipientBytes(box)
	if err != nil {
		return nil, err
	}
	p := &Principal{id: userID, kind: KindUser, name: email, box: b, sig: key.public()}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Principal) check() error {
	if err := checkID("principal ID", p.id); err != nil {
		return err
	}
	if p.kind != KindUser && p.kind != KindToken {
		return fmt.Errorf("%w: unknown principal kind %d", ErrMalformed, p.kind)
	}
	return checkName(p.kind.String()+" name", p.name)
}

func (p *Principal) encode(e *encoder) {
	e.str("secr/v2/principal")
	e.str(p.id)
	e.u8(uint8(p.kind))
	e.str(p.name)
	e.raw(p.box[:])
	e.raw(p.sig[:])
}

// Bytes returns the canonical encoding of p: length-prefixed fields in a
// fixed order. It is what the org chain embeds and what Fingerprint hashes.
func (p *Principal) Bytes() []byte {
	var e encoder
	p.encode(&e)
	return e.b
}

// ParsePrincipal parses the encoding produced by Principal.Bytes.
func ParsePrincipal(b []byte) (*Principal, error) {
	d := decoder{b: b}
	p := decodePrincipal(&d)
	if err := d.done(); err != nil {
		return nil, err
	}
	return p, nil
}

func decodePrincipal(d *decoder) *Principal {
	if tag := d.str(); d.err == nil && tag != "secr/v2/principal" {
		d.fail("not a principal")
	}
	p := &Principal{id: d.str(), kind: Kind(d.u8()), name: d.str()}
	d.raw(p.box[:])
	d.raw(p.sig[:])
	if d.err == nil {
		if err := p.check(); err != nil {
			d.err = err
		}
	}
	return p
}

// ID returns the principal ID (a user ID, or a token's "st_…" ID).
func (p *Principal) ID() string { return p.id }

// Kind returns whether p is a user or a service token.
func (p *Principal) Kind() Kind { return p.kind }

// Name returns the user's email or the token's name.
func (p *Principal) Name() string { return p.name }

// Recipient returns the X25519 public key to wrap environment keys to.
func (p *Principal) Recipient() *crypto.Recipient { return recipientFrom(p.box) }

// Equal reports whether p and q are the same identity, every field alike.
func (p *Principal) Equal(q *Principal) bool { return bytes.Equal(p.Bytes(), q.Bytes()) }

func (p *Principal) verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(p.sig[:], msg, sig)
}

// Fingerprint returns SHA-256 of p.Bytes(). Two people who see the same
// fingerprint (or SafetyNumber) for a member see the same keys, email and ID.
func (p *Principal) Fingerprint() [32]byte { return sha256.Sum256(p.Bytes()) }

// SafetyNumber returns the fingerprint as 12 groups of 5 decimal digits,
// for comparing by voice or chat ('secr members verify EMAIL').
//
// Derivation: h = SHA-512("secr/v2/safety-number" ‖ Fingerprint()); group i
// is the big-endian 40-bit integer h[5i:5i+5] mod 100000, zero-padded to
// five digits. Reducing 40 bits mod 10^5 skews each group by less than one
// part in 10^7, and the 60 digits carry about 199 bits, so matching numbers
// mean matching identities. The derivation is fixed by a known-answer test:
// changing it would make every number people compared before look wrong.
func (p *Principal) SafetyNumber() string {
	fp := p.Fingerprint()
	h := sha512.Sum512(append([]byte("secr/v2/safety-number"), fp[:]...))
	var sb strings.Builder
	for i := 0; i < 12; i++ {
		var b [8]byte
		copy(b[3:], h[5*i:5*i+5])
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%05d", binary.BigEndian.Uint64(b[:])%100000)
	}
	return sb.String()
}

// recipientBytes and recipientFrom cross between crypto.Recipient and raw
// key bytes through the Recipient's canonical string form, the only way in
// or out that package crypto offers.
func recipientBytes(r *crypto.Recipient) ([32]byte, error) {
	var out [32]byte
	if r == nil {
		return out, fmt.Errorf("missing public key")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(r.String(), "secrpk_"))
	if err != nil || len(b) != 32 {
		return out, fmt.Errorf("malformed public key %q", r.String())
	}
	copy(out[:], b)
	return out, nil
}

func recipientFrom(b [32]byte) *crypto.Recipient {
	r, err := crypto.ParseRecipient("secrpk_" + base64.RawURLEncoding.EncodeToString(b[:]))
	if err != nil {
		panic("secr/trust: recipient round trip: " + err.Error()) // unreachable: 32 bytes
	}
	return r
}

// equal32 compares two 32-byte values in constant time.
func equal32(a, b [32]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

// infoUserEd25519 derives a user's signing key from their X25519 Identity.
const infoUserEd25519 = "secr/v2/user-ed25519"

// UserSigningKey returns the SigningKey of the user whose X25519 private key
// is id. It is derived from id (HKDF, an info string of its own), so the
// account key blob that seals id seals it too, and a login, a recovery or a
// password change needs nothing new.
func UserSigningKey(id *crypto.Identity) *SigningKey {
	seed := id.DeriveKey(infoUserEd25519)
	return &SigningKey{priv: ed25519.NewKeyFromSeed(seed[:])}
}
