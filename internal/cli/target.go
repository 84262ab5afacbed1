package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/envdoc"
)

// DefaultAPI is the embedded server's address.
const DefaultAPI = "http://127.0.0.1:7700"

var errNotLoggedIn = errors.New("not logged in")

// errReadOnly: a read-only service token was asked to write.
var errReadOnly = errors.New("this service token is read-only")

// targetFlags are the flags that pick a server, org, project and
// environment. Commands embed the ones they need.
type targetFlags struct {
	org, project, env string
}

func (f *targetFlags) addOrg(c *cobra.Command) {
	c.Flags().StringVar(&f.org, "org", "", "org name (default: .secr.json, then your default org)")
}

func (f *targetFlags) addProject(c *cobra.Command) {
	f.addOrg(c)
	c.Flags().StringVar(&f.project, "project", "", "project name (default: .secr.json)")
}

func (f *targetFlags) addEnv(c *cobra.Command) {
	f.addProject(c)
	c.Flags().StringVarP(&f.env, "env", "e", "", "environment (default $SECR_ENV, then .secr.json, then development)")
}

// target is a resolved server and, as far as known, org/project/env.
type target struct {
	api, org, project, env string
	// envExplicit: the environment came from a flag or $SECR_ENV.
	envExplicit bool
}

// resolveTarget applies the precedence: flags > environment variables >
// .secr.json > stored login defaults > built-in defaults.
func (d *Deps) resolveTarget(c *cobra.Command, f *targetFlags) (target, error) {
	proj, err := d.projectFile()
	if err != nil {
		return target{}, err
	}
	return d.targetFrom(c, f, proj), nil
}

// projectFile finds and parses .secr.json; nil when there is none.
func (d *Deps) projectFile() (*config.Project, error) {
	wd, err := d.Getwd()
	if err != nil {
		return nil, nil
	}
	p, _, err := config.FindProject(wd)
	if errors.Is(err, config.ErrNoProjectFile) {
		return nil, nil
	}
	return p, err
}

// targetFrom applies the precedence with proj (which may be nil) as the
// .secr.json layer.
func (d *Deps) targetFrom(c *cobra.Command, f *targetFlags, proj *config.Project) target {
	var t target
	apiFlag, _ := c.Flags().GetString("api")
	t.api = first(apiFlag, d.Getenv("SECR_API_URL"), field(proj, func(p *config.Project) string { return p.API }), DefaultAPI)
	t.org = first(f.org, d.Getenv("SECR_ORG"), field(proj, func(p *config.Project) string { return p.Org }))
	t.project = first(f.project, d.Getenv("SECR_PROJECT"), field(proj, func(p *config.Project) string { return p.Project }))
	t.envExplicit = f.env != "" || d.Getenv("SECR_ENV") != ""
	t.env = first(f.env, d.Getenv("SECR_ENV"), field(proj, func(p *config.Project) string { return p.Environment }), "development")
	return t
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func field(p *config.Project, get func(*config.Project) string) string {
	if p == nil {
		return ""
	}
	return get(p)
}

// session is an authenticated principal on one server.
type session struct {
	d        *Deps
	api      string
	client   *client.Client
	identity *crypto.Identity
	login    *config.Login        // nil for a service token
	token    *crypto.ServiceToken // nil for a user
	seen     *config.Seen         // nil when there is nowhere to keep state

	// cache, when set (secr run), keeps the last snapshot for offline use.
	cache    *config.SnapshotCache
	offline  bool          // use only the cache
	maxStale time.Duration // fall back to a cache this young when unreachable
}

// principalID names the principal in cache paths.
func (s *session) principalID() string {
	if s.token != nil {
		return s.token.ID()
	}
	return s.login.UserID
}

// useCache enables the offline snapshot cache (for secr run).
func (s *session) useCache(offline bool, maxStale time.Duration) {
	if dirs, err := s.d.dirs(); err == nil {
		s.cache, s.offline, s.maxStale = config.CacheAt(dirs), offline, maxStale
	}
}

// authenticate uses $SECR_TOKEN when set, else the stored login for t.api.
func (d *Deps) authenticate(t target) (*session, error) {
	cl, err := client.New(t.api)
	if err != nil {
		return nil, err
	}
	s := &session{d: d, api: cl.BaseURL()}
	if dirs, err := d.dirs(); err == nil {
		s.seen = config.SeenAt(dirs)
	}
	raw, source := d.Getenv("SECR_TOKEN"), "SECR_TOKEN"
	if path := d.Getenv("SECR_TOKEN_FILE"); raw == "" && path != "" {
		// A file, for Docker and Kubernetes secret mounts.
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("SECR_TOKEN_FILE: %w", err)
		}
		raw, source = string(data), "SECR_TOKEN_FILE"
	}
	if raw != "" {
		tok, err := crypto.ParseServiceToken(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		s.token, s.identity = tok, tok.Identity()
		s.client = cl.WithServiceToken(tok.ID(), tok.AuthKey())
		return s, nil
	}
	dirs, err := d.dirs()
	if err != nil {
		return nil, withHint(errNotLoggedIn, "set SECR_TOKEN, or set HOME so secr can find your login (%v)", err)
	}
	login, err := config.CredentialsAt(dirs).Get(s.api)
	if err != nil {
		return nil, err
	}
	if login == nil {
		return nil, withHint(fmt.Errorf("%w to %s", errNotLoggedIn, s.api), "run 'secr login' (or 'secr signup'), or set SECR_TOKEN to a service token")
	}
	id, err := crypto.ParseIdentity(login.Identity)
	if err != nil {
		return nil, withHint(fmt.Errorf("stored login for %s is corrupt", s.api), "run 'secr login' again")
	}
	s.login, s.identity = login, id
	s.client = cl.WithSession(login.Session)
	return s, nil
}

// explain adds the next step to the common API errors.
func explain(err error) error {
	var ue *client.UnreachableError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue) && isTLSTrustError(err):
		return withHint(err, "the server's TLS certificate is not trusted here: install its CA certificate, or point SSL_CERT_FILE at it")
	case errors.As(err, &ue):
		return withHint(err, "start one with 'secr server', or point --api / SECR_API_URL at yours")
	case errors.Is(err, client.ErrUnauthorized):
		return withHint(err, "run 'secr login', or check SECR_TOKEN")
	}
	return err
}

