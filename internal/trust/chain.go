package trust

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"
)

// Role is a member's role in an org.
type Role uint8

const (
	// Owner may do everything an Admin may, and is the only role that may
	// add, promote, demote or remove an owner. An org always keeps one.
	Owner Role = 1
	// Admin manages members, projects, environments and access. Like every
	// role, an admin reads an environment only once granted access to it.
	Admin Role = 2
	// Developer reads and writes the environments granted to them.
	Developer Role = 3
	// Viewer only reads the environments granted to them, whatever the grant says.
	Viewer Role = 4
)

func (r Role) String() string {
	switch r {
	case Owner:
		return "owner"
	case Admin:
		return "admin"
	case Developer:
		return "developer"
	case Viewer:
		return "viewer"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

func (r Role) valid() bool { return Owner <= r && r <= Viewer }

// Access is what a principal may do with an environment. Write implies Read.
type Access uint8

const (
	NoAccess Access = 0
	// Read lets a principal hold the environment's key and open revisions.
	Read Access = 1
	// Write also lets it sign new revisions (and create read-write tokens).
	Write Access = 2
)

func (a Access) String() string {
	switch a {
	case NoAccess:
		return "none"
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("access(%d)", uint8(a))
}

// An Op is the body of one org chain entry: one of the types below, each
// documented with who may sign it. State.Append signs one; Entry.Op returns it.
type Op interface {
	// Type returns the entry type, such as "member.add".
	Type() string
	encode(*encoder)
}

// CreateOrg (org.create) is entry 0, signed by the owner it names. Its hash
// is the org anchor.
type CreateOrg struct {
	OrgID string
	Name  string
	Owner *Principal // a user
}

// AddMember (member.add) is signed by an owner or admin; only an owner may
// add an owner. A removed member may be added again, with new keys.
type AddMember struct {
	Member *Principal // a user
	Role   Role
}

// SetRole (member.role) is signed by an owner or admin; only an owner may
// give or take the owner role, and not from the last owner.
type SetRole struct {
	MemberID string
	Role     Role
}

// RemoveMember (member.remove) is signed by an owner or admin (an owner for
// an owner, never the last one). It ends all the member's access; the
// remover should then rotate the keys of the environments they could read.
// Tokens the member created stay until revoked (RevokeToken).
type RemoveMember struct {
	MemberID string
}

// CreateProject (project.create) is signed by an owner or admin. Project
// names are unique in the org.
type CreateProject struct {
	ProjectID string
	Name      string
}

// CreateEnv (env.create) is signed by an owner or admin. Names are unique in
// the project. It introduces key version 1 and gives its signer write
// access: the signer generates that key, so it holds it.
type CreateEnv struct {
	EnvID     string
	ProjectID string
	Name      string
}

// GrantAccess (access.grant) is signed by an owner or admin and gives a
// member Read or Write access to environments. A viewer's effective access
// is Read whatever the grant says.
type GrantAccess struct {
	MemberID string
	EnvIDs   []string
	Access   Access
}

// RevokeAccess (access.revoke) is signed by an owner or admin; the revoker
// should then rotate the environments' keys.
type RevokeAccess struct {
	MemberID string
	EnvIDs   []string
}

// CreateToken (token.create) is signed by a member with access to the
// environment, at least the access given to the token. Expiry is recorded
// for display and enforced by the server when the token authenticates: the
// chain has no clock. A zero Expires means no expiry.
type CreateToken struct {
	Token   *Principal // a token, from Token.Principal
	EnvID   string
	Access  Access
	Expires time.Time
}

// RevokeToken (token.revoke) is signed by an owner, an admin, or a member
// with access to the token's environment.
type RevokeToken struct {
	TokenID string
}

// RotateKey (key.rotate) is signed by a member with access to the
// environment. Version is the current version plus one.
//
// A rotation is one unit: Append the RotateKey, extend a local copy of the
// State with it, MakeGrant the new key to every principal in Readers and
// SealRevision the newest document under it on that State, then send all of
// it in one request that the server commits atomically. A reader who saw
// the key.rotate without the rest would have no grant, or a newest revision
// under an old key (ErrStaleKey).
type RotateKey struct {
	EnvID   string
	Version int
}

func (CreateOrg) Type() string     { return "org.create" }
func (AddMember) Type() string     { return "member.add" }
func (SetRole) Type() string       { return "member.role" }
func (RemoveMember) Type() string  { return "member.remove" }
func (CreateProject) Type() string { return "project.create" }
func (CreateEnv) Type() string     { return "env.create" }
func (GrantAccess) Type() string   { return "access.grant" }
func (RevokeAccess) Type() string  { return "access.revoke" }
func (CreateToken) Type() string   { return "token.create" }
func (RevokeToken) Type() string   { return "token.revoke" }
func (RotateKey) Type() string     { return "key.rotate" }

func (o CreateOrg) encode(e *encoder)     { e.str(o.OrgID); e.str(o.Name); e.bytes(o.Owner.Bytes()) }
func (o AddMember) encode(e *encoder)     { e.bytes(o.Member.Bytes()); e.u8(uint8(o.Role)) }
func (o SetRole) encode(e *encoder)       { e.str(o.MemberID); e.u8(uint8(o.Role)) }
func (o RemoveMember) encode(e *encoder)  { e.str(o.MemberID) }
func (o CreateProject) encode(e *encoder) { e.str(o.ProjectID); e.str(o.Name) }
func (o CreateEnv) encode(e *encoder)     { e.str(o.EnvID); e.str(o.ProjectID); e.str(o.Name) }
func (o GrantAccess) encode(e *encoder) {
	e.str(o.MemberID)
	encodeIDs(e, o.EnvIDs)
	e.u8(uint8(o.Access))
}
func (o RevokeAccess) encode(e *encoder) { e.str(o.MemberID); encodeIDs(e, o.EnvIDs) }
func (o RevokeToken) encode(e *encoder)  { e.str(o.TokenID) }
func (o RotateKey) encode(e *encoder)    { e.str(o.EnvID); e.u64(uint64(o.Version)) }
func (o CreateToken) encode(e *encoder) {
	e.bytes(o.Token.Bytes())
	e.str(o.EnvID)
	e.u8(uint8(o.Access))
	var exp uint64
	if !o.Expires.IsZero() {
		exp = uint64(o.Expires.Unix())
	}
	e.u64(exp)
}

func encodeIDs(e *encoder, ids []string) {
	e.u64(uint64(len(ids)))
	for _, id := range ids {
		e.str(id)
	}
}

func decodeIDs(d *decoder) []string {
	ids := make([]string, d.count(4))
	for i := range ids {
		ids[i] = d.str()
	}
	return ids
}

func decodeEmbeddedPrincipal(d *decoder) *Principal {
	b := d.bytes()
	if d.err != nil {
		return nil
	}
	inner := decoder{b: b}
	if d.whole != "" { // its strings too are substrings of d's
		end := len(d.whole) - len(d.b)
		inner.whole = d.whole[end-len(b) : end]
	}
	p := decodePrincipal(&inner)
	if err := inner.done(); err != nil {
		d.err = err
	}
	return p
}

// decodeOp decodes and checks the fields of an entry body. Rules that need
// the chain's state (who may sign, whether an ID exists) are checked by replay.
func decodeOp(typ string, body []byte) (Op, error) {
	d := decoder{b: body}
	var op Op
	switch typ {
	case "org.create":
		op = CreateOrg{OrgID: d.str(), Name: d.str(), Owner: decodeEmbeddedPrincipal(&d)}
	case "member.add":
		op = AddMember{Member: decodeEmbeddedPrincipal(&d), Role: Role(d.u8())}
	case "member.role":
		op = SetRole{MemberID: d.str(), Role: Role(d.u8())}
	case "member.remove":
		op = RemoveMember{MemberID: d.str()}
	case "project.create":
		op = CreateProject{ProjectID: d.str(), Name: d.str()}
	case "env.create":
		op = CreateEnv{EnvID: d.str(), ProjectID: d.str(), Name: d.str()}
	case "access.grant":
		op = GrantAccess{MemberID: d.str(), EnvIDs: decodeIDs(&d), Access: Access(d.u8())}
	case "access.revoke":
		op = RevokeAccess{MemberID: d.str(), EnvIDs: decodeIDs(&d)}
	case "token.create":
		o := CreateToken{Token: decodeEmbeddedPrincipal(&d), EnvID: d.str(), Access: Access(d.u8())}
		if exp := d.u64(); exp != 0 {
			if exp > 1<<62 {
				d.fail("token expiry out of range")
			}
			o.Expires = time.Unix(int64(exp), 0).UTC()
		}
		op = o
	case "token.revoke":
		op = RevokeToken{TokenID: d.str()}
	case "key.rotate":
		o := RotateKey{EnvID: d.str()}
		if v := d.u64(); v > 1<<31 {
			d.fail("key version out of range")
		} else {
			o.Version = int(v)
		}
		op = o
	default:
		return nil, fmt.Errorf("%w: unknown org chain entry type %q", ErrMalformed, typ)
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("%s body: %w", typ, err)
	}
	if err := checkOp(op); err != nil {
		return nil, fmt.Errorf("%s body: %w", typ, err)
	}
	return op, nil
}

// checkOp checks the fields of op on their own.
func checkOp(op Op) error {
	var errs []error
	id := func(what, v string) { errs = append(errs, checkID(what, v)) }
	name := func(what, v string) { errs = append(errs, checkName(what, v)) }
	role := func(r Role) {
		if !r.valid() {
			errs = append(errs, fmt.Errorf("%w: unknown role %d", ErrMalformed, r))
		}
	}
	access := func(a Access) {
		if a != Read && a != Write {
			errs = append(errs, fmt.Errorf("%w: access must be read or write, not %d", ErrMalformed, a))
		}
	}
	ids := func(v []string) {
		if len(v) == 0 {
			errs = append(errs, fmt.Errorf("%w: no environments", ErrMalformed))
		}
		seen := map[string]bool{}
		for _, e := range v {
			id("environment ID", e)
			if seen[e] {
				errs = append(errs, fmt.Errorf("%w: environment %q listed twice", ErrMalformed, e))
			}
			seen[e] = true
		}
	}
	kind := func(p *Principal, k Kind) {
		if p == nil {
			errs = append(errs, fmt.Errorf("%w: missing identity", ErrMalformed))
		} else if p.kind != k {
			errs = append(errs, fmt.Errorf("%w: %s %q must be a %s", ErrMalformed, p.kind, p.id, k))
		}
	}
	switch o := op.(type) {
	case CreateOrg:
		id("org ID", o.OrgID)
		name("org name", o.Name)
		kind(o.Owner, KindUser)
	case AddMember:
		kind(o.Member, KindUser)
		role(o.Role)
	case SetRole:
		id("member ID", o.MemberID)
		role(o.Role)
	case RemoveMember:
		id("member ID", o.MemberID)
	case CreateProject:
		id("project ID", o.ProjectID)
		name("project name", o.Name)
	case CreateEnv:
		id("environment ID", o.EnvID)
		id("project ID", o.ProjectID)
		name("environment name", o.Name)
	case GrantAccess:
		id("member ID", o.MemberID)
		ids(o.EnvIDs)
		access(o.Access)
	case RevokeAccess:
		id("member ID", o.MemberID)
		ids(o.EnvIDs)
	case CreateToken:
		kind(o.Token, KindToken)
		id("environment ID", o.EnvID)
		access(o.Access)
		if !o.Expires.IsZero() && o.Expires.Unix() <= 0 {
			errs = append(errs, fmt.Errorf("%w: token expiry before 1970", ErrMalformed))
		}
	case RevokeToken:
		id("token ID", o.TokenID)
	case RotateKey:
		id("environment ID", o.EnvID)
		if o.Version < 2 {
			errs = append(errs, fmt.Errorf("%w: rotated key version %d must be at least 2", ErrMalformed, o.Version))
		}
	default:
		errs = append(errs, fmt.Errorf("%w: unknown entry type %T", ErrMalformed, op))
	}
	return firstErr(errs...)
}

// Entry is one signed entry of an org chain:
//
//	{seq, prev, type, body, signer, sig}
//	prev = SHA-256(encoding of entry seq-1), zero for entry 0
//	sig  = Ed25519(signer, "secr/v2/org-chain" ‖ orgID ‖ encoding(entry without sig))
//
// Make one with NewOrg or State.Append; read one with ParseEntry. An Entry
// on its own proves nothing: Verify and State.Extend decide whether it
// belongs to a chain.
type Entry struct {
	seq      uint64
	prev     [32]byte
	op       Op
	body     []byte // op's encoding, kept as received
	signer   string
	sig      []byte
	unsigned []byte // encoding without sig
}

func newEntry(seq uint64, prev [32]byte, op Op, signer string) *Entry {
	var body encoder
	op.encode(&body)
	e := &Entry{seq: seq, prev: prev, op: op, body: body.b, signer: signer}
	e.unsigned = e.encodeUnsigned()
	return e
}

func (e *Entry) encodeUnsigned() []byte {
	var enc encoder
	enc.str("secr/v2/entry")
	enc.u64(e.seq)
	enc.raw(e.prev[:])
	enc.str(e.op.Type())
	enc.bytes(e.body)
	enc.str(e.signer)
	return enc.b
}

// signedMessage is what the signer signs: the domain, the org ID (so an
// entry cannot move between orgs) and the entry without its signature.
func (e *Entry) signedMessage(orgID string) []byte {
	var enc encoder
	enc.raw([]byte("secr/v2/org-chain"))
	enc.str(orgID)
	enc.raw(e.unsigned)
	return enc.b
}

// Bytes returns the canonical encoding of the entry, signature included:
// what the server stores and serves, and what Hash hashes.
func (e *Entry) Bytes() []byte {
	return append(append([]byte(nil), e.unsigned...), e.sig...)
}

// Hash returns SHA-256(e.Bytes()): the next entry's prev, and for entry 0
// the org anchor.
func (e *Entry) Hash() [32]byte {
	h := sha256.New()
	h.Write(e.unsigned)
	h.Write(e.sig)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ParseEntry parses the encoding produced by Entry.Bytes and checks the
// body's fields. It does not check the signature: that needs the chain.
func ParseEntry(b []byte) (*Entry, error) {
	b = bytes.Clone(b) // the Entry keeps parts of it
	d := decoder{b: b}
	if tag := d.str(); d.err == nil && tag != "secr/v2/entry" {
		d.fail("not an org chain entry")
	}
	e := &Entry{seq: d.u64()}
	d.raw(e.prev[:])
	typ := d.str()
	e.body = d.bytes()
	e.signer = d.str()
	e.sig = d.take(64)
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("org chain entry: %w", err)
	}
	if err := checkID("signer ID", e.signer); err != nil {
		return nil, fmt.Errorf("org chain entry %d: %w", e.seq, err)
	}
	op, err := decodeOp(typ, e.body)
	if err != nil {
		return nil, fmt.Errorf("org chain entry %d: %w", e.seq, err)
	}
	e.op = op
	e.unsigned = b[: len(b)-64 : len(b)-64]
	return e, nil
}

// Seq returns the entry's position in the chain; the root is 0.
func (e *Entry) Seq() uint64 { return e.seq }

// Op returns the entry's body, one of the Op types of this package. It is
// a copy: changing it changes neither the entry nor how it verifies.
func (e *Entry) Op() Op {
	switch o := e.op.(type) {
	case GrantAccess:
		o.EnvIDs = slices.Clone(o.EnvIDs)
		return o
	case RevokeAccess:
		o.EnvIDs = slices.Clone(o.EnvIDs)
		return o
	}
	return e.op
}

// Signer returns the principal ID of the entry's signer.
func (e *Entry) Signer() string { return e.signer }
