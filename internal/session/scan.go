package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/secr-dev/secr/internal/client"
)

// ReadableEnvs opens, for `secr scan`, the latest revision of every
// environment this principal can read:
//
//   - a service token: its own environment (names, when given, must all be
//     that environment);
//   - a user, with names: exactly those environments of t's project, each
//     an error if it cannot be opened;
//   - a user, without names: every environment of t's project, skipping
//     those it holds no key for with a one-line warning. It is an error
//     when none can be opened.
//
// Unlike Load, a 403 for one environment does not drop this principal's
// offline cache: a developer without a key for production can still read
// development, and its cache stays valid. Integrity errors are never
// skipped. The returned Envs hold decrypted values: keep them in memory.
func (s *Session) ReadableEnvs(ctx context.Context, t Target, names []string) ([]*Env, error) {
	if s.token != nil {
		if len(names) == 0 {
			env, err := s.Load(ctx, Target{API: t.API})
			if err != nil {
				return nil, err
			}
			return []*Env{env}, nil
		}
		var out []*Env
		for _, n := range names {
			env, err := s.Load(ctx, Target{API: t.API, Env: n, EnvExplicit: true})
			if err != nil {
				return nil, err
			}
			out = append(out, env)
		}
		return out, nil
	}
	if err := t.RequireProject(); err != nil {
		return nil, err
	}
	explicit := len(names) > 0
	if !explicit {
		envs, err := s.ListEnvs(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, e := range envs {
			names = append(names, e.Name)
		}
	}
	var out []*Env
	var skipped []string
	for _, n := range names {
		et := t
		et.Env, et.EnvExplicit = n, true
		env, err := s.loadReadable(ctx, et)
		switch {
		case err == nil:
			out = append(out, env)
		case !explicit && errors.Is(err, client.ErrForbidden):
			skipped = append(skipped, n)
			s.opts.warnf("skipping environment %q: you hold no key for it", n)
		default:
			return nil, err
		}
	}
	if len(out) == 0 {
		msg := fmt.Sprintf("no environment of %s/%s could be opened", t.Org, t.Project)
		if len(skipped) > 0 {
			msg += " (no key for " + strings.Join(skipped, ", ") + ")"
		}
		return nil, WithHint(fmt.Errorf("%w: %s", client.ErrForbidden, msg), "ask an org admin to grant you access, or use a service token (SECR_TOKEN)")
	}
	return out, nil
}

// loadReadable is Load for a user and a named environment, except that a
// 401 or 403 is returned as is, without forgetting the offline cache.
func (s *Session) loadReadable(ctx context.Context, t Target) (*Env, error) {
	marks := s.marks()
	snap, err := s.client.Snapshot(ctx, t.Org, t.Project, t.Env)
	if err != nil {
		return nil, Explain(err)
	}
	env, err := s.open(snap, marks)
	if err != nil {
		return nil, err
	}
	// As in Load: every revision that raises the rollback mark is cached,
	// or the next offline run would find the cache older than the mark.
	if env.Revision > marks.Get(s.api, snap.Environment.ID) || (s.fallback && !s.cacheHas(s.cacheKey(t))) {
		s.putCache(s.cacheKey(t), snap)
	}
	return env, nil
}
