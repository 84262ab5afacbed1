// Package store defines the server's storage interface. Implementations
// live in subpackages (sqlite, postgres) and share one conformance suite in
// storetest. Everything stored is either public metadata, a hash, or
// ciphertext: the store never holds a key that can open a secret.
package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("not found")
	// ErrExists: a unique name or ID is taken.
	ErrExists = errors.New("already exists")
	// ErrConflict: a revision's base is no longer the latest.
	ErrConflict = errors.New("conflict")
	// ErrChainMoved: an org chain append did not start at the head's next
	// seq, because another change was appended first.
	ErrChainMoved = errors.New("org chain head moved")
)

// Roles of an org member.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

type User struct {
	ID        string
	Email     string
	Salt      []byte
	KDF       string // JSON of api.KDF
	AuthHash  []byte
	PublicKey string
	// Principal is the user's trust.Principal in its canonical encoding.
	Principal         []byte
	SealedKey         []byte
	RecoverySealedKey []byte
	// RecoveryAuthHash is the hash of the key derived from the recovery
	// code that proves it, for `secr recover`.
	RecoveryAuthHash []byte
	CreatedAt        time.Time
}

type Session struct {
	TokenHash []byte
	UserID    string
	ExpiresAt time.Time
	CreatedAt time.Time
}

type Org struct {
	ID        string
	Name      string
	CreatedAt time.Time
	// HeadSeq and Head are the seq and bytes (trust.Entry.Bytes) of the org
	// chain's last entry.
	HeadSeq uint64
	Head    []byte
	// State is the verified chain (trust.State.Bytes) up to HeadSeq. Only
	// OrgByName and OrgByID read it; ResolveEnv leaves it nil.
	State []byte
}

// ChainAppend is org chain entries to append in the same transaction as
// the change they record: Entries (trust.Entry.Bytes each) have seqs
// From, From+1, ..., and State is the verified chain after them. The
// append happens only if the head is still From-1 (else ErrChainMoved).
type ChainAppend struct {
	OrgID   string
	From    uint64
	Entries [][]byte
	State   []byte
}

type Member struct {
	OrgID     string
	UserID    string
	Role      string
	CreatedAt time.Time
}

// OrgMembership is an org with the caller's role in it.
type OrgMembership struct {
	Org
	Role string
}

type Project struct {
	ID        string
	OrgID     string
	Name      string
	CreatedAt time.Time
}

type Environment struct {
	ID         string
	ProjectID  string
	Name       string
	KeyVersion int
	CreatedAt  time.Time
}

// Grant is a principal's wrapped copy of one environment key version,
// signed by whoever wrapped it.
type Grant struct {
	EnvID       string
	PrincipalID string
	KeyVersion  int
	// Signed is trust.Grant.Bytes.
	Signed []byte
}

// Revision is one sealed snapshot of an environment.
type Revision struct {
	EnvID      string
	Revision   int64
	KeyVersion int
	// Header is the revision's signed header (trust.Header.Bytes).
	Header     []byte
	Ciphertext []byte
	AuthorID   string
	CreatedAt  time.Time
}

type Token struct {
	ID        string
	ProjectID string
	EnvID     string
	Name      string
	AuthHash  []byte
	ReadWrite bool
	ExpiresAt time.Time // zero: never
	CreatedBy string
	CreatedAt time.Time
}

// EnvAccess is one environment resolved by names together with what the
// server needs to authorise a principal on it and answer `secr run`, read
// in one query because it sits on every run's path.
type EnvAccess struct {
	// Org has HeadSeq and Head, not State. Org, Project and Env have no
	// CreatedAt (zero): nothing that resolves an environment uses it.
	Org     Org
	Project *Project     // nil: no such project in the org
	Env     *Environment // nil: no such environment in the project
	// MemberRole is the principal's role in the org, "" if not a member.
	MemberRole string
	// Grant is the principal's wrapped key for the current key version.
	Grant *Grant
	// Latest is nil when there is no revision yet. Its Header and
	// Ciphertext may be shared with other callers (a store may keep them
	// in memory): they must not be modified.
	Latest *Revision
	// Pending: the org has pending work on an environment whose current
	// key version the principal holds (see PendingWork).
	Pending bool
}

// LoginFailures is the failed-login count of one rate-limiter key (an
// account, a client address, or the pair) and the time of the last one.
type LoginFailures struct {
	Fails int
	Last  time.Time
}