func isTLSTrustError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	return errors.As(err, &unknown) || errors.As(err, &verify) || errors.As(err, &host)
}

// requireProject checks that org and project are known.
func (t target) requireProject() error {
	if t.org == "" || t.project == "" {
		return withHint(usageErrorf("no project selected: no .secr.json here and no --org/--project given"),
			"run 'secr init --org ORG --project PROJECT' in your repository, or pass --org and --project")
	}
	return nil
}

// envState is one environment opened on the client.
type envState struct {
	snap api.Snapshot
	key  *crypto.EnvKey
	doc  *envdoc.Doc
	rev  int64
}

// load fetches the latest revision and this principal's key in one
// request, then unwraps, opens and checks it. With a service token and no
// explicit project, it asks for the token's own environment.
func (s *session) load(ctx context.Context, t target) (*envState, error) {
	var snap api.Snapshot
	var err error
	marks := s.marks()
	tokenPath := s.viaToken(t)
	cacheKey := "token"
	if !tokenPath {
		cacheKey = t.org + "/" + t.project + "/" + t.env
	}
	if s.offline {
		return s.fromCache(cacheKey, marks, 0)
	}
	if tokenPath {
		snap, err = s.client.TokenSnapshot(ctx)
		if err == nil && t.envExplicit && snap.Environment.Name != t.env {
			return nil, withHint(fmt.Errorf("SECR_TOKEN is for environment %q, not %q", snap.Environment.Name, t.env),
				"unset SECR_ENV / --env, or use a token for %q", t.env)
		}
	} else {
		if err := t.requireProject(); err != nil {
			return nil, err
		}
		snap, err = s.client.Snapshot(ctx, t.org, t.project, t.env)
	}
	var unreachable *client.UnreachableError
	switch {
	case err == nil:
	case errors.As(err, &unreachable) && s.cache != nil && s.maxStale > 0:
		st, cerr := s.fromCache(cacheKey, marks, s.maxStale)
		if cerr != nil {
			return nil, explain(err)
		}
		return st, nil
	case (errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrForbidden)) && s.cache != nil:
		// This principal may no longer read: drop what it cached.
		_ = s.cache.Forget(s.api, s.principalID())
		return nil, explain(err)
	default:
		return nil, explain(err)
	}
	st, err := s.open(snap, marks)
	if err != nil {
		return nil, err
	}
	if s.cache != nil && (st.rev > marks.Get(s.api, snap.Environment.ID) || !s.cache.Has(s.api, s.principalID(), cacheKey)) {
		if raw, err := json.Marshal(snap); err == nil {
			if err := s.cache.Put(s.api, s.principalID(), cacheKey, raw, time.Now()); err != nil {
				s.d.IO.Warnf("could not cache the secrets for offline use: %v", err)
			}
		}
	}
	return st, nil
}

// fromCache opens the cached snapshot for key. maxAge 0 means any age (an
// explicit --offline); otherwise the server was unreachable and a cache
// older than maxAge is refused.
func (s *session) fromCache(key string, marks config.Marks, maxAge time.Duration) (*envState, error) {
	if s.cache == nil {
		return nil, fmt.Errorf("no cache directory: set HOME or XDG_CACHE_HOME")
	}
	raw, fetched, err := s.cache.Get(s.api, s.principalID(), key)
	if err != nil {
		return nil, withHint(err, "run once while the server is reachable to fill the cache")
	}
	age := time.Since(fetched).Round(time.Second)
	if maxAge > 0 && age > maxAge {
		return nil, fmt.Errorf("cached secrets are %s old, older than --max-stale %s", age, maxAge)
	}
	var snap api.Snapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return nil, fmt.Errorf("cached snapshot is corrupt: %v", err)
	}
	st, err := s.open(snap, marks)
	if err != nil {
		return nil, err
	}
	if maxAge > 0 {
		s.d.IO.Warnf("the secr server at %s is unreachable; using secrets cached %s ago (revision %d)", s.api, age, st.rev)
	} else {
		s.d.IO.Infof("secr: offline: using secrets cached %s ago (revision %d)", age, st.rev)
	}
	return st, nil
}

