package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/store"
)

// scope is what a request under /v1/orgs/{org}/... resolved to. For a
// service token, member is nil.
type scope struct {
	org     store.Org
	member  *store.Member
	project store.Project
	env     store.Environment
	// access is set by resolveEnv: the caller's grant and the latest revision.
	access store.EnvAccess
}

// The same message whether the org does not exist or the caller is not a
// member, so a non-member learns nothing.
func orgNotFound(name string) error {
	return errNotFound("org %q not found, or you are not a member of it", name)
}

func (s *Server) resolveOrg(ctx context.Context, p *principal, name string) (scope, error) {
	var sc scope
	org, err := s.store.OrgByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return sc, orgNotFound(name)
	}
	if err != nil {
		return sc, err
	}
	sc.org = org
	if p.user != nil {
		m, err := s.store.Member(ctx, org.ID, p.user.ID)
		if errors.Is(err, store.ErrNotFound) {
			return sc, orgNotFound(name)
		}
		if err != nil {
			return sc, err
		}
		sc.member = &m
	}
	return sc, nil
}

func (s *Server) resolveProject(ctx context.Context, p *principal, orgName, name string) (scope, error) {
	sc, err := s.resolveOrg(ctx, p, orgName)
	if err != nil {
		return sc, err
	}
	proj, err := s.store.ProjectByName(ctx, sc.org.ID, name)
	notFound := errNotFound("project %q not found in org %q", name, orgName)
	if errors.Is(err, store.ErrNotFound) {
		return sc, notFound
	}
	if err != nil {
		return sc, err
	}
	if p.token != nil && p.token.ProjectID != proj.ID {
		return sc, orgNotFound(orgName)
	}
	sc.project = proj
	return sc, nil
}

// resolveEnv resolves an environment and the caller's access to it in one
// store query (it is on the path of every `secr run`), applying the same
// rules, in the same order, as resolveOrg and resolveProject.
func (s *Server) resolveEnv(ctx context.Context, p *principal, orgName, projName, name string) (scope, error) {
	var sc scope
	a, err := s.store.ResolveEnv(ctx, orgName, projName, name, p.id)
	if errors.Is(err, store.ErrNotFound) {
		return sc, orgNotFound(orgName)
	}
	if err != nil {
		return sc, err
	}
	sc.org, sc.access = a.Org, a
	if p.user != nil {
		if a.MemberRole == "" {
			return sc, orgNotFound(orgName)
		}
		sc.member = &store.Member{OrgID: a.Org.ID, UserID: p.user.ID, Role: a.MemberRole}
	}
	if a.Project == nil {
		return sc, errNotFound("project %q not found in org %q", projName, orgName)
	}
	if p.token != nil && p.token.ProjectID != a.Project.ID {
		return sc, orgNotFound(orgName)
	}
	sc.project = *a.Project
	if a.Env == nil {
		return sc, errNotFound("environment %q not found in project %q: run 'secr envs list' to see which exist", name, projName)
	}
	if p.token != nil && p.token.EnvID != a.Env.ID {
		return sc, errForbidden("this service token is not for environment %q", name)
	}
	sc.env = *a.Env
	return sc, nil
}

func (sc scope) requireAdmin() error {
	if sc.member == nil {
		return errForbidden("this needs a logged-in org admin; a service token cannot do it")
	}
	if sc.member.Role != store.RoleOwner && sc.member.Role != store.RoleAdmin {
		return errForbidden("this needs the owner or admin role in org %q; you are %s", sc.org.Name, sc.member.Role)
	}
	return nil
}

