package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/trust"
)

// maxChainWrite bounds the entries and grants of one request.
const maxChainWrite = 256

// chainWrite is a request's org chain entries, verified on top of the
// org's stored chain, and the append that stores them.
type chainWrite struct {
	entries []*trust.Entry
	state   *trust.State // the chain after entries
	append  store.ChainAppend
}

// ops returns the entries' bodies.
func (c *chainWrite) ops() []trust.Op {
	ops := make([]trust.Op, len(c.entries))
	for i, e := range c.entries {
		ops[i] = e.Op()
	}
	return ops
}

// verifyChainWrite verifies raw, the org chain entries of a request by p,
// on top of org's stored chain: they must continue its head (409 if
// another change got there first), be signed by p, and verify (400 with
// trust's reason). What they record is the caller's to check.
func (s *Server) verifyChainWrite(ctx context.Context, p *principal, org store.Org, raw [][]byte) (*chainWrite, error) {
	if len(raw) == 0 {
		return nil, errBadRequest("this change needs its org chain entries, signed on top of entry %d", org.HeadSeq)
	}
	if len(raw) > maxChainWrite {
		return nil, errBadRequest("at most %d org chain entries per request", maxChainWrite)
	}
	if org.State == nil {
		full, err := s.store.OrgByID(ctx, org.ID)
		if err != nil {
			return nil, err
		}
		org = full
	}
	st, err := trust.ParseState(org.State)
	if err != nil {
		return nil, fmt.Errorf("org %s: stored chain state: %w", org.ID, err)
	}
	c := &chainWrite{append: store.ChainAppend{OrgID: org.ID, Entries: raw}}
	for i, b := range raw {
		e, err := trust.ParseEntry(b)
		if err != nil {
			return nil, errBadRequest("org chain entry %d of this request refused: %v", i, err)
		}
		if e.Signer() != p.id {
			return nil, errBadRequest("org chain entry %d refused: it is signed by %q, not by you (%s)", e.Seq(), e.Signer(), p.id)
		}
		c.entries = append(c.entries, e)
	}
	first := c.entries[0].Seq()
	switch {
	case first <= st.Seq():
		return nil, chainMoved(first)
	case first > st.Seq()+1:
		return nil, errBadRequest("org chain entry %d refused: the chain's head is entry %d", first, st.Seq())
	}
	if c.state, err = st.Extend(c.entries); err != nil {
		return nil, errBadRequest("org chain write refused: %v", err)
	}
	c.append.From, c.append.State = first, c.state.Bytes()
	return c, nil
}

func chainMoved(seq uint64) error {
	return errConflict("the org chain changed while you were signing (entry %d exists): fetch it and try again", seq)
}

// chainErr turns the store's answer to an append into the caller's.
func chainErr(c *chainWrite, err error) error {
	if errors.Is(err, store.ErrChainMoved) {
		return chainMoved(c.append.From)
	}
	return err
}

// verifyGrants parses the signed grants of a request and checks them
// against the chain after its entries (c.state): each is for one of envs
// (environment ID → key version), once, to recipient, made by the caller.
func verifyGrants(p *principal, c *chainWrite, raw [][]byte, envs map[string]int, recipient string) ([]store.Grant, error) {
	if len(raw) != len(envs) {
		return nil, errBadRequest("this change needs %d signed grants, one per environment key, not %d", len(envs), len(raw))
	}
	var out []store.Grant
	seen := map[string]bool{}
	for i, b := range raw {
		g, err := trust.ParseGrant(b)
		if err != nil {
			return nil, errBadRequest("grant %d refused: %v", i, err)
		}
		v, ok := envs[g.EnvID()]
		switch {
		case !ok || seen[g.EnvID()]:
			return nil, errBadRequest("grant %d refused: it is for environment %q, which this change does not hand out a key of (or twice)", i, g.EnvID())
		case g.KeyVersion() != v:
			return nil, errBadRequest("grant %d refused: it is for key version %d of %q, not %d", i, g.KeyVersion(), g.EnvID(), v)
		case g.Recipient() != recipient:
			return nil, errBadRequest("grant %d refused: it is to %q, not %q", i, g.Recipient(), recipient)
		case g.Granter() != p.id:
			return nil, errBadRequest("grant %d refused: it is made by %q, not by you (%s)", i, g.Granter(), p.id)
		}
		if err := c.state.CheckGrant(g); err != nil {
			return nil, errBadRequest("grant %d refused: %v", i, err)
		}
		seen[g.EnvID()] = true
		out = append(out, store.Grant{EnvID: g.EnvID(), PrincipalID: g.Recipient(), KeyVersion: g.KeyVersion(), Signed: g.Bytes()})
	}
	return out, nil
}

// chainFrom reads ?chain_from: absent is 0.
func chainFrom(r *http.Request) (uint64, error) { return chainFromQuery(r.URL.Query()) }

// chainFromQuery is chainFrom of a parsed query.
func chainFromQuery(q url.Values) (uint64, error) {
	v := q.Get(api.ChainFromParam)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, errBadRequest("malformed %s %q: want an org chain entry number, 0 or more", api.ChainFromParam, v)
	}
	return n, nil
}

// sinceQuery reads ?since from a parsed query: absent is 0 (no headers).
func sinceQuery(q url.Values) (int64, error) {
	v := q.Get(api.SinceParam)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errBadRequest("malformed %s %q: want a revision number, 0 or more", api.SinceParam, v)
	}
	return n, nil
}

// chainSince returns org's chain from entry from (inclusive) to the head.
// From the head on, it is the head entry alone, which org already holds
// (no query on the hot path); asking past the head gets the same, and the
// client sees a chain shorter than it had.
func (s *Server) chainSince(ctx context.Context, org store.Org, from uint64) ([][]byte, error) {
	if from >= org.HeadSeq && org.Head != nil {
		return [][]byte{org.Head}, nil
	}
	return s.store.Chain(ctx, org.ID, from)
}

// handleChain serves an org's chain to its members and its service tokens.
func (s *Server) handleChain(w http.ResponseWriter, r *http.Request, p *principal) error {
	name := r.PathValue("org")
	from, err := chainFrom(r)
	if err != nil {
		return err
	}
	sc, err := s.resolveOrg(r.Context(), p, name)
	if err != nil {
		return err
	}
	if p.token != nil {
		proj, err := s.store.ProjectByID(r.Context(), p.token.ProjectID)
		if err != nil {
			return err
		}
		if proj.OrgID != sc.org.ID {
			return orgNotFound(name)
		}
	}
	entries, err := s.chainSince(r.Context(), sc.org, from)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Chain{OrgID: sc.org.ID, Entries: entries})
	return nil
}

// opTypes names ops' types, for messages.
func opTypes(ops []trust.Op) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.Type())
	}
	return slices.Compact(out)
}
