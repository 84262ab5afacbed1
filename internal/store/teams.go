package store

import "time"

// Invite states: open and accepted are api.InviteOpen and
// api.InviteAccepted. An invite whose member.add was applied is deleted.
const (
	InviteOpen     = "open"
	InviteAccepted = "accepted"
)

// Invite is an invitation to an org (TRUST.md §5). The server never sees
// its secret: ID is a hash of it, and SealedSecret is sealed by the
// inviter for themselves.
type Invite struct {
	ID           string
	OrgID        string
	Email        string
	Role         string // owner, admin, developer or viewer
	Envs         []string
	Inviter      string // user ID
	InviterEmail string // filled by Invites
	SealedSecret []byte
	Status       string
	// Principal and MAC are the invitee's, once accepted.
	Principal []byte
	MAC       []byte
	ExpiresAt time.Time
	CreatedAt time.Time
}

// MemberInfo is a member with the email of its user.
type MemberInfo struct {
	Member
	Email string
}

// PendingWork is a grant (PrincipalID set) or a key rotation (PrincipalID
// empty) that the org chain calls for and no key holder has made yet, on
// environment EnvID at key version KeyVersion (for a rotation, the one to
// rotate away from).
type PendingWork struct {
	OrgID       string
	EnvID       string
	PrincipalID string
	KeyVersion  int
}

// Rotation moves EnvID from key version Version-1 to Version, with
// Revision (nil when the environment has none) as its new latest revision,
// re-sealed under Version.
type Rotation struct {
	EnvID    string
	Version  int
	Revision *Revision
}

// OrgChange is what one org change request does, applied atomically by
// ApplyOrgChange in this order:
//
//   - Chain is appended (ErrChainMoved if the head moved). Without it (a
//     request of grants only), the org's head must still be HeadSeq (else
//     ErrChainMoved), so that the change was checked on the current chain.
//   - Invite, if set, must be accepted (else ErrNotFound) and is deleted;
//     AddMembers are inserted, SetRoles update roles.
//   - RemoveMembers (user IDs) lose their members rows and their grants on
//     the org's environments; RevokeGrants delete a principal's grants on
//     the environments listed; RevokeTokens delete tokens and their grants.
//   - Rotations bump key versions (ErrConflict unless from Version-1) and
//     append their revisions (ErrConflict unless it follows the latest).
//   - Grants are stored, replacing any for the same environment, principal
//     and key version.
//   - Pending work is recomputed for every environment in Readers (the
//     principals that may read it per the chain after the change): a grant
//     is pending for each reader with no grant of the current key version.
//     Rotations clear an environment's pending rotation; NewRotations add
//     one (for the environment's current key version).
type OrgChange struct {
	OrgID         string
	Chain         *ChainAppend
	HeadSeq       uint64
	Invite        string
	AddMembers    []Member
	SetRoles      []Member
	RemoveMembers []string
	RevokeGrants  []Grant // EnvID and PrincipalID: all key versions
	RevokeTokens  []string
	Rotations     []Rotation
	Grants        []Grant
	Readers       map[string][]string
	NewRotations  []string // environment IDs
	// Notify are principals whose access changed (event streams recheck).
	Notify []string
}
