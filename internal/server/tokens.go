package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/store"
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
	if err := sc.requireAdmin(); err != nil {
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
	case req.KeyVersion != env.KeyVersion:
		return errConflict("environment %q is now on key version %d: fetch again", env.Name, env.KeyVersion)
	case len(req.WrappedKey) == 0 || len(req.WrappedKey) > 1024:
		return errBadRequest("missing or oversized wrapped key")
	case len(req.Name) > 100:
		return errBadRequest("token name is longer than 100 characters")
	case req.ExpiresAt != nil && !req.ExpiresAt.After(s.now()):
		return errBadRequest("token expiry %s is in the past", req.ExpiresAt.Format("2006-01-02 15:04 MST"))
	}
	if !api.ValidPublicKey(req.PublicKey) {
		return errBadRequest("malformed public key %q", req.PublicKey)
	}
	// The creator must hold the key they wrapped; this also stops an admin
	// without access minting a token to an environment they cannot read.
	if _, err := s.currentGrant(r.Context(), p, env); err != nil {
		return err
	}
	t := store.Token{
		ID: req.ID, ProjectID: sc.project.ID, EnvID: env.ID, Name: req.Name, AuthHash: hashSecret(req.AuthKey),
		PublicKey: req.PublicKey, ReadWrite: req.ReadWrite, CreatedBy: p.user.ID, CreatedAt: s.now(),
	}
	if req.ExpiresAt != nil {
		t.ExpiresAt = *req.ExpiresAt
	}
	g := store.Grant{EnvID: env.ID, PrincipalID: t.ID, KeyVersion: env.KeyVersion, WrappedKey: req.WrappedKey}
	if err := s.store.CreateToken(r.Context(), t, g); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("token id already exists")
		}
		return err
	}
	s.log.InfoContext(r.Context(), "service token created", "token", t.ID, "env", env.ID, "by", p.id)
	info, err := s.tokenInfo(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveProject(r.Context(), p, r.PathValue("org"), r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := sc.requireAdmin(); err != nil {
		return err
	}
	ts, err := s.store.Tokens(r.Context(), sc.project.ID)
	if err != nil {
		return err
	}
	out := []api.TokenInfo{}
	for _, t := range ts {
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
	if err := sc.requireAdmin(); err != nil {
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
	if err := s.store.DeleteToken(r.Context(), id); err != nil {
		return err
	}
	s.events.recheck(id)
	s.log.InfoContext(r.Context(), "service token revoked", "token", id, "by", p.id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
