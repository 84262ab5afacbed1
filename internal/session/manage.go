package session

import (
	"context"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
)

// DefaultEnvironments are created with every project.
var DefaultEnvironments = []string{"development", "staging", "production"}

// WhoAmI asks the server who this principal is.
func (s *Session) WhoAmI(ctx context.Context) (api.WhoAmI, error) {
	who, err := s.client.WhoAmI(ctx)
	return who, Explain(err)
}

// CreateOrg creates an org owned by this user, and makes it the login's
// default org when it has none.
func (s *Session) CreateOrg(ctx context.Context, name string) (api.Org, error) {
	if err := validSlug("org", name); err != nil {
		return api.Org{}, err
	}
	org, err := s.client.CreateOrg(ctx, name)
	if err != nil {
		return org, Explain(err)
	}
	if s.login != nil && s.login.DefaultOrg == "" {
		s.login.DefaultOrg = org.Name
		if dirs, err := s.opts.dirs(); err == nil {
			_ = s.opts.credentials(dirs).SetDefaultOrg(s.api, org.Name)
		}
	}
	return org, nil
}

// ListOrgs lists the orgs this user belongs to.
func (s *Session) ListOrgs(ctx context.Context) ([]api.Org, error) {
	orgs, err := s.client.ListOrgs(ctx)
	return orgs, Explain(err)
}

// CreateProject creates a project in org with DefaultEnvironments, each
// with a fresh key generated here and wrapped to this principal.
func (s *Session) CreateProject(ctx context.Context, org, name string) (api.Project, error) {
	if err := validSlug("project", name); err != nil {
		return api.Project{}, err
	}
	req := api.CreateProjectRequest{Name: name}
	for _, env := range DefaultEnvironments {
		ne, err := s.newEnvironment(env)
		if err != nil {
			return api.Project{}, err
		}
		req.Environments = append(req.Environments, ne)
	}
	p, err := s.client.CreateProject(ctx, org, req)
	return p, Explain(err)
}

// ListProjects lists org's projects.
func (s *Session) ListProjects(ctx context.Context, org string) ([]api.Project, error) {
	ps, err := s.client.ListProjects(ctx, org)
	return ps, Explain(err)
}

// CreateEnv creates environment name in t's project.
func (s *Session) CreateEnv(ctx context.Context, t Target, name string) (api.Environment, error) {
	ne, err := s.newEnvironment(name)
	if err != nil {
		return api.Environment{}, err
	}
	e, err := s.client.CreateEnv(ctx, t.Org, t.Project, ne)
	return e, Explain(err)
}

// ListEnvs lists t's project's environments.
func (s *Session) ListEnvs(ctx context.Context, t Target) ([]api.Environment, error) {
	envs, err := s.client.ListEnvs(ctx, t.Org, t.Project)
	return envs, Explain(err)
}

// newEnvironment generates an environment ID and key, wrapped to this
// principal.
func (s *Session) newEnvironment(name string) (api.NewEnvironment, error) {
	if err := validSlug("environment", name); err != nil {
		return api.NewEnvironment{}, err
	}
	id := api.NewID("env")
	ek, err := crypto.GenerateEnvKey(id, 1)
	if err != nil {
		return api.NewEnvironment{}, err
	}
	wrapped, err := crypto.WrapKey(ek, s.identity.Recipient())
	if err != nil {
		return api.NewEnvironment{}, err
	}
	return api.NewEnvironment{ID: id, Name: name, WrappedKey: wrapped}, nil
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
// generated here, the environment key wrapped to the key derived from it.
// It returns the token (to be shown once) and its details.
func (s *Session) CreateToken(ctx context.Context, t Target, req TokenRequest) (string, api.TokenInfo, error) {
	if s.token != nil {
		return "", api.TokenInfo{}, usageErrorf("a service token cannot create tokens: unset SECR_TOKEN and log in")
	}
	env, err := s.Load(ctx, t)
	if err != nil {
		return "", api.TokenInfo{}, err
	}
	tok, err := crypto.GenerateServiceToken()
	if err != nil {
		return "", api.TokenInfo{}, err
	}
	wrapped, err := crypto.WrapKey(env.key, tok.Identity().Recipient())
	if err != nil {
		return "", api.TokenInfo{}, err
	}
	info, err := s.client.CreateToken(ctx, t.Org, t.Project, api.CreateTokenRequest{
		ID: tok.ID(), Name: req.Name, Environment: t.Env, ReadWrite: req.ReadWrite, ExpiresAt: req.ExpiresAt,
		AuthKey: tok.AuthKey(), PublicKey: tok.Identity().Recipient().String(),
		KeyVersion: env.key.Version(), WrappedKey: wrapped,
	})
	if err != nil {
		return "", api.TokenInfo{}, Explain(err)
	}
	return tok.String(), info, nil
}

// ListTokens lists t's project's service tokens.
func (s *Session) ListTokens(ctx context.Context, t Target) ([]api.TokenInfo, error) {
	ts, err := s.client.ListTokens(ctx, t.Org, t.Project)
	return ts, Explain(err)
}

// RevokeToken revokes the service token with the given ID (st_...).
func (s *Session) RevokeToken(ctx context.Context, t Target, id string) error {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, crypto.ServiceTokenPrefix) {
		return usageErrorf("give the token ID (st_...), not the token itself; see 'secr tokens list'")
	}
	return Explain(s.client.RevokeToken(ctx, t.Org, t.Project, id))
}

// validSlug checks an org, project or environment name before it is sent.
func validSlug(what, name string) error {
	if !api.ValidSlug(name) {
		return usageErrorf("invalid %s name %q: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters", what, name)
	}
	return nil
}
