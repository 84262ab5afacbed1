package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/trust"
)

// DefaultEnvironments are created with every project.
var DefaultEnvironments = []string{"development", "staging", "production"}

// WhoAmI asks the server who this principal is.
func (s *Session) WhoAmI(ctx context.Context) (api.WhoAmI, error) {
	who, err := s.client.WhoAmI(ctx)
	return who, Explain(err)
}

// CreateOrg creates an org owned by this user, and makes it the login's
// default org when it has none. The org's ID is made here and bound to its
// name and its owner by the root of its chain, which this user signs; the
// chain is pinned on this machine at once.
func (s *Session) CreateOrg(ctx context.Context, name string) (api.Org, error) {
	if err := validSlug("org", name); err != nil {
		return api.Org{}, err
	}
	if s.login == nil {
		return api.Org{}, usageErrorf("a service token cannot create orgs: unset SECR_TOKEN and log in")
	}
	me, err := s.userPrincipal()
	if err != nil {
		return api.Org{}, err
	}
	root, err := trust.NewOrg(s.sig(), me, api.NewID("org"), name)
	if err != nil {
		return api.Org{}, err
	}
	st, err := trust.Verify([]*trust.Entry{root}, nil)
	if err != nil {
		return api.Org{}, err
	}
	org, err := s.client.CreateOrg(ctx, api.CreateOrgRequest{Name: name, Root: root.Bytes()})
	if err != nil {
		return org, Explain(err)
	}
	if org.Name != name || org.ID != st.OrgID() {
		return org, integrityErrorf("the server created org %q (%s) when asked for %q (%s)", org.Name, org.ID, name, st.OrgID())
	}
	s.pin(s.chainKey(name), st)
	if s.login.DefaultOrg == "" {
		s.login.DefaultOrg = name
		if dirs, err := s.opts.dirs(); err == nil {
			_ = s.opts.credentials(dirs).SetDefaultOrg(s.api, name)
		}
	}
	return org, nil
}

// userPrincipal is this user's public identity, as the org chain records
// it.
func (s *Session) userPrincipal() (*trust.Principal, error) {
	return trust.NewUser(s.login.UserID, s.login.Email, s.identity.Recipient(), trust.UserSigningKey(s.identity))
}

// chainAttempts bounds the retries of an org change that keeps losing the
// race to other changes of the same org.
const chainAttempts = 5

// changeOrg brings org's chain up to date, lets build sign entries on top
// of it (with appendOps), sends them with send, and pins the extended
// chain once the server has accepted them. When another change of the org
// won the race (409), it fetches the chain and signs again.
func (s *Session) changeOrg(ctx context.Context, org string, build func(st *trust.State) (*trust.State, api.ChainWrite, error), send func(api.ChainWrite) error) error {
	for i := 0; ; i++ {
		st, err := s.Chain(ctx, org)
		if err != nil {
			return err
		}
		next, w, err := build(st)
		if err != nil {
			return err
		}
		err = send(w)
		if errors.Is(err, client.ErrConflict) && i < chainAttempts {
			continue
		}
		if err != nil {
			return Explain(err)
		}
		s.pin(s.chainKey(org), next)
		return nil
	}
}

// appendOps signs ops one after the other on top of st and returns the
// extended chain and the entries.
func (s *Session) appendOps(st *trust.State, ops ...trust.Op) (*trust.State, [][]byte, error) {
	var raw [][]byte
	for _, op := range ops {
		e, err := st.Append(s.sig(), op)
		if err != nil {
			return nil, nil, err
		}
		if st, err = st.Extend([]*trust.Entry{e}); err != nil {
			return nil, nil, err
		}
		raw = append(raw, e.Bytes())
	}
	return st, raw, nil
}

// newEnvs signs an env.create for each name in project prj on top of st,
// with a fresh key wrapped to this user.
func (s *Session) newEnvs(st *trust.State, prj string, names []string, w *api.ChainWrite) (*trust.State, error) {
	for _, name := range names {
		if err := validSlug("environment", name); err != nil {
			return nil, err
		}
		id := api.NewID("env")
		next, raw, err := s.appendOps(st, trust.CreateEnv{EnvID: id, ProjectID: prj, Name: name})
		if err != nil {
			return nil, err
		}
		ek, err := crypto.GenerateEnvKey(id, 1)
		if err != nil {
			return nil, err
		}
		g, err := next.MakeGrant(s.sig(), ek, s.me())
		if err != nil {
			return nil, err
		}
		st = next
		w.Entries = append(w.Entries, raw...)
		w.Grants = append(w.Grants, g.Bytes())
	}
	return st, nil
}

