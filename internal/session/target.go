package session

import (
	"errors"

	"github.com/secr-dev/secr/internal/config"
)

// DefaultAPI is the embedded server's address.
const DefaultAPI = "http://127.0.0.1:7700"

// Flags are the target values given on the command line ("" when not
// given).
type Flags struct {
	API, Org, Project, Env string
}

// Target is a resolved server and, as far as known, org, project and
// environment.
type Target struct {
	API, Org, Project, Env string
	// EnvExplicit: the environment came from a flag or $SECR_ENV, not from
	// .secr.json or the default.
	EnvExplicit bool
}

// ResolveTarget applies the precedence: flags > environment variables
// (SECR_API_URL, SECR_ORG, SECR_PROJECT, SECR_ENV) > .secr.json (proj, which
// may be nil) > built-in defaults. Stored login defaults come last, with
// Session.WithDefaultOrg.
func ResolveTarget(f Flags, getenv func(string) string, proj *config.Project) Target {
	if proj == nil {
		proj = &config.Project{}
	}
	return Target{
		API:         first(f.API, getenv("SECR_API_URL"), proj.API, DefaultAPI),
		Org:         first(f.Org, getenv("SECR_ORG"), proj.Org),
		Project:     first(f.Project, getenv("SECR_PROJECT"), proj.Project),
		Env:         first(f.Env, getenv("SECR_ENV"), proj.Environment, "development"),
		EnvExplicit: f.Env != "" || getenv("SECR_ENV") != "",
	}
}

// ProjectFile finds and parses the .secr.json that applies to dir; nil
// when there is none. A malformed file is an error.
func ProjectFile(dir string) (*config.Project, error) {
	p, _, err := config.FindProject(dir)
	if errors.Is(err, config.ErrNoProjectFile) {
		return nil, nil
	}
	return p, err
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// RequireProject checks that org and project are known.
func (t Target) RequireProject() error {
	if t.Org == "" || t.Project == "" {
		return WithHint(usageErrorf("no project selected: no .secr.json here and no --org/--project given"),
			"run 'secr init --org ORG --project PROJECT' in your repository, or pass --org and --project")
	}
	return nil
}

// RequireOrg checks that an org is known.
func (t Target) RequireOrg() error {
	if t.Org == "" {
		return WithHint(usageErrorf("no org selected"), "pass --org NAME (see 'secr orgs list'), or create one with 'secr orgs create NAME'")
	}
	return nil
}