// Store is the server's persistence. Every method is safe for concurrent
// use, including from several server processes sharing one database.
type Store interface {
	// ServerSecret returns a random secret created on first use, for values
	// that must be stable across restarts and replicas (fake salts).
	ServerSecret(ctx context.Context) ([]byte, error)

	CreateUser(ctx context.Context, u User) error
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// UpdatePassword replaces the password-derived parts of an account
	// (salt, KDF parameters, auth hash, sealed key) and ends all its sessions.
	UpdatePassword(ctx context.Context, userID string, salt []byte, kdf string, authHash, sealedKey []byte) error

	CreateSession(ctx context.Context, s Session) error
	// SessionUser returns a session and its user in one query.
	SessionUser(ctx context.Context, hash []byte) (Session, User, error)
	DeleteSession(ctx context.Context, hash []byte) error

	// CreateOrg creates org with ownerID as its owner; org.Head is the
	// chain's root (HeadSeq 0) and org.State the verified root.
	CreateOrg(ctx context.Context, org Org, ownerID string) error
	OrgByName(ctx context.Context, name string) (Org, error)
	OrgByID(ctx context.Context, id string) (Org, error)
	OrgsForUser(ctx context.Context, userID string) ([]OrgMembership, error)
	Member(ctx context.Context, orgID, userID string) (Member, error)
	// Chain returns the org's chain entries from seq from (inclusive) to
	// the head, oldest first.
	Chain(ctx context.Context, orgID string, from uint64) ([][]byte, error)

	// CreateProject creates a project, its environments and their grants
	// and appends c, atomically.
	CreateProject(ctx context.Context, p Project, envs []Environment, grants []Grant, c ChainAppend) error
	ProjectByName(ctx context.Context, orgID, name string) (Project, error)
	ProjectByID(ctx context.Context, id string) (Project, error)
	Projects(ctx context.Context, orgID string) ([]Project, error)

	// CreateEnvironment creates an environment and its grants and appends
	// c, atomically.
	CreateEnvironment(ctx context.Context, e Environment, grants []Grant, c ChainAppend) error
	EnvironmentByName(ctx context.Context, projectID, name string) (Environment, error)
	EnvironmentByID(ctx context.Context, id string) (Environment, error)
	Environments(ctx context.Context, projectID string) ([]Environment, error)

	// ResolveEnv resolves org/project/env names for principalID. It returns
	// ErrNotFound only when the org does not exist.
	ResolveEnv(ctx context.Context, org, project, env, principalID string) (EnvAccess, error)
	// ResolveEnvByID is ResolveEnv for the environment with ID envID (a
	// service token's): ErrNotFound when there is no such environment.
	ResolveEnvByID(ctx context.Context, envID, principalID string) (EnvAccess, error)

	// Grants returns principalID's grants on envID, oldest key version first.
	Grants(ctx context.Context, envID, principalID string) ([]Grant, error)

	LatestRevision(ctx context.Context, envID string) (Revision, error)
	Revisions(ctx context.Context, envID string) ([]Revision, error)
	// RevisionHeaders returns the headers of envID's revisions from since
	// (inclusive) to the latest, oldest first.
	RevisionHeaders(ctx context.Context, envID string, since int64) ([][]byte, error)
	// AppendRevision stores r (r.Revision must be base+1) only if base is
	// still the latest revision; otherwise it returns ErrConflict.
	AppendRevision(ctx context.Context, r Revision, base int64) error

	// CreateToken stores a service token and its one grant and appends c,
	// atomically.
	CreateToken(ctx context.Context, t Token, g Grant, c ChainAppend) error
	TokenByID(ctx context.Context, id string) (Token, error)
	Tokens(ctx context.Context, projectID string) ([]Token, error)
	// DeleteToken deletes a token and all its grants and appends c,
	// atomically.
	DeleteToken(ctx context.Context, id string, c ChainAppend) error

	// TryLogin is the failed-login limiter's one atomic step, shared by
	// every server on the database. It forgets counts whose last failure
	// is before forgetBefore, reads the counts of keys (absent keys are
	// zero) and passes them to wait. If wait returns more than zero, the
	// attempt is refused and nothing changes; otherwise one failure is
	// counted on every key at now (the attempt is presumed to fail until
	// LoginSucceeded says otherwise) and TryLogin returns 0. Concurrent
	// calls on the same keys are serialised.
	TryLogin(ctx context.Context, keys []string, now, forgetBefore time.Time, wait func(map[string]LoginFailures) time.Duration) (time.Duration, error)
	// LoginSucceeded takes back the failure TryLogin counted on each of
	// undo, and forgets clear's counts altogether.
	LoginSucceeded(ctx context.Context, undo, clear []string) error

	Close() error

	// Teams (TRUST.md §5; see teams.go for the types).

	// CreateInvite stores an open invite (ErrExists if its ID is taken).
	CreateInvite(ctx context.Context, inv Invite) error
	// InviteByID returns an invite whatever its state or expiry.
	InviteByID(ctx context.Context, id string) (Invite, error)
	// Invites returns org's open and accepted invites that expire after
	// now, with their inviters' emails, oldest first.
	Invites(ctx context.Context, orgID string, now time.Time) ([]Invite, error)
	// DeleteInvite deletes one of org's invites (ErrNotFound if none).
	DeleteInvite(ctx context.Context, orgID, id string) error
	// AcceptInvite records the invitee's principal and MAC on an open
	// invite that expires after now and makes it accepted; ErrNotFound if
	// there is no such invite.
	AcceptInvite(ctx context.Context, id string, principal, mac []byte, now time.Time) error
	// Members returns org's members with their emails, oldest first.
	Members(ctx context.Context, orgID string) ([]MemberInfo, error)
	// OrgEnvironments returns every environment of org's projects.
	OrgEnvironments(ctx context.Context, orgID string) ([]Environment, error)
	// ApplyOrgChange applies c atomically (see OrgChange).
	ApplyOrgChange(ctx context.Context, c OrgChange) error
	// Pending returns org's pending grants and rotations.
	Pending(ctx context.Context, orgID string) ([]PendingWork, error)
	// The audit log (audit.go).
	AuditStore
}
