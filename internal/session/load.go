package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/envdoc"
)

// Load fetches the latest revision of t's environment and this principal's
// key in one request, then unwraps, opens and checks it. With a service
// token and no explicit project, it asks for the token's own environment.
//
// The fetch is conditional: when this machine's cache holds a snapshot of
// the environment (no older than the rollback mark), the request names it
// and a server that still has nothing newer answers 304 Not Modified, with
// no body; the cached ciphertext is then opened and checked exactly as a
// fresh answer would be. A server can only make the client use what the
// client itself holds, never anything older than the rollback mark.
func (s *Session) Load(ctx context.Context, t Target) (*Env, error) {
	var snap api.Snapshot
	var err error
	marks := s.marks()
	cacheKey := s.cacheKey(t)
	if s.offline {
		return s.fromCache(t, cacheKey, marks, 0)
	}
	held, holds := s.held(cacheKey, marks)
	etag := ""
	if holds {
		etag = api.SnapshotETag(held)
	}
	var notModified bool
	if s.viaToken(t) {
		snap, notModified, err = s.client.TokenSnapshotIf(ctx, etag)
		if notModified {
			snap = held // checked against t below, like a fresh answer
		}
		if err == nil {
			if err := tokenScope(t, snap); err != nil {
				return nil, err
			}
		}
	} else {
		if err := t.RequireProject(); err != nil {
			return nil, err
		}
		snap, notModified, err = s.client.SnapshotIf(ctx, t.Org, t.Project, t.Env, etag)
		if isEnvNotFound(err, t) {
			// "prod" for production, or a typo: say which one was meant.
			if resolved, rerr := s.resolveEnv(ctx, t, err); rerr != nil {
				return nil, rerr
			} else if resolved.Env != t.Env {
				return s.Load(ctx, resolved)
			}
		}
		if notModified {
			if err := cachedFor(t, held); err != nil {
				return nil, err
			}
			snap = held
		}
	}
	var unreachable *client.UnreachableError
	switch {
	case err == nil:
	case errors.As(err, &unreachable) && s.fallback && s.maxStale > 0:
		env, cerr := s.fromCache(t, cacheKey, marks, s.maxStale)
		if cerr != nil {
			// Say why the cache did not help, or a refused cache looks
			// like no cache at all.
			return nil, Explain(fmt.Errorf("%w; the offline cache was not used: %v", err, cerr))
		}
		return env, nil
	case errors.Is(err, client.ErrUnauthorized) && s.cache != nil:
		// The server no longer accepts this principal: drop all it cached.
		_ = s.cache.Forget(s.api, s.principalID())
		return nil, Explain(err)
	case errors.Is(err, client.ErrForbidden) && s.cache != nil:
		// No longer allowed to read this environment (others may still be).
		_ = s.cache.ForgetTarget(s.api, s.principalID(), cacheKey)
		return nil, Explain(err)
	default:
		return nil, Explain(err)
	}
	env, err := s.open(snap, marks)
	if err != nil {
		return nil, err
	}
	if notModified {
		s.confirmSnap(cacheKey, s.opts.now())
		return env, nil
	}
	// Only a revision newer than the mark can be newer than the cache: every
	// revision that raised the mark was cached when it did. A different
	// answer for the same revision (write permission, key version) replaces
	// the cache too, or no later fetch could be answered 304.
	if env.Revision > marks.Get(s.api, snap.Environment.ID) || !holds || api.SnapshotETag(snap) != etag {
		s.putCache(cacheKey, snap)
	}
	return env, nil
}

// held returns the snapshot this machine cached for key, if it has one
// that may be named in a conditional fetch: not older than the rollback
// mark (such a cache would be refused when opened anyway).
func (s *Session) held(key string, marks config.Marks) (api.Snapshot, bool) {
	snap, _, err := s.readSnap(key)
	if err != nil {
		return api.Snapshot{}, false
	}
	var rev int64
	if snap.Revision != nil {
		rev = snap.Revision.Revision
	}
	if rev < marks.Get(s.api, snap.Environment.ID) {
		return api.Snapshot{}, false
	}
	return snap, true
}

// cacheKey names t's environment in the offline cache.
func (s *Session) cacheKey(t Target) string {
	if s.viaToken(t) {
		return "token"
	}
	return t.Org + "/" + t.Project + "/" + t.Env
}

func (s *Session) cacheHas(key string) bool {
	return s.cache != nil && s.cache.Has(s.api, s.principalID(), key)
}

// putCache stores snap (still encrypted) as the newest for key.
func (s *Session) putCache(key string, snap api.Snapshot) {
	if s.cache == nil {
		return
	}
	if err := s.writeSnap(key, snap, s.opts.now()); err != nil {
		s.opts.warnf("could not cache the secrets for offline use: %v", err)
	}
}

