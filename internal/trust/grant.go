package trust

import (
	"crypto/sha256"
	"fmt"

	"github.com/secr-dev/secr/internal/crypto"
)

// Grant is a wrapped copy of one environment key version for one principal,
// signed by the principal that wrapped it (the granter):
//
//	sig = Ed25519(granter, "secr/v2/grant" ‖ org anchor ‖ envID ‖ keyVersion ‖ recipient ID ‖ SHA-256(wrapped))
//
// An anonymous box can be made by anyone who knows a public key, the server
// included; the signature is what lets the recipient refuse a key that no
// key holder made. (The org anchor, which TRUST.md §3 does not list, keeps a
// grant from being replayed into another org's chain.) Make one with State.MakeGrant; open one with
// State.OpenGrant; store and serve it as Bytes.
type Grant struct {
	envID     string
	version   int
	recipient string
	granter   string
	wrapped   []byte
	sig       []byte
}

func (g *Grant) signedMessage(anchor [32]byte) []byte {
	var e encoder
	e.raw([]byte("secr/v2/grant"))
	e.raw(anchor[:])
	e.str(g.envID)
	e.u64(uint64(g.version))
	e.str(g.recipient)
	h := sha256.Sum256(g.wrapped)
	e.raw(h[:])
	return e.b
}

// MakeGrant wraps ek (from crypto.GenerateEnvKey, or opened with OpenGrant)
// to the principal recipientID and signs it as granter.
//
// The recipient's keys come from the chain, never from the server, and the
// recipient must be allowed to read the environment now: a client that
// completes pending grants for the server ('secr access sync') therefore
// cannot be made to wrap a key to someone the org did not admit. The
// granter must have access itself and ek must be a version the chain knows.
func (s *State) MakeGrant(granter *Signer, ek *crypto.EnvKey, recipientID string) (*Grant, error) {
	env, ok := s.Env(ek.EnvID())
	if !ok || ek.Version() < 1 || ek.Version() > env.KeyVersion {
		return nil, fmt.Errorf("cannot grant: the org chain has no key version %d of environment %q", ek.Version(), ek.EnvID())
	}
	if s.Access(granter.id, env.ID, s.Seq()) == NoAccess {
		return nil, fmt.Errorf("cannot grant: %q has no access to environment %q", granter.id, env.ID)
	}
	to, ok := s.Principal(recipientID)
	if !ok || s.Access(recipientID, env.ID, s.Seq()) == NoAccess {
		return nil, fmt.Errorf("cannot grant: per the org chain, %q may not read environment %q", recipientID, env.ID)
	}
	wrapped, err := crypto.WrapKey(ek, to.Recipient())
	if err != nil {
		return nil, err
	}
	g := &Grant{envID: env.ID, version: ek.Version(), recipient: recipientID, granter: granter.id, wrapped: wrapped}
	g.sig = granter.sign(g.signedMessage(s.Anchor()))
	if err := s.checkGrant(g); err != nil {
		return nil, fmt.Errorf("cannot grant: %w", err)
	}
	return g, nil
}

// OpenGrant checks g against the chain and unwraps it with id, the
// recipient's X25519 key (crypto.Identity, or Token.Identity).
//
// The grant must be signed, under the key the chain holds for it, by a
// principal that had access to the environment while g's key version was
// current (ErrBadSignature, ErrUnauthorized), for a key version the chain
// has introduced (ErrStaleKey), to the principal whose chain identity id is
// (ErrInvalid). An old grant stays openable, for reading old revisions;
// writing needs the current version, which SealRevision enforces.
func (s *State) OpenGrant(g *Grant, id *crypto.Identity) (*crypto.EnvKey, error) {
	if err := s.checkGrant(g); err != nil {
		return nil, err
	}
	me, _ := s.Principal(g.recipient)
	box, err := recipientBytes(id.Recipient())
	if err != nil {
		return nil, err
	}
	if !equal32(box, me.box) {
		return nil, fmt.Errorf("%w: grant is for %q, whose key per the org chain is not this one", ErrInvalid, g.recipient)
	}
	return crypto.UnwrapKey(g.wrapped, g.envID, g.version, id)
}

