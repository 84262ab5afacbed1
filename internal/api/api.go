// Package api holds the wire types of secr's HTTP JSON API (/v1), shared by
// the client and the server. It uses only the standard library.
//
// Byte slices travel as standard base64 (encoding/json's default). Nothing
// here ever carries a plaintext secret name or value.
package api

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/kdf"
)

// Error codes of the error envelope.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeRateLimited  = "rate_limited"
	CodeInternal     = "internal"
)

// Error is the body of every non-2xx response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter is set with CodeRateLimited: seconds until the next try.
	RetryAfter int `json:"retry_after,omitempty"`
}

// Authorization schemes. Sessions use "Bearer <token>"; service tokens use
// "SecrToken <id>:<base64 auth key>" so that the token's secret part never
// leaves the client.
const (
	SchemeBearer = "Bearer"
	SchemeToken  = "SecrToken"
)

// KDF is the Argon2id parameters stored with a user.
type KDF = kdf.Params

type AuthParamsRequest struct {
	Email string `json:"email"`
}

type AuthParamsResponse struct {
	Salt []byte `json:"salt"`
	KDF  KDF    `json:"kdf"`
}

// SignupRequest creates an account. The client chooses UserID (random)
// because the sealed key is bound to it.
type SignupRequest struct {
	UserID    string `json:"user_id"`
	Email     string `json:"email"`
	Salt      []byte `json:"salt"`
	KDF       KDF    `json:"kdf"`
	AuthKey   []byte `json:"auth_key"`
	PublicKey string `json:"public_key"`
	// Principal is the user's public identity in its canonical encoding
	// (trust.Principal.Bytes: ID, kind, email, X25519 and Ed25519 keys). Its
	// ID, email and X25519 key must be UserID, Email and PublicKey; org
	// chain entries the user signs are checked against it.
	Principal         []byte `json:"principal"`
	SealedKey         []byte `json:"sealed_key"`
	RecoverySealedKey []byte `json:"recovery_sealed_key"`
	RecoveryAuthKey   []byte `json:"recovery_auth_key"`
}

// RecoverRequest proves a recovery code and asks for the account key
// sealed under it.
type RecoverRequest struct {
	Email           string `json:"email"`
	RecoveryAuthKey []byte `json:"recovery_auth_key"`
}

type RecoverResponse struct {
	User              User   `json:"user"`
	RecoverySealedKey []byte `json:"recovery_sealed_key"`
}

// ChangePasswordRequest replaces the password-derived parts of an account.
// It proves the account with the current password's auth key or with the
// recovery code's; all existing sessions end.
type ChangePasswordRequest struct {
	Email           string `json:"email"`
	CurrentAuthKey  []byte `json:"current_auth_key,omitempty"`
	RecoveryAuthKey []byte `json:"recovery_auth_key,omitempty"`
	Salt            []byte `json:"salt"`
	KDF             KDF    `json:"kdf"`
	AuthKey         []byte `json:"auth_key"`
	SealedKey       []byte `json:"sealed_key"`
}

type LoginRequest struct {
	Email   string `json:"email"`
	AuthKey []byte `json:"auth_key"`
}

type User struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	PublicKey string `json:"public_key"`
	// Principal is the identity given at sign-up (SignupRequest.Principal).
	Principal []byte `json:"principal,omitempty"`
}

// SessionResponse answers signup and login.
type SessionResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
	SealedKey []byte    `json:"sealed_key"`
}

// WhoAmI describes the calling principal.
type WhoAmI struct {
	Kind  string     `json:"kind"` // "user" or "token"
	User  *User      `json:"user,omitempty"`
	Token *TokenInfo `json:"token,omitempty"`
}

// CreateOrgRequest creates an org from its org chain's root entry
// (trust.NewOrg, entry 0: org.create), which names the org's ID and name
// and its owner, the caller, and is signed by them. Its hash is the org
// anchor.
type CreateOrgRequest struct {
	Name string `json:"name"`
	Root []byte `json:"root"`
}

type Org struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Chain is part of an org's chain (trust.Entry.Bytes each), in order,
// starting at the entry the client asked for (ChainFromParam, inclusive)
// and ending at the server's head.
type Chain struct {
	OrgID   string   `json:"org_id"`
	Entries [][]byte `json:"entries"`
}

// ChainWrite is how every request that changes an org says what changed:
// the org chain entries that record it, signed by the caller on top of the
// chain head they verified, and the signed grants (trust.Grant.Bytes) of
// any environment key it creates or hands out. The server appends Entries
// only if the first one continues its head (409 Conflict otherwise: fetch
// the chain and sign again) and every entry verifies, in the same
// transaction as the change they record.
type ChainWrite struct {
	Entries [][]byte `json:"entries"`
	Grants  [][]byte `json:"grants,omitempty"`
}