// fromCache opens the cached snapshot for key. maxAge 0 means any age (an
// explicit --offline); otherwise the server was unreachable and a cache
// older than maxAge is refused.
func (s *Session) fromCache(t Target, key string, marks config.Marks, maxAge time.Duration) (*Env, error) {
	snap, fetched, err := s.readSnap(key)
	if err != nil {
		return nil, WithHint(err, "run once while the server is reachable to fill the cache")
	}
	if s.viaToken(t) {
		// The same scope check as online: a token's cache is its own
		// environment, whatever the command asked for.
		if err := tokenScope(t, snap); err != nil {
			return nil, err
		}
	} else if err := cachedFor(t, snap); err != nil {
		return nil, err
	}
	age := s.opts.now().Sub(fetched).Round(time.Second)
	if maxAge > 0 && age > maxAge {
		return nil, fmt.Errorf("cached secrets are %s old, older than --max-stale %s", age, maxAge)
	}
	env, err := s.open(snap, marks)
	if err != nil {
		return nil, err
	}
	if maxAge > 0 {
		s.opts.warnf("the secr server at %s is unreachable; using secrets cached %s ago (revision %d)", s.api, age, env.Revision)
	} else {
		s.opts.infof("secr: offline: using secrets cached %s ago (revision %d)", age, env.Revision)
	}
	return env, nil
}

// viaToken reports whether t is a service token's own environment,
// reached through the token endpoints rather than by names.
func (s *Session) viaToken(t Target) bool {
	return s.token != nil && (t.Org == "" || t.Project == "" || !t.EnvExplicit)
}

// marks reads the rollback high-water marks (nil when there is no state).
func (s *Session) marks() config.Marks {
	if s.seen == nil {
		return nil
	}
	return s.seen.Load()
}

// open unwraps the key, opens the revision and checks it against the
// rollback marks read before the request.
func (s *Session) open(snap api.Snapshot, marks config.Marks) (*Env, error) {
	env := snap.Environment
	key, err := crypto.UnwrapKey(snap.WrappedKey, env.ID, env.KeyVersion, s.identity)
	if err != nil {
		return nil, integrityErrorf("cannot open the key of environment %q: %v", env.Name, err)
	}
	e := &Env{Org: snap.Org, Project: snap.Project, Name: env.Name, ID: env.ID, CanWrite: snap.CanWrite,
		snap: snap, key: key, doc: envdoc.New()}
	if r := snap.Revision; r != nil {
		if r.KeyVersion != env.KeyVersion {
			return nil, integrityErrorf("revision %d of %q is sealed under key version %d, but the environment is on version %d",
				r.Revision, env.Name, r.KeyVersion, env.KeyVersion)
		}
		plain, err := crypto.OpenRevision(key, r.Revision, r.Ciphertext)
		if err != nil {
			return nil, integrityErrorf("revision %d of environment %q: %v", r.Revision, env.Name, err)
		}
		if e.doc, err = envdoc.Parse(plain); err != nil {
			return nil, integrityErrorf("revision %d of environment %q: %v", r.Revision, env.Name, err)
		}
		e.Revision = r.Revision
	}
	if err := s.checkRollback(env, e.Revision, marks); err != nil {
		return nil, err
	}
	return e, nil
}

// checkRollback refuses a revision older than one this client had already
// opened before it asked (marks), then raises the high-water mark.
func (s *Session) checkRollback(env api.Environment, rev int64, marks config.Marks) error {
	if s.seen == nil {
		return nil
	}
	seen := marks.Get(s.api, env.ID)
	if rev < seen {
		return WithHint(integrityErrorf("got revision %d of environment %q, older than revision %d, which this machine has already seen: the server (or the offline cache) may be replaying old secrets",
			rev, env.Name, seen), "contact your secr server's administrator; do not trust this server's answers until resolved")
	}
	if rev == seen {
		return nil // nothing new: no second read of the state file on the run path
	}
	if err := s.seen.Record(s.api, env.ID, rev); err != nil {
		s.opts.warnf("could not record the revision seen (rollback detection is weaker): %v", err)
	}
	return nil
}

// tokenScope refuses a service token's environment when the target names a
// different org, project or environment: a CI job that says acme/web must
// not quietly run with another project's secrets.
func tokenScope(t Target, snap api.Snapshot) error {
	switch {
	case t.Org != "" && t.Org != snap.Org, t.Project != "" && t.Project != snap.Project:
		return WithHint(usageErrorf("SECR_TOKEN is for %s/%s, not %s/%s", snap.Org, snap.Project, first(t.Org, snap.Org), first(t.Project, snap.Project)),
			"check --org/--project, SECR_ORG/SECR_PROJECT and .secr.json, or use a token for that project")
	case t.EnvExplicit && snap.Environment.Name != t.Env:
		return WithHint(fmt.Errorf("SECR_TOKEN is for environment %q, not %q", snap.Environment.Name, t.Env),
			"unset SECR_ENV / --env, or use a token for %q", t.Env)
	}
	return nil
}

// cachedFor checks that a snapshot from this machine's cache is the one
// for t. Its names are not authenticated (only the environment ID and key
// version are, by the wrapped key), and Update writes to the names it holds:
// a cache copied or renamed under another environment's key must be
// refused, not opened or written through.
func cachedFor(t Target, snap api.Snapshot) error {
	if snap.Org != t.Org || snap.Project != t.Project || snap.Environment.Name != t.Env {
		return WithHint(integrityErrorf("the offline cache for %s/%s/%s holds %s/%s/%s: it was modified or mixed up",
			t.Org, t.Project, t.Env, snap.Org, snap.Project, snap.Environment.Name),
			"delete $XDG_CACHE_HOME/secr/snapshots (or ~/.cache/secr/snapshots) and run again while the server is reachable")
	}
	return nil
}
