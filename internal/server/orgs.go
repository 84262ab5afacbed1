package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/trust"
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
	return s.scopeOf(p, a, orgName, projName, name)
}

// scopeOf applies resolveEnv's rules to what the store resolved.
func (s *Server) scopeOf(p *principal, a store.EnvAccess, orgName, projName, name string) (scope, error) {
	var sc scope
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
		out = append(out, api.Org{ID: m.ID, Name: m.Name, Role: m.Role, CreatedAt: m.CreatedAt})
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
	root, err := trust.ParseEntry(req.Root)
	if err != nil {
		return errBadRequest("org chain root refused: %v", err)
	}
	st, err := trust.Verify([]*trust.Entry{root}, nil)
	if err != nil {
		return errBadRequest("org chain root refused: %v", err)
	}
	op, _ := root.Op().(trust.CreateOrg) // Verify checked that entry 0 is org.create
	switch {
	case op.Name != req.Name:
		return errBadRequest("org chain root refused: it names the org %q, not %q", op.Name, req.Name)
	case !api.ValidID("org", op.OrgID):
		return errBadRequest("org chain root refused: malformed org ID %q", op.OrgID)
	case !bytes.Equal(op.Owner.Bytes(), p.user.Principal):
		return errBadRequest("org chain root refused: its owner %q is not your identity (the one you signed up with)", op.Owner.ID())
	}
	org := store.Org{ID: op.OrgID, Name: req.Name, CreatedAt: s.now(), Head: root.Bytes(), State: st.Bytes()}
	e := s.newAudit(r, p, org.ID, audit.ActionOrgCreate)
	e.Detail = org.Name
	if err := s.store.CreateOrg(withAudit(r.Context(), e), org, p.user.ID); err != nil {
		if errors.Is(err, store.ErrExists) {
			if strings.Contains(err.Error(), "name") {
				return errConflict("org name %q is taken: choose another", req.Name)
			}
			return errConflict("org ID %q already exists: create the org again, with a new ID", op.OrgID)
		}
		return err
	}
	s.log.InfoContext(r.Context(), "org created", "org", org.ID, "by", p.id)
	writeJSON(w, http.StatusCreated, api.Org{ID: org.ID, Name: org.Name, Role: store.RoleOwner, CreatedAt: org.CreatedAt})
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

func badEnvName(name string) error {
	return errBadRequest("invalid environment name %q: use lower-case letters, digits, '.', '_' and '-' (at most 63)", name)
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
	c, err := s.verifyChainWrite(r.Context(), p, sc.org, req.Entries)
	if err != nil {
		return err
	}
	// The entries must be one project.create named req.Name and an
	// env.create in it for each environment; the rows are made from them.
	ops := c.ops()
	pc, ok := ops[0].(trust.CreateProject)
	if !ok || pc.Name != req.Name {
		return errBadRequest("org chain entries refused: they must start with the project.create of %q (got %v)", req.Name, opTypes(ops))
	}
	if !api.ValidID("prj", pc.ProjectID) {
		return errBadRequest("malformed project ID %q", pc.ProjectID)
	}
	now := s.now()
	proj := store.Project{ID: pc.ProjectID, OrgID: sc.org.ID, Name: req.Name, CreatedAt: now}
	var envs []store.Environment
	keys := map[string]int{}
	for _, op := range ops[1:] {
		ec, ok := op.(trust.CreateEnv)
		switch {
		case !ok || ec.ProjectID != proj.ID:
			return errBadRequest("org chain entries refused: after the project.create, only env.create entries of project %q belong in this request (got %v)", req.Name, opTypes(ops))
		case !api.ValidSlug(ec.Name):
			return badEnvName(ec.Name)
		case !api.ValidID("env", ec.EnvID):
			return errBadRequest("malformed environment ID %q", ec.EnvID)
		}
		envs = append(envs, store.Environment{ID: ec.EnvID, ProjectID: proj.ID, Name: ec.Name, KeyVersion: 1, CreatedAt: now})
		keys[ec.EnvID] = 1
	}
	grants, err := verifyGrants(p, c, req.Grants, keys, p.id)
	if err != nil {
		return err
	}
	e := s.newAudit(r, p, sc.org.ID, audit.ActionProjectCreate)
	e.Env = sc.org.Name + "/" + proj.Name
	names := make([]string, len(envs))
	for i, env := range envs {
		names[i] = env.Name
	}
	e.Detail = "environments: " + strings.Join(names, ", ")
	if err := s.store.CreateProject(withAudit(r.Context(), e), proj, envs, grants, c.append); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("project %q (or one of its IDs) already exists in org %q", req.Name, sc.org.Name)
		}
		return chainErr(c, err)
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
	var req api.CreateEnvRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !api.ValidSlug(req.Name) {
		return badEnvName(req.Name)
	}
	c, err := s.verifyChainWrite(r.Context(), p, sc.org, req.Entries)
	if err != nil {
		return err
	}
	ops := c.ops()
	ec, ok := ops[0].(trust.CreateEnv)
	switch {
	case len(ops) != 1 || !ok || ec.Name != req.Name || ec.ProjectID != sc.project.ID:
		return errBadRequest("org chain entries refused: this request takes one env.create of %q in project %q (got %v)", req.Name, sc.project.Name, opTypes(ops))
	case !api.ValidID("env", ec.EnvID):
		return errBadRequest("malformed environment ID %q", ec.EnvID)
	}
	grants, err := verifyGrants(p, c, req.Grants, map[string]int{ec.EnvID: 1}, p.id)
	if err != nil {
		return err
	}
	e := store.Environment{ID: ec.EnvID, ProjectID: sc.project.ID, Name: req.Name, KeyVersion: 1, CreatedAt: s.now()}
	sc.env = e
	ae := auditEnv(s.newAudit(r, p, sc.org.ID, audit.ActionEnvCreate), sc)
	if err := s.store.CreateEnvironment(withAudit(r.Context(), ae), e, grants, c.append); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("environment %q already exists in project %q", req.Name, sc.project.Name)
		}
		return chainErr(c, err)
	}
	writeJSON(w, http.StatusCreated, api.Environment{ID: e.ID, Name: e.Name, KeyVersion: 1})
	return nil
}