// ListOrgs lists the orgs this user belongs to.
func (s *Session) ListOrgs(ctx context.Context) ([]api.Org, error) {
	orgs, err := s.client.ListOrgs(ctx)
	return orgs, Explain(err)
}

// CreateProject creates a project in org with DefaultEnvironments, each
// with a fresh key generated here and wrapped to this principal; the chain
// entries that bind their names to their IDs are signed here.
func (s *Session) CreateProject(ctx context.Context, org, name string) (api.Project, error) {
	if err := validSlug("project", name); err != nil {
		return api.Project{}, err
	}
	if s.login == nil {
		return api.Project{}, usageErrorf("a service token cannot create projects: unset SECR_TOKEN and log in")
	}
	var p api.Project
	err := s.changeOrg(ctx, org, func(st *trust.State) (*trust.State, api.ChainWrite, error) {
		var w api.ChainWrite
		if _, ok := st.LookupProject(name); ok {
			return nil, w, usageErrorf("project %q already exists in org %q", name, org)
		}
		prj := api.NewID("prj")
		st, raw, err := s.appendOps(st, trust.CreateProject{ProjectID: prj, Name: name})
		if err != nil {
			return nil, w, err
		}
		w.Entries = raw
		st, err = s.newEnvs(st, prj, DefaultEnvironments, &w)
		return st, w, err
	}, func(w api.ChainWrite) (err error) {
		p, err = s.client.CreateProject(ctx, org, api.CreateProjectRequest{Name: name, ChainWrite: w})
		return err
	})
	return p, err
}

// ListProjects lists org's projects.
func (s *Session) ListProjects(ctx context.Context, org string) ([]api.Project, error) {
	ps, err := s.client.ListProjects(ctx, org)
	return ps, Explain(err)
}

// CreateEnv creates environment name in t's project.
func (s *Session) CreateEnv(ctx context.Context, t Target, name string) (api.Environment, error) {
	if err := validSlug("environment", name); err != nil {
		return api.Environment{}, err
	}
	if s.login == nil {
		return api.Environment{}, usageErrorf("a service token cannot create environments: unset SECR_TOKEN and log in")
	}
	var e api.Environment
	err := s.changeOrg(ctx, t.Org, func(st *trust.State) (*trust.State, api.ChainWrite, error) {
		var w api.ChainWrite
		prj, ok := st.LookupProject(t.Project)
		if !ok {
			return nil, w, fmt.Errorf("project %q not found in the org chain of %q: run 'secr projects list'", t.Project, t.Org)
		}
		if _, ok := st.LookupEnv(prj, name); ok {
			return nil, w, usageErrorf("environment %q already exists in project %q", name, t.Project)
		}
		st, err := s.newEnvs(st, prj, []string{name}, &w)
		return st, w, err
	}, func(w api.ChainWrite) (err error) {
		e, err = s.client.CreateEnv(ctx, t.Org, t.Project, api.CreateEnvRequest{Name: name, ChainWrite: w})
		return err
	})
	return e, err
}

// ListEnvs lists t's project's environments.
func (s *Session) ListEnvs(ctx context.Context, t Target) ([]api.Environment, error) {
	envs, err := s.client.ListEnvs(ctx, t.Org, t.Project)
	return envs, Explain(err)
}

// TokenRequest describes a service token to create.
type TokenRequest struct {
	// Name is a label, e.g. github-deploy.
	Name      string
	ReadWrite bool
	// ExpiresAt is nil for a token that never expires.
	ExpiresAt *time.Time
}

// CreateToken makes a service token for t's environment: a fresh secret
// generated here (carrying the org anchor, so a runner with no state can
// verify the org from its root), its token.create signed here, and the
// environment key wrapped to the key derived from it. It returns the token
// (to be shown once) and its details.
func (s *Session) CreateToken(ctx context.Context, t Target, req TokenRequest) (string, api.TokenInfo, error) {
	if s.token != nil {
		return "", api.TokenInfo{}, usageErrorf("a service token cannot create tokens: unset SECR_TOKEN and log in")
	}
	env, err := s.Load(ctx, t)
	if err != nil {
		return "", api.TokenInfo{}, err
	}
	tok, err := trust.GenerateToken(env.state.Anchor())
	if err != nil {
		return "", api.TokenInfo{}, err
	}
	var expires time.Time
	if req.ExpiresAt != nil {
		// The chain records whole seconds; the request must say the same.
		expires = req.ExpiresAt.UTC().Truncate(time.Second)
		req.ExpiresAt = &expires
	}
	access := trust.Read
	if req.ReadWrite {
		access = trust.Write
	}
	var info api.TokenInfo
	err = s.changeOrg(ctx, env.Org, func(st *trust.State) (*trust.State, api.ChainWrite, error) {
		var w api.ChainWrite
		if cur, ok := st.Env(env.ID); !ok || cur.KeyVersion != env.key.Version() {
			return nil, w, fmt.Errorf("the key of environment %q changed while the token was being made: run the command again", env.Name)
		}
		p, err := tok.Principal(req.Name)
		if err != nil {
			return nil, w, err
		}
		st, raw, err := s.appendOps(st, trust.CreateToken{Token: p, EnvID: env.ID, Access: access, Expires: expires})
		if err != nil {
			return nil, w, err
		}
		g, err := st.MakeGrant(s.sig(), env.key, tok.ID())
		if err != nil {
			return nil, w, err
		}
		w.Entries, w.Grants = raw, [][]byte{g.Bytes()}
		return st, w, nil
	}, func(w api.ChainWrite) (err error) {
		info, err = s.client.CreateToken(ctx, env.Org, env.Project, api.CreateTokenRequest{
			ID: tok.ID(), Name: req.Name, Environment: env.Name, ReadWrite: req.ReadWrite, ExpiresAt: req.ExpiresAt,
			AuthKey: tok.AuthKey(), ChainWrite: w,
		})
		return err
	})
	if err != nil {
		return "", api.TokenInfo{}, err
	}
	return tok.String(), info, nil
}