// viaToken reports whether t is a service token's own environment,
// reached through the token endpoints rather than by names.
func (s *session) viaToken(t target) bool {
	return s.token != nil && (t.org == "" || t.project == "" || !t.envExplicit)
}

// marks reads the rollback high-water marks (nil when there is no state).
func (s *session) marks() config.Marks {
	if s.seen == nil {
		return nil
	}
	return s.seen.Load()
}

func (s *session) open(snap api.Snapshot, marks config.Marks) (*envState, error) {
	env := snap.Environment
	key, err := crypto.UnwrapKey(snap.WrappedKey, env.ID, env.KeyVersion, s.identity)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot open the key of environment %q: %v", ErrIntegrity, env.Name, err)
	}
	st := &envState{snap: snap, key: key, doc: envdoc.New()}
	if r := snap.Revision; r != nil {
		if r.KeyVersion != env.KeyVersion {
			return nil, fmt.Errorf("%w: revision %d of %q is sealed under key version %d, but the environment is on version %d",
				ErrIntegrity, r.Revision, env.Name, r.KeyVersion, env.KeyVersion)
		}
		plain, err := crypto.OpenRevision(key, r.Revision, r.Ciphertext)
		if err != nil {
			return nil, fmt.Errorf("%w: revision %d of environment %q: %v", ErrIntegrity, r.Revision, env.Name, err)
		}
		if st.doc, err = envdoc.Parse(plain); err != nil {
			return nil, fmt.Errorf("%w: revision %d of environment %q: %v", ErrIntegrity, r.Revision, env.Name, err)
		}
		st.rev = r.Revision
	}
	if err := s.checkRollback(env, st.rev, marks); err != nil {
		return nil, err
	}
	return st, nil
}

// checkRollback refuses a revision older than one this client had already
// opened before it asked (marks), then raises the high-water mark.
func (s *session) checkRollback(env api.Environment, rev int64, marks config.Marks) error {
	if s.seen == nil {
		return nil
	}
	seen := marks.Get(s.api, env.ID)
	if rev < seen {
		return withHint(fmt.Errorf("%w: got revision %d of environment %q, older than revision %d, which this machine has already seen: the server (or the offline cache) may be replaying old secrets",
			ErrIntegrity, rev, env.Name, seen), "contact your secr server's administrator; do not trust this server's answers until resolved")
	}
	if rev == seen {
		return nil // nothing new: no second read of the state file on the run path
	}
	if err := s.seen.Record(s.api, env.ID, rev); err != nil {
		s.d.IO.Warnf("could not record the revision seen (rollback detection is weaker): %v", err)
	}
	return nil
}

// errNoChange tells update that the edit changed nothing.
var errNoChange = errors.New("no change")

// update applies edit to the latest contents and writes a new revision.
// When another writer wins the race, it re-reads, re-applies and retries,
// so concurrent writers never lose an update.
func (s *session) update(ctx context.Context, t target, edit func(doc *envdoc.Doc) error) (int64, *envState, error) {
	const attempts = 30
	for i := 0; ; i++ {
		st, err := s.load(ctx, t)
		if err != nil {
			return 0, nil, err
		}
		if !st.snap.CanWrite {
			return 0, nil, withHint(errReadOnly, "create a read-write token with 'secr tokens create --read-write'")
		}
		if err := edit(st.doc); err != nil {
			if errors.Is(err, errNoChange) {
				return st.rev, st, nil
			}
			return 0, nil, err
		}
		next := st.rev + 1
		sealed, err := crypto.SealRevision(st.key, next, st.doc.Marshal())
		if err != nil {
			return 0, nil, err
		}
		rev, err := s.client.WriteRevision(ctx, st.snap.Org, st.snap.Project, st.snap.Environment.Name, api.WriteRevisionRequest{
			BaseRevision: st.rev, KeyVersion: st.key.Version(), Ciphertext: sealed,
		})
		if errors.Is(err, client.ErrConflict) && i < attempts {
			// Full jitter keeps a crowd of writers from retrying in lockstep.
			backoff := time.Duration(rand.Int64N(int64(10*time.Millisecond) << min(i, 5)))
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			}
		}
		if err != nil {
			return 0, nil, explain(err)
		}
		if s.seen != nil {
			_ = s.seen.Record(s.api, st.snap.Environment.ID, rev)
		}
		st.rev = rev
		return rev, st, nil
	}
}
