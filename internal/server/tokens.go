package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/trust"
)

func (s *Server) tokenInfo(ctx context.Context, t store.Token) (api.TokenInfo, error) {
	info := api.TokenInfo{ID: t.ID, Name: t.Name, ReadWrite: t.ReadWrite, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy}
	if !t.ExpiresAt.IsZero() {
		exp := t.ExpiresAt
		info.ExpiresAt = &exp
	}
	env, err := s.store.EnvironmentByID(ctx, t.EnvID)
	if err != nil {
		return info, err
	}
	proj, err := s.store.ProjectByID(ctx, t.ProjectID)
	if err != nil {
		return info, err
	}
	org, err := s.store.OrgByID(ctx, proj.OrgID)
	if err != nil {
		return info, err
	}
	info.Environment, info.Project, info.Org = env.Name, proj.Name, org.Name
	if u, err := s.store.UserByID(ctx, t.CreatedBy); err == nil {
		info.CreatedBy = u.Email
	}
	return info, nil
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveProject(r.Context(), p, r.PathValue("org"), r.PathValue("project"))
	if err != nil {
		return err
	}
	// Any member may: the chain's token.create check (the signer's access
	// covers the token's) decides, and the grant check below needs the key.
	if err := sc.requireMember(); err != nil {
		return err
	}
	var req api.CreateTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	env, err := s.store.EnvironmentByName(r.Context(), sc.project.ID, req.Environment)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("environment %q not found in project %q", req.Environment, sc.project.Name)
	}
	if err != nil {
		return err
	}
	switch {
	case !api.ValidID("st", req.ID):
		return errBadRequest("malformed token id")
	case len(req.AuthKey) != 32:
		return errBadRequest("token auth key must be 32 bytes")
	case len(req.Name) > 100:
		return errBadRequest("token name is longer than 100 characters")
	case req.ExpiresAt != nil && !req.ExpiresAt.After(s.now()):
		return errBadRequest("token expiry %s is in the past", req.ExpiresAt.Format("2006-01-02 15:04 MST"))
	}
	// The creator must hold the key they wrapped; this also stops an admin
	// without access minting a token to an environment they cannot read.
	if _, err := s.currentGrant(r.Context(), p, env); err != nil {
		return err
	}
	c, err := s.verifyChainWrite(r.Context(), p, sc.org, req.Entries)
	if err != nil {
		return err
	}
	if err := tokenCreateMatches(c.ops(), req, env); err != nil {
		return err
	}
	grants, err := verifyGrants(p, c, req.Grants, map[string]int{env.ID: env.KeyVersion}, req.ID)
	if err != nil {
		return err
	}
	t := store.Token{
		ID: req.ID, ProjectID: sc.project.ID, EnvID: env.ID, Name: req.Name, AuthHash: hashSecret(req.AuthKey),
		ReadWrite: req.ReadWrite, CreatedBy: p.user.ID, CreatedAt: s.now(),
	}
	if req.ExpiresAt != nil {
		t.ExpiresAt = req.ExpiresAt.Truncate(time.Second) // as the chain records it
	}
	sc.env = env
	e := auditEnv(s.newAudit(r, p, sc.org.ID, audit.ActionTokenCreate), sc)
	e.Detail = tokenDetail(t)
	if err := s.store.CreateToken(withAudit(r.Context(), e), t, grants[0], c.append); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("token id already exists")
		}
		return chainErr(c, err)
	}
	s.log.InfoContext(r.Context(), "service token created", "token", t.ID, "env", env.ID, "by", p.id)
	info, err := s.tokenInfo(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

// tokenCreateMatches checks that ops is one token.create recording what
// req asks for: the token's identity, its environment, access and expiry.
func tokenCreateMatches(ops []trust.Op, req api.CreateTokenRequest, env store.Environment) error {
	tc, ok := ops[0].(trust.CreateToken)
	if len(ops) != 1 || !ok {
		return errBadRequest("org chain entries refused: this request takes one token.create (got %v)", opTypes(ops))
	}
	access := trust.Read
	if req.ReadWrite {
		access = trust.Write
	}
	var exp int64
	if req.ExpiresAt != nil {
		exp = req.ExpiresAt.Unix()
	}
	var chainExp int64
	if !tc.Expires.IsZero() {
		chainExp = tc.Expires.Unix()
	}
	switch {
	case tc.Token.Kind() != trust.KindToken || tc.Token.ID() != req.ID:
		return errBadRequest("token.create refused: it creates %q, not token %q", tc.Token.ID(), req.ID)
	case tc.Token.Name() != req.Name:
		return errBadRequest("token.create refused: it names the token %q, not %q", tc.Token.Name(), req.Name)
	case tc.EnvID != env.ID:
		return errBadRequest("token.create refused: it is for environment %q, not %q (%s)", tc.EnvID, env.Name, env.ID)
	case tc.Access != access:
		return errBadRequest("token.create refused: it gives %s access, but the request asks for %s", tc.Access, access)
	case chainExp != exp:
		return errBadRequest("token.create refused: its expiry does not match the request's")
	}
	return nil
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveProject(r.Context(), p, r.PathValue("org"), r.PathValue("project"))
	if err != nil {
		return err
	}
	// Owners and admins see every token; other members those of the
	// environments they may read.
	if err := sc.requireMember(); err != nil {
		return err
	}
	st, err := trust.ParseState(sc.org.State)
	if err != nil {
		return err
	}
	admin := sc.requireAdmin() == nil
	ts, err := s.store.Tokens(r.Context(), sc.project.ID)
	if err != nil {
		return err
	}
	out := []api.TokenInfo{}
	for _, t := range ts {
		if !admin && st.Access(p.id, t.EnvID, st.Seq()) == trust.NoAccess {
			continue
		}
		info, err := s.tokenInfo(r.Context(), t)
		if err != nil {
			return err
		}
		out = append(out, info)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveProject(r.Context(), p, r.PathValue("org"), r.PathValue("project"))
	if err != nil {
		return err
	}
	// Any member may: the chain's token.revoke check (an owner, an admin
	// or a member with access to the token's environment) decides.
	if err := sc.requireMember(); err != nil {
		return err
	}
	id := r.PathValue("id")
	t, err := s.store.TokenByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.ProjectID != sc.project.ID) {
		return errNotFound("token %q not found in project %q", id, sc.project.Name)
	}
	if err != nil {
		return err
	}
	var req api.RevokeTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	c, err := s.verifyChainWrite(r.Context(), p, sc.org, req.Entries)
	if err != nil {
		return err
	}
	ops := c.ops()
	if rt, ok := ops[0].(trust.RevokeToken); len(ops) != 1 || !ok || rt.TokenID != id {
		return errBadRequest("org chain entries refused: this request takes one token.revoke of %q (got %v)", id, opTypes(ops))
	}
	if len(req.Grants) != 0 {
		return errBadRequest("revoking a token hands out no keys: send no grants")
	}
	// The token could read its environment: its key is to be rotated.
	change := store.OrgChange{
		OrgID: sc.org.ID, Chain: &c.append, RevokeTokens: []string{id}, NewRotations: []string{t.EnvID},
		Readers: map[string][]string{t.EnvID: readerIDs(c.state, t.EnvID)}, Notify: []string{id},
	}
	e := s.newAudit(r, p, sc.org.ID, audit.ActionTokenRevoke)
	if env, err := s.store.EnvironmentByID(r.Context(), t.EnvID); err == nil {
		sc.env = env
		e = auditEnv(e, sc)
	}
	e.Detail = tokenDetail(t)
	if err := s.store.ApplyOrgChange(withAudit(r.Context(), e), change); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("token %q not found in project %q", id, sc.project.Name)
		}
		return chainErr(c, err)
	}
	s.events.recheck(id)
	s.log.InfoContext(r.Context(), "service token revoked", "token", id, "by", p.id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokenDetail describes a token in the audit log.
func tokenDetail(t store.Token) string {
	access := "read-only"
	if t.ReadWrite {
		access = "read-write"
	}
	return fmt.Sprintf("token %s (%s), %s", t.Name, t.ID, access)
}