// ListTokens lists t's project's service tokens.
//
// What each token may do (environment, read or write, expiry) and who made
// it come from the verified chain; the server adds only when. A token
// the server lists that the chain does not have is left out with a
// warning, and one the chain has that the server does not list is shown
// with a warning: either is the server's word against the chain's.
func (s *Session) ListTokens(ctx context.Context, t Target) ([]api.TokenInfo, error) {
	st, prj, err := s.chainProject(ctx, t.Org, t.Project)
	if err != nil {
		return nil, err
	}
	listed, err := s.client.ListTokens(ctx, t.Org, t.Project)
	if err != nil {
		return nil, Explain(err)
	}
	byID := map[string]api.TokenInfo{}
	for _, ti := range listed {
		byID[ti.ID] = ti
	}
	var out []api.TokenInfo
	for _, tok := range st.Tokens() {
		env, ok := st.Env(tok.EnvID)
		if !ok || env.ProjectID != prj || tok.Revoked {
			continue
		}
		id := tok.Principal.ID()
		info := api.TokenInfo{ID: id, Name: tok.Principal.Name(), Org: st.OrgName(), Project: t.Project,
			Environment: env.Name, ReadWrite: tok.Access == trust.Write}
		if !tok.Expires.IsZero() {
			exp := tok.Expires
			info.ExpiresAt = &exp
		}
		if c, ok := st.Principal(tok.Creator); ok {
			info.CreatedBy = c.Name()
		}
		if srv, ok := byID[id]; ok {
			info.CreatedAt = srv.CreatedAt
			delete(byID, id)
		} else {
			s.opts.warnf("the org chain has token %s (%s), which the server does not list: it may have deleted it", id, info.Name)
		}
		out = append(out, info)
	}
	for id := range byID {
		s.opts.warnf("the server lists token %s, which the org chain of %q does not have: left out", id, t.Org)
	}
	return out, nil
}

// RevokeToken revokes the service token with the given ID (st_...): a
// token.revoke in the org chain, after which the chain gives it no access,
// and the server forgets it. The environment's key is rotated in the same
// change (or left pending when this user holds no key): a revision the
// token signed afterwards, claiming a chain position from before the
// revocation, would be under a stale key and is refused.
func (s *Session) RevokeToken(ctx context.Context, t Target, id string) (RemoveResult, error) {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, trust.TokenPrefix) {
		return RemoveResult{}, usageErrorf("give the token ID (st_...), not the token itself; see 'secr tokens list'")
	}
	if s.login == nil {
		return RemoveResult{}, usageErrorf("a service token cannot revoke tokens: unset SECR_TOKEN and log in")
	}
	var res RemoveResult
	err := s.changeTeam(ctx, t.Org, "", func(st *trust.State) ([]trust.Op, []wrapTo, error) {
		if info, ok := st.Token(id); !ok || info.Revoked {
			return nil, nil, fmt.Errorf("no token %q in org %q: see 'secr tokens list'", id, t.Org)
		}
		res = RemoveResult{Names: map[string][]string{}, Tokens: []string{id}}
		return []trust.Op{trust.RevokeToken{TokenID: id}}, nil, nil
	}, func(before, next *trust.State) []string {
		return s.lostAccess(ctx, before, next, &res)
	})
	return res, err
}

// validSlug checks an org, project or environment name before it is sent.
func validSlug(what, name string) error {
	if !api.ValidSlug(name) {
		return usageErrorf("invalid %s name %q: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters", what, name)
	}
	return nil
}