// CreateProjectRequest creates a project and its environments. Entries
// are one project.create and an env.create for each environment; the
// server takes the project's and environments' IDs and names from them.
// Grants hold each new environment's key version 1, wrapped to the caller.
type CreateProjectRequest struct {
	Name string `json:"name"`
	ChainWrite
}

// CreateEnvRequest creates one environment: Entries is its env.create,
// Grants its key version 1 wrapped to the caller.
type CreateEnvRequest struct {
	Name string `json:"name"`
	ChainWrite
}

type Project struct {
	Name         string        `json:"name"`
	CreatedAt    time.Time     `json:"created_at"`
	Environments []Environment `json:"environments"`
}

type Environment struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	KeyVersion     int    `json:"key_version"`
	LatestRevision int64  `json:"latest_revision"`
}

type Revision struct {
	Revision   int64 `json:"revision"`
	KeyVersion int   `json:"key_version"`
	// Header is the revision's signed header (trust.Header.Bytes): it is
	// what the client checks; Revision, KeyVersion and Author repeat it
	// for display.
	Header     []byte    `json:"header"`
	Ciphertext []byte    `json:"ciphertext"`
	Author     string    `json:"author"`
	CreatedAt  time.Time `json:"created_at"`
}

// Query parameters of the snapshot and history requests.
const (
	// ChainFromParam asks for the org chain from this entry (inclusive):
	// the client's verified head, or 0 with no cached chain.
	ChainFromParam = "chain_from"
	// SinceParam asks for the headers of every revision from this one
	// (inclusive) to the latest: the revision this client saw last, so it
	// can check the links in between. Absent or 0: none.
	SinceParam = "since"
)

// Snapshot is everything `secr run` needs in one response: the latest
// revision (nil for an empty environment), this principal's signed grant
// of the current key version, the org chain from where the client's
// verified copy ends, and the headers since the revision it saw last.
type Snapshot struct {
	Org         string      `json:"org"`
	OrgID       string      `json:"org_id"`
	Project     string      `json:"project"`
	Environment Environment `json:"environment"`
	Revision    *Revision   `json:"revision,omitempty"`
	// Grant is trust.Grant.Bytes: the environment key, wrapped to this
	// principal and signed by whoever wrapped it.
	Grant    []byte `json:"grant"`
	CanWrite bool   `json:"can_write"`
	// Chain is the org chain from ChainFromParam (inclusive) to the head.
	Chain [][]byte `json:"chain,omitempty"`
	// Headers are the revisions' headers from SinceParam (inclusive) to
	// the latest, oldest first.
	Headers [][]byte `json:"headers,omitempty"`
	// ChainHead is the number of the org chain's newest entry: part of the
	// ETag, so that a change of the org (a role, a rotation) is never
	// answered 304 to a client that has not seen it.
	ChainHead uint64 `json:"chain_head"`
	// Pending says the org has pending work (Pending) on an environment
	// whose current key this principal holds: its client completes it.
	Pending bool `json:"pending,omitempty"`
}

// History lists every revision (with its header), this principal's signed
// grant for each key version they hold, and the org chain from
// ChainFromParam.
type History struct {
	Org         string         `json:"org"`
	OrgID       string         `json:"org_id"`
	Environment Environment    `json:"environment"`
	Revisions   []Revision     `json:"revisions"`
	Grants      map[int][]byte `json:"grants"`
	Chain       [][]byte       `json:"chain,omitempty"`
}

// WriteRevisionRequest appends a revision. Header is its signed header
// (trust.State.SealRevision), whose revision must be BaseRevision+1 and
// whose key version must be the environment's current one.
type WriteRevisionRequest struct {
	BaseRevision int64  `json:"base_revision"`
	KeyVersion   int    `json:"key_version"`
	Header       []byte `json:"header"`
	Ciphertext   []byte `json:"ciphertext"`
}

type WriteRevisionResponse struct {
	Revision int64 `json:"revision"`
}

// CreateTokenRequest creates a service token (trust.Token). Entries is
// its token.create, which carries the token's identity (ID, name and
// keys), environment, access and expiry: ID, Name, ReadWrite and
// ExpiresAt must repeat it. Grants is the current environment key wrapped
// to the token.
type CreateTokenRequest struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Environment string     `json:"environment"`
	AuthKey     []byte     `json:"auth_key"`
	ReadWrite   bool       `json:"read_write"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	ChainWrite
}

// RevokeTokenRequest is the body of a token DELETE: its token.revoke entry.
type RevokeTokenRequest struct {
	ChainWrite
}

type TokenInfo struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Org         string     `json:"org"`
	Project     string     `json:"project"`
	Environment string     `json:"environment"`
	ReadWrite   bool       `json:"read_write"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
}

