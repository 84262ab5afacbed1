package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// A 403 for one environment drops only that environment's offline cache
// (Load): a developer without a key for production keeps development's.
// Integrity errors are never skipped. The returned Envs hold decrypted values: keep them in memory.
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
		// Every environment the verified chain has: a server cannot keep
		// one out of the scan by leaving it out of a list.
		st, prj, err := s.chainProject(ctx, t.Org, t.Project)
		if err != nil {
			return nil, err
		}
		names = projectEnvNames(st, prj)
		slices.Sort(names)
	}
	var out []*Env
	var skipped []string
	for _, n := range names {
		et := t
		et.Env, et.EnvExplicit = n, true
		env, err := s.Load(ctx, et)
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