func (s *Server) handleListOrgs(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.requireUser(); err != nil {
		return err
	}
	ms, err := s.store.OrgsForUser(r.Context(), p.user.ID)
	if err != nil {
		return err
	}
	out := []api.Org{}
	for _, m := range ms {
		out = append(out, api.Org{Name: m.Name, Role: m.Role, CreatedAt: m.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleCreateOrg(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.requireUser(); err != nil {
		return err
	}
	var req api.CreateOrgRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !api.ValidSlug(req.Name) {
		return errBadRequest("invalid org name %q: use lower-case letters, digits, '.', '_' and '-' (at most 63)", req.Name)
	}
	org := store.Org{ID: api.NewID("org"), Name: req.Name, CreatedAt: s.now()}
	if err := s.store.CreateOrg(r.Context(), org, p.user.ID); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("org name %q is taken: choose another", req.Name)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, api.Org{Name: org.Name, Role: store.RoleOwner, CreatedAt: org.CreatedAt})
	return nil
}

func (s *Server) handleListProjects(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.requireUser(); err != nil {
		return err
	}
	sc, err := s.resolveOrg(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	ps, err := s.store.Projects(r.Context(), sc.org.ID)
	if err != nil {
		return err
	}
	out := []api.Project{}
	for _, proj := range ps {
		ap, err := s.apiProject(r.Context(), proj)
		if err != nil {
			return err
		}
		out = append(out, ap)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apiProject(ctx context.Context, proj store.Project) (api.Project, error) {
	envs, err := s.apiEnvs(ctx, proj.ID)
	return api.Project{Name: proj.Name, CreatedAt: proj.CreatedAt, Environments: envs}, err
}

func (s *Server) apiEnvs(ctx context.Context, projectID string) ([]api.Environment, error) {
	es, err := s.store.Environments(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := []api.Environment{}
	for _, e := range es {
		ae, err := s.apiEnv(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, ae)
	}
	return out, nil
}

func (s *Server) apiEnv(ctx context.Context, e store.Environment) (api.Environment, error) {
	ae := api.Environment{ID: e.ID, Name: e.Name, KeyVersion: e.KeyVersion}
	rev, err := s.store.LatestRevision(ctx, e.ID)
	switch {
	case err == nil:
		ae.LatestRevision = rev.Revision
	case !errors.Is(err, store.ErrNotFound):
		return ae, err
	}
	return ae, nil
}

func validateNewEnv(e api.NewEnvironment) error {
	switch {
	case !api.ValidSlug(e.Name):
		return errBadRequest("invalid environment name %q: use lower-case letters, digits, '.', '_' and '-'", e.Name)
	case !api.ValidID("env", e.ID):
		return errBadRequest("malformed environment id")
	case len(e.WrappedKey) == 0 || len(e.WrappedKey) > 1024:
		return errBadRequest("environment %q: missing or oversized wrapped key", e.Name)
	}
	return nil
}

func (s *Server) handleCreateProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveOrg(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := sc.requireAdmin(); err != nil {
		return err
	}
	var req api.CreateProjectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !api.ValidSlug(req.Name) {
		return errBadRequest("invalid project name %q: use lower-case letters, digits, '.', '_' and '-' (at most 63)", req.Name)
	}
	now := s.now()
	proj := store.Project{ID: api.NewID("prj"), OrgID: sc.org.ID, Name: req.Name, CreatedAt: now}
	var envs []store.Environment
	var grants []store.Grant
	seen := map[string]bool{}
	for _, e := range req.Environments {
		if err := validateNewEnv(e); err != nil {
			return err
		}
		if seen[e.Name] {
			return errBadRequest("environment %q listed twice", e.Name)
		}
		seen[e.Name] = true
		envs = append(envs, store.Environment{ID: e.ID, ProjectID: proj.ID, Name: e.Name, KeyVersion: 1, CreatedAt: now})
		grants = append(grants, store.Grant{EnvID: e.ID, PrincipalID: p.user.ID, KeyVersion: 1, WrappedKey: e.WrappedKey})
	}
	if err := s.store.CreateProject(r.Context(), proj, envs, grants); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("project %q already exists in org %q", req.Name, sc.org.Name)
		}
		return err
	}
	ap, err := s.apiProject(r.Context(), proj)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ap)
	return nil
}

func (s *Server) handleGetProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveProject(r.Context(), p, r.PathValue("org"), r.PathValue("project"))
	if err != nil {
		return err
	}
	ap, err := s.apiProject(r.Context(), sc.project)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ap)
	return nil
}

func (s *Server) handleListEnvs(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveProject(r.Context(), p, r.PathValue("org"), r.PathValue("project"))
	if err != nil {
		return err
	}
	envs, err := s.apiEnvs(r.Context(), sc.project.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, envs)
	return nil
}

func (s *Server) handleCreateEnv(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveProject(r.Context(), p, r.PathValue("org"), r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := sc.requireAdmin(); err != nil {
		return err
	}
	var req api.NewEnvironment
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateNewEnv(req); err != nil {
		return err
	}
	e := store.Environment{ID: req.ID, ProjectID: sc.project.ID, Name: req.Name, KeyVersion: 1, CreatedAt: s.now()}
	g := store.Grant{EnvID: e.ID, PrincipalID: p.user.ID, KeyVersion: 1, WrappedKey: req.WrappedKey}
	if err := s.store.CreateEnvironment(r.Context(), e, []store.Grant{g}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("environment %q already exists in project %q", req.Name, sc.project.Name)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, api.Environment{ID: e.ID, Name: e.Name, KeyVersion: 1})
	return nil
}