// CheckGrant runs OpenGrant's checks that need no private key: g is for
// an environment and key version the chain has introduced, to a principal
// it records, signed by one who had access while that version was current.
// A server uses it to refuse a bad grant before storing it; a client opens
// grants with OpenGrant, which also runs these checks.
func (s *State) CheckGrant(g *Grant) error { return s.checkGrant(g) }

func (s *State) checkGrant(g *Grant) error {
	e := s.envs[g.envID]
	if e == nil {
		return fmt.Errorf("%w: grant for unknown environment %q", ErrInvalid, g.envID)
	}
	if g.version < 1 || g.version > len(e.keys) {
		return fmt.Errorf("%w: grant for key version %d of %q, which the org chain has not introduced", ErrStaleKey, g.version, g.envID)
	}
	if _, ok := s.Principal(g.recipient); !ok {
		return fmt.Errorf("%w: grant to %q, who is not in the org chain", ErrInvalid, g.recipient)
	}
	p := s.principals[g.granter]
	if p == nil {
		return fmt.Errorf("%w: granter %q is not in the org chain", ErrUnauthorized, g.granter)
	}
	// The version was current for seqs lo..hi; the granter must have had
	// access at some point of that span, and signed with the identity it
	// had then. (An identity only changes while its user is not a member,
	// so it is constant over each span of access.)
	lo, hi := e.keys[g.version-1], s.Seq()
	if g.version < len(e.keys) {
		hi = e.keys[g.version] - 1
	}
	msg, held := g.signedMessage(s.Anchor()), false
	t := p.access[g.envID]
	for i, a := range t {
		end := s.Seq()
		if i+1 < len(t) {
			end = t[i+1].seq - 1
		}
		if a.access == NoAccess || a.seq > hi || end < lo {
			continue
		}
		held = true
		if p.identityAt(max(a.seq, lo)).verify(msg, g.sig) {
			return nil
		}
	}
	if held {
		return fmt.Errorf("%w: grant of %q v%d by %q", ErrBadSignature, g.envID, g.version, g.granter)
	}
	return fmt.Errorf("%w: %q had no access to %q while key version %d was current", ErrUnauthorized, g.granter, g.envID, g.version)
}

// Bytes returns the canonical encoding of g, for the server to store.
func (g *Grant) Bytes() []byte {
	var e encoder
	e.str("secr/v2/grant")
	e.str(g.envID)
	e.u64(uint64(g.version))
	e.str(g.recipient)
	e.str(g.granter)
	e.bytes(g.wrapped)
	e.raw(g.sig)
	return e.b
}

// ParseGrant parses the encoding produced by Grant.Bytes.
func ParseGrant(b []byte) (*Grant, error) {
	d := decoder{b: b}
	if tag := d.str(); d.err == nil && tag != "secr/v2/grant" {
		d.fail("not a grant")
	}
	g := &Grant{envID: d.str()}
	if v := d.u64(); v > 1<<31 {
		d.fail("key version out of range")
	} else {
		g.version = int(v)
	}
	g.recipient, g.granter = d.str(), d.str()
	g.wrapped = append([]byte(nil), d.bytes()...)
	g.sig = append([]byte(nil), d.take(64)...)
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("grant: %w", err)
	}
	for _, err := range []error{checkID("environment ID", g.envID), checkID("recipient ID", g.recipient), checkID("granter ID", g.granter)} {
		if err != nil {
			return nil, fmt.Errorf("grant: %w", err)
		}
	}
	return g, nil
}

// EnvID returns the environment whose key g carries.
func (g *Grant) EnvID() string { return g.envID }

// KeyVersion returns the key version g carries.
func (g *Grant) KeyVersion() int { return g.version }

// Recipient returns the principal ID g is wrapped to.
func (g *Grant) Recipient() string { return g.recipient }

// Granter returns the principal ID that wrapped and signed g.
func (g *Grant) Granter() string { return g.granter }

// Wrapped returns the wrapped key itself, for tools and tests that check
// who can open it. OpenGrant is how a client opens one.
func (g *Grant) Wrapped() []byte { return append([]byte(nil), g.wrapped...) }
