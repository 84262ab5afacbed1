package session

import (
	"context"
	"fmt"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/envdoc"
)

// Changes lists the names a revision added, changed and removed.
type Changes = envdoc.Changes

// Revision is one revision, opened on this machine.
type Revision struct {
	Revision int64
	Author   string
	Time     time.Time
	// Changes against the revision before it (diffed here: the server sees
	// only ciphertext).
	Changes Changes
	doc     *envdoc.Doc
}

// History is every revision of one environment, oldest first.
type History struct {
	// Env is the environment's name.
	Env       string
	Revisions []Revision

	org, project, envID string
}

// History fetches and opens every revision of t's environment, and diffs
// each with the one before it.
func (s *Session) History(ctx context.Context, t Target) (*History, error) {
	if s.token != nil && (t.Org == "" || t.Project == "") {
		env, err := s.Load(ctx, t)
		if err != nil {
			return nil, err
		}
		t.Org, t.Project, t.Env = env.Org, env.Project, env.Name
	}
	if err := t.RequireProject(); err != nil {
		return nil, err
	}
	marks := s.marks()
	h, err := s.client.History(ctx, t.Org, t.Project, t.Env)
	if isEnvNotFound(err, t) {
		if resolved, rerr := s.resolveEnv(ctx, t, err); rerr != nil {
			return nil, rerr
		} else if resolved.Env != t.Env {
			return s.History(ctx, resolved)
		}
	}
	if err != nil {
		return nil, Explain(err)
	}
	keys := map[int]*crypto.EnvKey{}
	out := &History{Env: h.Environment.Name, org: t.Org, project: t.Project, envID: h.Environment.ID}
	var prev *envdoc.Doc
	for _, r := range h.Revisions {
		k, ok := keys[r.KeyVersion]
		if !ok {
			wrapped, have := h.WrappedKeys[r.KeyVersion]
			if !have {
				return nil, fmt.Errorf("you have no key for version %d of environment %q (revision %d)", r.KeyVersion, t.Env, r.Revision)
			}
			if k, err = crypto.UnwrapKey(wrapped, h.Environment.ID, r.KeyVersion, s.identity); err != nil {
				return nil, integrityErrorf("key version %d of environment %q: %v", r.KeyVersion, t.Env, err)
			}
			keys[r.KeyVersion] = k
		}
		plain, err := crypto.OpenRevision(k, r.Revision, r.Ciphertext)
		if err != nil {
			return nil, integrityErrorf("revision %d of environment %q: %v", r.Revision, t.Env, err)
		}
		doc, err := envdoc.Parse(plain)
		if err != nil {
			return nil, integrityErrorf("revision %d: %v", r.Revision, err)
		}
		out.Revisions = append(out.Revisions, Revision{Revision: r.Revision, Author: r.Author, Time: r.CreatedAt,
			Changes: envdoc.Diff(prev, doc), doc: doc})
		prev = doc
	}
	var latest int64
	if n := len(h.Revisions); n > 0 {
		latest = h.Revisions[n-1].Revision
		if latest > marks.Get(s.api, h.Environment.ID) {
			// This raises the rollback mark: keep the cache as new as it.
			last := h.Revisions[n-1]
			s.putCache(s.cacheKey(t), api.Snapshot{Org: t.Org, Project: t.Project, Environment: h.Environment,
				Revision: &last, WrappedKey: h.WrappedKeys[last.KeyVersion]})
		}
	}
	if err := s.checkRollback(h.Environment, latest, marks); err != nil {
		return nil, err
	}
	return out, nil
}

// LoadRevision opens revision rev of t's environment (the latest when rev
// is 0). An older revision comes from History, with every check it makes.
func (s *Session) LoadRevision(ctx context.Context, t Target, rev int64) (*Env, error) {
	if rev == 0 {
		return s.Load(ctx, t)
	}
	h, err := s.History(ctx, t)
	if err != nil {
		return nil, err
	}
	for _, r := range h.Revisions {
		if r.Revision == rev {
			return &Env{Org: h.org, Project: h.project, Name: h.Env, ID: h.envID, Revision: rev, doc: r.doc}, nil
		}
	}
	latest := int64(0)
	if n := len(h.Revisions); n > 0 {
		latest = h.Revisions[n-1].Revision
	}
	return nil, WithHint(fmt.Errorf("environment %q has no revision %d", h.Env, rev), "its revisions are 1 to %d: see 'secr secrets history'", latest)
}

// Diff lists the names that differ from a to b.
func Diff(a, b *Env) Changes { return envdoc.Diff(a.doc, b.doc) }