// ValidSlug reports whether s is a valid org, project or environment name:
// lower-case letters, digits, '.', '_' and '-', starting with a letter or
// digit, at most 63 characters.
//
// Validators here are written out rather than regular expressions, because
// compiling those at init costs every `secr run` about a tenth of a
// millisecond.
func ValidSlug(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// Routes, as net/http ServeMux patterns without the method: the server
// registers exactly these, and clients fill them in with Path, so there is
// one source of truth for every URL.
const (
	OrgsRoute      = "/v1/orgs"
	OrgRoute       = OrgsRoute + "/{org}"
	ProjectsRoute  = OrgRoute + "/projects"
	ProjectRoute   = ProjectsRoute + "/{project}"
	EnvsRoute      = ProjectRoute + "/envs"
	EnvRoute       = EnvsRoute + "/{env}"
	SnapshotRoute  = EnvRoute + "/snapshot"
	RevisionsRoute = EnvRoute + "/revisions"
	EventsRoute    = EnvRoute + "/events"
	ChainRoute     = OrgRoute + "/chain"
	TokensRoute    = ProjectRoute + "/tokens"
	TokenRoute     = TokensRoute + "/{id}"
)

// Path fills route's {wildcards}, in order, with args, each path-escaped.
// It panics when the counts differ: that is a bug in the caller, not input.
func Path(route string, args ...string) string {
	var b strings.Builder
	n := 0
	for {
		open := strings.IndexByte(route, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(route[open:], '}')
		if end < 0 || n >= len(args) {
			panic("api.Path: route " + route + " needs more arguments")
		}
		b.WriteString(route[:open])
		b.WriteString(url.PathEscape(args[n]))
		n++
		route = route[open+end+1:]
	}
	if n != len(args) {
		panic("api.Path: too many arguments for route")
	}
	b.WriteString(route)
	return b.String()
}

// RevisionEvent is the data of a "revision" Server-Sent Event on an
// environment's events stream (…/envs/{env}/events, or TokenEventsPath):
// the newest revision. The first event is the latest at connect time.
type RevisionEvent struct {
	Revision int64 `json:"revision"`
}

const (
	HealthPath     = "/healthz"
	AuthParamsPath = "/v1/auth/params"
	SignupPath     = "/v1/auth/signup"
	LoginPath      = "/v1/auth/login"
	LogoutPath     = "/v1/auth/logout"
	RecoverPath    = "/v1/auth/recover"
	PasswordPath   = "/v1/auth/password"
	WhoAmIPath     = "/v1/whoami"
	// TokenSnapshotPath returns the Snapshot of a service token's own
	// environment, for CI where there is no .secr.json.
	TokenSnapshotPath = "/v1/token/snapshot"
	// TokenEventsPath streams a service token's environment's revisions.
	TokenEventsPath = "/v1/token/events"
)

// ValidID reports whether id is a well-formed object ID with prefix: for
// tokens "st_" and 32 hex digits, otherwise prefix, "_" and 26 base32
// characters.
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok {
		return false
	}
	want, valid := 26, func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '2' && c <= '7' }
	if prefix == "st" {
		want, valid = 32, func(c byte) bool { return c >= 'a' && c <= 'f' || c >= '0' && c <= '9' }
	}
	if len(rest) != want {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !valid(rest[i]) {
			return false
		}
	}
	return true
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns prefix + "_" + 26 random base32 characters (128 bits). The
// client makes the IDs it must know before the server does (a user ID bound
// into the sealed account key, an environment ID bound into a wrapped key);
// the server makes the others. ValidID checks the form.
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// PublicKeyPrefix starts a principal's public key in its text form.
const PublicKeyPrefix = "secrpk_"

// ValidPublicKey reports whether s has the form of a principal's X25519
// public key ("secrpk_" and 32 bytes in unpadded base64url), as
// crypto.Recipient.String writes it. The server checks only the form.
func ValidPublicKey(s string) bool {
	rest, ok := strings.CutPrefix(s, PublicKeyPrefix)
	if !ok {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil && len(b) == 32
}

// Teams (TRUST.md §5): invitations, membership and access changes, and the
// grants and rotations that follow them.
const (
	// InvitesRoute: POST CreateInviteRequest (owner or admin) → Invite;
	// GET → []Invite, the org's open invites (owner or admin).
	InvitesRoute = OrgRoute + "/invites"
	// InviteRoute: DELETE revokes an open invite (owner or admin).
	InviteRoute = InvitesRoute + "/{id}"
	// AcceptInviteRoute: POST AcceptInviteRequest by the invited user
	// (logged in, with the invite's email) → AcceptInviteResponse.
	AcceptInviteRoute = "/v1/invites/{id}/accept"
	// MembersRoute: GET → []Member, the server's view of the members
	// (display only: clients take members and roles from the chain).
	MembersRoute = OrgRoute + "/members"
	// OrgChangeRoute: POST OrgChange by a member → ChainWriteResponse. It
	// appends chain entries of any kind a member may sign and applies what
	// they record, with the grants and revisions that go with them, in one
	// transaction (ChainRoute GETs the chain; this POSTs to it).
	OrgChangeRoute = ChainRoute
	// PendingRoute: GET → Pending, the grants and key rotations the chain
	// calls for that no key holder has made yet.
	PendingRoute = OrgRoute + "/pending"
)

// Invite states.
const (
	InviteOpen     = "open"     // made, not yet accepted
	InviteAccepted = "accepted" // the invitee sent their identity; an admin's client completes it
)

// CreateInviteRequest records an invitation. ID is trust.Invite.ID (a hash
// of the invite's secret, which the server never sees). Envs are
// environment IDs the new member gets access to (Write for developers,
// owners and admins; Read for viewers). SealedSecret is the invite code
// sealed by the inviter for themselves (crypto.Identity.SealToSelf, bound
// to ID), so that any of the inviter's machines can check the invitee's
// MAC and complete the invite, and the server cannot swap in a secret of
// its own.
type CreateInviteRequest struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Role         string    `json:"role"` // owner, admin, developer or viewer
	Envs         []string  `json:"envs,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
	SealedSecret []byte    `json:"sealed_secret"`
}

// Invite is an open or accepted invitation, as the org's admins see it.
type Invite struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Role         string    `json:"role"`
	Envs         []string  `json:"envs,omitempty"`
	Inviter      string    `json:"inviter"` // user ID
	InviterEmail string    `json:"inviter_email"`
	ExpiresAt    time.Time `json:"expires_at"`
	CreatedAt    time.Time `json:"created_at"`
	Status       string    `json:"status"`
	// SealedSecret is returned to the inviter only.
	SealedSecret []byte `json:"sealed_secret,omitempty"`
	// Principal and MAC are the invitee's identity (trust.Principal.Bytes)
	// and HMAC under the invite secret (trust.Invite.MAC), once accepted.
	Principal []byte `json:"principal,omitempty"`
	MAC       []byte `json:"mac,omitempty"`
}

// AcceptInviteRequest is the invitee's identity, which must be the
// caller's stored principal, and its MAC under the invite's secret.
type AcceptInviteRequest struct {
	Principal []byte `json:"principal"`
	MAC       []byte `json:"mac"`
}

// AcceptInviteResponse lets the invitee verify the org from the anchor in
// the invite code before anyone adds them: the org's chain from its root.
type AcceptInviteResponse struct {
	Org     string   `json:"org"`
	OrgID   string   `json:"org_id"`
	Role    string   `json:"role"`
	Inviter string   `json:"inviter"` // user ID: look the identity up in Chain
	Chain   [][]byte `json:"chain"`
}

// Member is one member of an org as the server records it.
type Member struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// OrgChange appends entries to an org's chain and applies them: member.add
// (InviteID names the accepted invite whose identity it adds),
// member.role, member.remove, access.grant, access.revoke, key.rotate and
// token.revoke. Grants (trust.Grant.Bytes) may come with or without
// entries (completing pending grants). Every key.rotate of an environment
// that has revisions must come with Revisions: its newest revision
// re-sealed under the new key version, which becomes the latest.
type OrgChange struct {
	ChainWrite
	InviteID  string            `json:"invite_id,omitempty"`
	Revisions []RotatedRevision `json:"revisions,omitempty"`
}

// RotatedRevision is an environment's newest document re-sealed under a
// new key version: its header's revision is the latest plus one.
type RotatedRevision struct {
	EnvID      string `json:"env_id"`
	Header     []byte `json:"header"`
	Ciphertext []byte `json:"ciphertext"`
}

// ChainWriteResponse is the org chain's head after a change.
type ChainWriteResponse struct {
	HeadSeq uint64 `json:"head_seq"`
}

// PendingGrant is a principal the chain gives access to an environment
// whose current key no key holder has wrapped to it yet.
type PendingGrant struct {
	EnvID       string `json:"env_id"`
	PrincipalID string `json:"principal_id"`
	KeyVersion  int    `json:"key_version"`
}

// PendingRotation is an environment whose key must be rotated because a
// principal lost access to it (member.remove, access.revoke, token.revoke)
// and whoever removed it did not hold the key.
type PendingRotation struct {
	EnvID      string `json:"env_id"`
	KeyVersion int    `json:"key_version"` // the version to rotate away from
}

// Pending is the work any key holder's client completes ('secr access
// sync', and opportunistically).
type Pending struct {
	Grants    []PendingGrant    `json:"grants"`
	Rotations []PendingRotation `json:"rotations"`
}
