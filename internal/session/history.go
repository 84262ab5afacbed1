package session

import (
	"context"
	"fmt"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/envdoc"
	"github.com/secr-dev/secr/internal/trust"
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
	chainKey := s.chainKey(t.Org)
	pinned, err := s.pinned(chainKey)
	if err != nil {
		return nil, err
	}
	h, err := s.client.History(ctx, t.Org, t.Project, t.Env, client.Fetch{ChainFrom: chainFrom(pinned)})
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
	st, err := s.advance(chainKey, t.Org, pinned, h.Chain)
	if err != nil {
		return nil, err
	}
	env, ok := s.chainEnv(st, t)
	name := t.Org + "/" + t.Project + "/" + t.Env
	if !ok {
		return nil, integrityErrorf("the server answered for %s, which the verified org chain does not have", name)
	}
	if s.viaToken(t) {
		prj, _ := st.ProjectName(env.ProjectID)
		if err := tokenScope(t, st.OrgName(), prj, env.Name); err != nil {
			return nil, err
		}
	}
	if h.Environment.ID != env.ID {
		return nil, WithHint(integrityErrorf("the server answered for environment ID %s when asked for %s, which the org chain binds to %s: environments swapped?",
			h.Environment.ID, name, env.ID), "contact your secr server's administrator; do not trust this server's answers until resolved")
	}
	headers := make([]*trust.Header, len(h.Revisions))
	for i, r := range h.Revisions {
		if headers[i], err = trust.ParseHeader(r.Header); err != nil {
			return nil, integrityErrorf("revision %d of %s: %v", r.Revision, name, err)
		}
	}
	// The whole history must link up from the first revision: a dropped,
	// reordered or replaced revision breaks a link the newest one signs.
	if err := trust.CheckLinks(trust.Position{}, headers); err != nil {
		return nil, WithHint(integrityErrorf("history of %s: %v", name, err),
			"a revision was dropped, reordered or replaced: contact your secr server's administrator")
	}
	mark := marks.Get(s.api, markID(st, env.ID))
	if mark.Rev > 0 {
		if int64(len(headers)) < mark.Rev {
			return nil, rollbackError(name, int64(len(headers)), mark.Rev)
		}
		if headers[mark.Rev-1].Hash() != mark.Hash {
			return nil, integrityErrorf("history of %s: revision %d is not the one this machine saw before", name, mark.Rev)
		}
	}
	keys := map[int]*crypto.EnvKey{}
	out := &History{Env: env.Name, org: t.Org, project: t.Project, envID: env.ID}
	var prev *envdoc.Doc
	for i, r := range h.Revisions {
		hdr := headers[i]
		k, ok := keys[hdr.KeyVersion()]
		if !ok {
			if k, err = s.openGrant(st, h.Grants[hdr.KeyVersion()], env.ID, name); err != nil {
				return nil, err
			}
			keys[hdr.KeyVersion()] = k
		}
		open := st.OpenRevision
		if i == len(h.Revisions)-1 {
			open = st.OpenLatest
		}
		plain, err := open(env.ID, hdr, r.Ciphertext, k)
		if err != nil {
			return nil, integrityErrorf("revision %d of %s: %v", hdr.Revision(), name, err)
		}
		doc, err := envdoc.Parse(plain)
		if err != nil {
			return nil, integrityErrorf("revision %d of %s: %v", hdr.Revision(), name, err)
		}
		out.Revisions = append(out.Revisions, Revision{Revision: hdr.Revision(), Author: authorName(st, hdr.Author()), Time: r.CreatedAt,
			Changes: envdoc.Diff(prev, doc), doc: doc})
		prev = doc
	}
	if n := len(headers); n > 0 && headers[n-1].Revision() > mark.Rev {
		last := headers[n-1]
		if s.seen != nil {
			_ = s.seen.Record(s.api, markID(st, env.ID), config.Mark{Rev: last.Revision(), Hash: last.Hash()})
		}
		// This raised the rollback mark: keep the cache as new as it.
		r := h.Revisions[n-1]
		if g, ok := h.Grants[last.KeyVersion()]; ok {
			prj, _ := st.ProjectName(env.ProjectID)
			s.putCache(s.cacheKey(t), api.Snapshot{Org: st.OrgName(), OrgID: st.OrgID(), Project: prj,
				Environment: api.Environment{ID: env.ID, Name: env.Name, KeyVersion: env.KeyVersion, LatestRevision: last.Revision()},
				Revision:    &r, Grant: g, Headers: [][]byte{r.Header}}, nil)
		}
	}
	return out, nil
}

// openGrant checks a signed grant of envID's key against the chain and
// unwraps it.
func (s *Session) openGrant(st *trust.State, raw []byte, envID, name string) (*crypto.EnvKey, error) {
	if raw == nil {
		return nil, fmt.Errorf("you have no key for some revisions of %s", name)
	}
	g, err := trust.ParseGrant(raw)
	if err != nil {
		return nil, integrityErrorf("a key of %s: %v", name, err)
	}
	if g.EnvID() != envID || g.Recipient() != s.me() {
		return nil, integrityErrorf("the server sent a key for %s/%s instead of this principal's key for %s", g.EnvID(), g.Recipient(), name)
	}
	k, err := st.OpenGrant(g, s.identity)
	if err != nil {
		return nil, integrityErrorf("key version %d of %s: %v", g.KeyVersion(), name, err)
	}
	return k, nil
}

// authorName shows a revision's author as the org chain records them: a
// user by email, a service token by name and ID.
func authorName(st *trust.State, id string) string {
	p, ok := st.Principal(id)
	switch {
	case !ok:
		return id
	case p.Kind() == trust.KindToken:
		return "token " + p.Name() + " (" + id + ")"
	}
	return p.Name()
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
