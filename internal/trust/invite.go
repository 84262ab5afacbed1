package trust

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// InvitePrefix starts every invite code.
const InvitePrefix = "secr_inv_"

// ErrBadInvite means an invitee's identity does not carry a valid MAC under
// the invite secret: the server (or someone) substituted the key the
// invitee sent. It matches ErrIntegrity.
var ErrBadInvite error = integrityError("the invitee's identity does not match the invite (key substitution?)")

// Invite is an invitation code (TRUST.md §5): a random 128-bit secret that
// the admin hands to the invitee out of band, and the first 16 bytes of the
// org anchor, so that the invitee's client verifies the org chain from that
// anchor (Verify) instead of trusting it on first use.
//
// The server stores only ID, to find the invitation. The invitee's client
// sends its Principal with MAC; the admin's client checks it with Check
// before it signs member.add, so the server cannot slip in a key of its own.
type Invite struct {
	secret [16]byte
	anchor [16]byte
}

// GenerateInvite returns a new invitation to the org whose anchor is anchor.
func GenerateInvite(anchor [32]byte) (*Invite, error) {
	var i Invite
	if _, err := rand.Read(i.secret[:]); err != nil {
		return nil, fmt.Errorf("read random invite: %w", err)
	}
	copy(i.anchor[:], anchor[:16])
	return &i, nil
}

// ParseInvite parses the form produced by Invite.String. The error never
// echoes the input.
func ParseInvite(s string) (*Invite, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), InvitePrefix)
	if !ok {
		return nil, fmt.Errorf("malformed invite code: it must start with %q", InvitePrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("malformed invite code: wrong length or characters (was it copied whole?)")
	}
	var i Invite
	copy(i.secret[:], b[:16])
	copy(i.anchor[:], b[16:])
	return &i, nil
}

// String returns the invite code, a secret for the invitee only.
func (i *Invite) String() string {
	return InvitePrefix + base64.RawURLEncoding.EncodeToString(append(i.secret[:], i.anchor[:]...))
}

// ID returns what the server stores to find the invitation:
// hex(SHA-256("secr/v2/invite-id" ‖ secret)). It reveals nothing that
// would let the server compute a MAC.
func (i *Invite) ID() string {
	h := sha256.Sum256(append([]byte("secr/v2/invite-id"), i.secret[:]...))
	return hex.EncodeToString(h[:])
}

// Anchor returns the first 16 bytes of the org anchor, for Verify.
func (i *Invite) Anchor() []byte { return append([]byte(nil), i.anchor[:]...) }

// MAC returns HMAC-SHA256(secret, "secr/v2/invite" ‖ p.Bytes()): the
// invitee's proof that the identity p comes from whoever holds the code.
func (i *Invite) MAC(p *Principal) []byte {
	m := hmac.New(sha256.New, i.secret[:])
	m.Write([]byte("secr/v2/invite"))
	m.Write(p.Bytes())
	return m.Sum(nil)
}

// Check returns ErrBadInvite unless mac is MAC(p), compared in constant time.
func (i *Invite) Check(p *Principal, mac []byte) error {
	if !hmac.Equal(i.MAC(p), mac) {
		return ErrBadInvite
	}
	return nil
}
