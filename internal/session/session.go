package session

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/tlsroots"
	"github.com/secr-dev/secr/internal/trust"
)

// Options are what a Session needs from its surroundings.
type Options struct {
	// Getenv reads SECR_TOKEN, SECR_TOKEN_FILE and the XDG directories.
	Getenv func(string) string
	// Warnf reports something the user should know that does not stop the
	// command ("secr: warning: ..."); nil discards.
	Warnf func(format string, args ...any)
	// Infof reports progress ("offline: using secrets cached ..."); nil
	// discards.
	Infof func(format string, args ...any)
	// Now is the clock for cache ages; nil means time.Now.
	Now func() time.Time
	// Insecure allows an http:// server URL that is not loopback (also
	// SECR_INSECURE=1): session tokens and auth keys travel in it.
	Insecure bool
	// Version and Command are the CLI's version and the command being run
	// ("run", "secrets get"), sent with every request for the server's
	// audit log (audit.go).
	Version string
	Command string
}

// newClient is client.New with the cleartext policy applied.
func (o *Options) newClient(apiURL string) (*client.Client, error) {
	opts := []client.Option{client.WithHeaders(o.auditHeaders())}
	if o.Insecure || o.Getenv("SECR_INSECURE") == "1" {
		opts = append(opts, client.AllowInsecure())
	}
	if d, err := o.dirs(); err == nil {
		opts = append(opts, client.WithRootHints(&tlsroots.Hints{Path: filepath.Join(d.Cache, "tls-roots")}))
	}
	return client.New(apiURL, opts...)
}

func (o *Options) warnf(format string, args ...any) {
	if o.Warnf != nil {
		o.Warnf(format, args...)
	}
}

func (o *Options) infof(format string, args ...any) {
	if o.Infof != nil {
		o.Infof(format, args...)
	}
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) dirs() (config.Dirs, error) { return config.ResolveDirs(o.Getenv) }

// Session is an authenticated principal on one server: a user with a stored
// login, or a service token.
type Session struct {
	opts     Options
	api      string
	client   *client.Client
	identity *crypto.Identity
	// signer signs org chain entries, grants and revisions as this
	// principal (a user's key is derived from identity, a token's from its
	// secret).
	signer *trust.Signer
	login  *config.Login  // nil for a service token
	token  *trust.Token   // nil for a user
	seen   *config.Seen   // nil when there is nowhere to keep state
	chains *config.Chains // pinned org chains; nil when there is nowhere to keep state
	// confirmed holds the members' keys this user checked out of band.
	confirmed *config.Confirmed
	// revoked holds the invites this user revoked.
	revoked *config.RevokedInvites

	// cache keeps the newest snapshot this machine opened or wrote, still
	// encrypted, for offline runs (nil when there is nowhere to keep it).
	cache  *config.SnapshotCache
	policy CachePolicy // how Load may read the cache beyond naming a held copy (UseCache)
	// openEarlyMin: a held copy with at least this much ciphertext is
	// opened while the conditional request is out (openEarlyMin in load.go;
	// tests set 0 to take that path with small environments).
	openEarlyMin int
}

// Authenticate uses $SECR_TOKEN (or the file named by $SECR_TOKEN_FILE)
// when set, else the stored login for t.API.
func Authenticate(t Target, o Options) (*Session, error) {
	cl, err := o.newClient(t.API)
	if err != nil {
		return nil, err
	}
	s := &Session{opts: o, api: cl.BaseURL(), openEarlyMin: openEarlyMin}
	dirs, dirsErr := o.dirs()
	if dirsErr == nil {
		s.seen, s.cache, s.chains, s.confirmed = config.SeenAt(dirs), config.CacheAt(dirs), config.ChainsAt(dirs), config.ConfirmedAt(dirs)
		s.revoked = config.RevokedInvitesAt(dirs)
	}
	raw, source := o.Getenv("SECR_TOKEN"), "SECR_TOKEN"
	if path := o.Getenv("SECR_TOKEN_FILE"); raw == "" && path != "" {
		// A file, for Docker and Kubernetes secret mounts.
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("SECR_TOKEN_FILE: %w", err)
		}
		raw, source = string(data), "SECR_TOKEN_FILE"
	}
	if raw != "" {
		tok, err := trust.ParseToken(strings.TrimSpace(raw))
		if err != nil {
			return nil, WithHint(&tokenError{source: source, err: err}, "create a new token with 'secr tokens create --env ENV' and put it in %s", source)
		}
		s.token, s.identity = tok, tok.Identity()
		s.client = cl.WithServiceToken(tok.ID(), tok.AuthKey())
		return s, nil
	}
	if dirsErr != nil {
		return nil, WithHint(ErrNotLoggedIn, "set SECR_TOKEN, or set HOME so secr can find your login (%v)", dirsErr)
	}
	creds := o.credentials(dirs)
	login, err := creds.Get(s.api)
	if err != nil {
		return nil, keyringHint(err, creds, false)
	}
	if login == nil {
		return nil, WithHint(fmt.Errorf("%w to %s", ErrNotLoggedIn, s.api), "run 'secr login' (or 'secr signup'), or set SECR_TOKEN to a service token")
	}
	id, err := crypto.ParseIdentity(login.Identity)
	if err != nil {
		return nil, WithHint(fmt.Errorf("stored login for %s is corrupt", s.api), "run 'secr login' again")
	}
	s.login, s.identity = login, id
	s.client = cl.WithSession(login.Session)
	return s, nil
}

// sig returns the Signer of this principal, derived on first use: a
// user's from the account key, a token's from its secret. Reads never
// sign, so 'secr run' does not pay for the derivation.
func (s *Session) sig() *trust.Signer {
	if s.signer == nil {
		if s.token != nil {
			s.signer = s.token.Signer()
		} else {
			s.signer = trust.NewSigner(s.login.UserID, trust.UserSigningKey(s.identity))
		}
	}
	return s.signer
}

// me is this principal's ID, as org chains record it.
func (s *Session) me() string {
	switch {
	case s.signer != nil:
		return s.signer.ID()
	case s.token != nil:
		return s.token.ID()
	}
	return s.login.UserID
}

// API is the server's normalised base URL.
func (s *Session) API() string { return s.api }

// IsServiceToken reports whether the principal is a service token.
func (s *Session) IsServiceToken() bool { return s.token != nil }

// WithDefaultOrg fills t's org from the login's default org when nothing
// else named one.
func (s *Session) WithDefaultOrg(t Target) Target {
	if t.Org == "" && s.login != nil {
		t.Org = s.login.DefaultOrg
	}
	return t
}

// principalID names the principal in cache paths.
func (s *Session) principalID() string {
	if s.token != nil {
		return s.token.ID()
	}
	return s.login.UserID
}

// CachePolicy says how Load may use the offline cache of encrypted
// snapshots, for secr run.
type CachePolicy struct {
	// Offline uses only the cache and asks no server.
	Offline bool
	// MaxStale: when the server is unreachable, a cache the server
	// confirmed at most this long ago is used, with a warning (0: never).
	MaxStale time.Duration
}

// UseCache lets Load read the offline cache as p says. Every session keeps
// the cache up to date, whether or not it reads it, so it always holds the
// newest revision this machine has opened or written.
func (s *Session) UseCache(p CachePolicy) {
	s.policy = p
}
