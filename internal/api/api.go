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
	UserID            string `json:"user_id"`
	Email             string `json:"email"`
	Salt              []byte `json:"salt"`
	KDF               KDF    `json:"kdf"`
	AuthKey           []byte `json:"auth_key"`
	PublicKey         string `json:"public_key"`
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

type CreateOrgRequest struct {
	Name string `json:"name"`
}

type Org struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// NewEnvironment carries a client-generated environment ID and the first
// environment key, wrapped to the creator.
type NewEnvironment struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	WrappedKey []byte `json:"wrapped_key"`
}

type CreateProjectRequest struct {
	Name         string           `json:"name"`
	Environments []NewEnvironment `json:"environments"`
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
	Revision   int64     `json:"revision"`
	KeyVersion int       `json:"key_version"`
	Ciphertext []byte    `json:"ciphertext"`
	Author     string    `json:"author"`
	CreatedAt  time.Time `json:"created_at"`
}

// Snapshot is everything `secr run` needs in one response: the latest
// revision (nil for an empty environment) and this principal's wrapped key
// for the current key version.
type Snapshot struct {
	Org         string      `json:"org"`
	Project     string      `json:"project"`
	Environment Environment `json:"environment"`
	Revision    *Revision   `json:"revision,omitempty"`
	WrappedKey  []byte      `json:"wrapped_key"`
	CanWrite    bool        `json:"can_write"`
}

// History lists every revision and this principal's wrapped key for each
// key version they use.
type History struct {
	Environment Environment    `json:"environment"`
	Revisions   []Revision     `json:"revisions"`
	WrappedKeys map[int][]byte `json:"wrapped_keys"`
}

type WriteRevisionRequest struct {
	BaseRevision int64  `json:"base_revision"`
	KeyVersion   int    `json:"key_version"`
	Ciphertext   []byte `json:"ciphertext"`
}

type WriteRevisionResponse struct {
	Revision int64 `json:"revision"`
}

type CreateTokenRequest struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Environment string     `json:"environment"`
	AuthKey     []byte     `json:"auth_key"`
	PublicKey   string     `json:"public_key"`
	KeyVersion  int        `json:"key_version"`
	WrappedKey  []byte     `json:"wrapped_key"`
	ReadWrite   bool       `json:"read_write"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
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
	ProjectsRoute  = OrgsRoute + "/{org}/projects"
	ProjectRoute   = ProjectsRoute + "/{project}"
	EnvsRoute      = ProjectRoute + "/envs"
	EnvRoute       = EnvsRoute + "/{env}"
	SnapshotRoute  = EnvRoute + "/snapshot"
	RevisionsRoute = EnvRoute + "/revisions"
	EventsRoute    = EnvRoute + "/events"
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
