package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/envdoc"
	"github.com/secr-dev/secr/internal/trust"
)

// Editor changes the secrets of one revision being written. It is valid
// only inside the edit function given to Update.
type Editor struct {
	doc *envdoc.Doc
}

// Set sets name to value; notSecret marks it as plain configuration.
func (e *Editor) Set(name, value string, notSecret bool) error {
	return e.doc.Set(name, value, notSecret)
}

// Has reports whether name is set.
func (e *Editor) Has(name string) bool {
	_, ok := e.doc.Lookup(name)
	return ok
}

// Delete removes name; it is an error when name is not set.
func (e *Editor) Delete(name string) error {
	if !e.doc.Delete(name) {
		return fmt.Errorf("no secret %q in this environment", name)
	}
	return nil
}

// conflictAttempts bounds the retries of an update that keeps losing the
// race to other writers.
const conflictAttempts = 30

// Update applies edit to the latest contents of t's environment and writes
// them as a new revision. When another writer wins the race, it re-reads,
// re-applies edit and retries, so concurrent writers never lose an update.
// An edit that returns ErrNoChange writes nothing. The returned Env is what
// was written.
func (s *Session) Update(ctx context.Context, t Target, edit func(*Editor) error) (*Env, error) {
	rotated := false
	for i := 0; ; i++ {
		env, err := s.Load(ctx, t)
		if err != nil {
			return nil, err
		}
		if env.state.RotationOwed(env.ID) {
			// Someone lost access to this environment and its key was not
			// rotated yet: nothing more is sealed under that key.
			if rotated {
				return nil, fmt.Errorf("the key of %q is still due for rotation after rotating it", env.Name)
			}
			if err := s.rotateOwed(ctx, env.Org, env.ID); err != nil {
				return nil, err
			}
			rotated = true
			continue
		}
		if !env.CanWrite {
			if s.token != nil {
				return nil, WithHint(fmt.Errorf("this service token is %w", ErrReadOnly), "create a read-write token with 'secr tokens create --read-write'")
			}
			return nil, WithHint(fmt.Errorf("you may only read %s/%s/%s (org chain): %w", env.Org, env.Project, env.Name, ErrReadOnly),
				"ask an owner or admin to run: secr access grant %s --env %s --write", s.login.Email, env.Name)
		}
		if err := edit(&Editor{doc: env.doc}); err != nil {
			if errors.Is(err, ErrNoChange) {
				return env, nil
			}
			return nil, err
		}
		// Sealed on the chain the newest revision was verified on, as the
		// revision after it, under the current key, signed by this
		// principal: the server can store it but not forge or reorder it.
		h, sealed, err := env.state.SealRevision(s.sig(), env.key, env.header, env.doc.Marshal())
		if err != nil {
			return nil, fmt.Errorf("seal revision %d of %q: %w", env.Revision+1, env.Name, err)
		}
		if len(sealed) > api.MaxCiphertext {
			// Checked here, before the upload, with the sizes named.
			return nil, WithHint(fmt.Errorf("environment %q would be %s sealed, more than the limit of %s per environment",
				env.Name, api.FormatSize(len(sealed)), api.FormatSize(api.MaxCiphertext)),
				"an environment must also fit a program's environment (about 2 MiB with the default 8 MiB stack limit); keep large files elsewhere or split them across environments")
		}
		rev, err := s.client.WriteRevision(ctx, env.Org, env.Project, env.Name, api.WriteRevisionRequest{
			BaseRevision: env.Revision, KeyVersion: env.key.Version(), Header: h.Bytes(), Ciphertext: sealed,
		})
		if errors.Is(err, client.ErrConflict) && i < conflictAttempts {
			// Full jitter keeps a crowd of writers from retrying in lockstep.
			backoff := time.Duration(rand.Int64N(int64(10*time.Millisecond) << min(i, 5)))
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err != nil {
			return nil, Explain(err)
		}
		if rev != h.Revision() {
			return nil, integrityErrorf("the server stored revision %d of %q as revision %d", h.Revision(), env.Name, rev)
		}
		if s.seen != nil {
			_ = s.seen.Record(s.api, markID(env.state, env.ID), config.Mark{Rev: rev, Hash: h.Hash()})
		}
		// The cache must hold what this machine wrote: the next offline run
		// would otherwise find a revision older than the mark just raised.
		snap := env.snap
		snap.Revision = &api.Revision{Revision: rev, KeyVersion: h.KeyVersion(), Header: h.Bytes(), Ciphertext: sealed}
		snap.Headers = [][]byte{h.Bytes()}
		// This principal signed h itself, with write access on env.state,
		// under the key the grant verified there gave it: a receipt for
		// them is true, and lets the next run use this copy (a 304, or
		// --max-age) instead of fetching what it just wrote. The ETag it is
		// named by holds h's hash, so a server whose revision of that
		// number is another one (the write lost, then another stored)
		// sends its own, and the fork is refused.
		var receipt []byte
		if g, err := trust.ParseGrant(snap.Grant); err == nil {
			receipt, _ = env.state.SealReceipt(s.identity, g, h, env.key)
		}
		// Under the name loads read it by: an alias ("dev") was resolved
		// to env.Name, and only that name's cache is ever read.
		ct := t
		if !s.viaToken(t) {
			ct.Env = env.Name
		}
		s.putCache(s.cacheKey(ct), snap, receipt)
		env.snap, env.Revision, env.header = snap, rev, h
		return env, nil
	}
}

// Rollback writes the contents of revision want of t's environment as a
// new revision, and returns the environment as written. When the latest
// contents already equal want's, nothing is written.
func (s *Session) Rollback(ctx context.Context, t Target, want int64) (*Env, error) {
	h, err := s.History(ctx, t)
	if err != nil {
		return nil, err
	}
	var old *envdoc.Doc
	for _, r := range h.Revisions {
		if r.Revision == want {
			old = r.doc
		}
	}
	if old == nil {
		return nil, fmt.Errorf("environment %q has no revision %d", h.Env, want)
	}
	return s.Update(ctx, t, func(e *Editor) error {
		if envdoc.Diff(e.doc, old).String() == "(no changes)" {
			return ErrNoChange
		}
		e.doc.Replace(old)
		return nil
	})
}

// rotateOwed rotates envID's key, which the chain says is owed.
func (s *Session) rotateOwed(ctx context.Context, org, envID string) error {
	s.opts.infof("secr: rotating the key of this environment first: someone lost access to it since its key was made.")
	err := s.changeTeam(ctx, org, "", func(*trust.State) ([]trust.Op, []wrapTo, error) { return nil, nil, nil },
		func(_, next *trust.State) []string {
			if next.RotationOwed(envID) {
				return []string{envID}
			}
			return nil // someone else rotated it meanwhile
		})
	if errors.Is(err, errNothingToSend) {
		return nil
	}
	return err
}
