package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/crypto"
)

// DefaultEnvironments are created with every project.
var defaultEnvironments = []string{"development", "staging", "production"}

// userSession authenticates and fills the org from the login's default
// when nothing else named one.
func (d *Deps) userSession(c *cobra.Command, f *targetFlags) (*session, target, error) {
	t, err := d.resolveTarget(c, f)
	if err != nil {
		return nil, t, err
	}
	s, err := d.authenticate(t)
	if err != nil {
		return nil, t, err
	}
	if t.org == "" && s.login != nil {
		t.org = s.login.DefaultOrg
	}
	return s, t, nil
}

// projectSession is userSession for commands that need a project.
func (d *Deps) projectSession(c *cobra.Command, f *targetFlags) (*session, target, error) {
	s, t, err := d.userSession(c, f)
	if err == nil {
		err = t.requireProject()
	}
	return s, t, err
}

func (t target) requireOrg() error {
	if t.org == "" {
		return withHint(usageErrorf("no org selected"), "pass --org NAME (see 'secr orgs list'), or create one with 'secr orgs create NAME'")
	}
	return nil
}

func newOrgsCmd(d *Deps) *cobra.Command {
	c := &cobra.Command{Use: "orgs", Short: "Create and list organisations"}
	var jsonOut bool
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an org; you become its owner",
		Example: "  secr orgs create acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, _, err := d.userSession(c, &targetFlags{})
			if err != nil {
				return err
			}
			org, err := s.client.CreateOrg(c.Context(), args[0])
			if err != nil {
				return explain(err)
			}
			if s.login != nil && s.login.DefaultOrg == "" {
				s.login.DefaultOrg = org.Name
				if dirs, err := d.dirs(); err == nil {
					_ = config.CredentialsAt(dirs).Put(s.api, s.login)
				}
			}
			if jsonOut {
				return d.IO.JSON(org)
			}
			d.IO.Infof("Created org %s. Next: secr projects create NAME --org %s", org.Name, org.Name)
			return nil
		},
	}
	create.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the orgs you belong to",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, _, err := d.userSession(c, &targetFlags{})
			if err != nil {
				return err
			}
			orgs, err := s.client.ListOrgs(c.Context())
			if err != nil {
				return explain(err)
			}
			if listJSON {
				return d.IO.JSON(orgs)
			}
			rows := [][]string{}
			for _, o := range orgs {
				rows = append(rows, []string{o.Name, o.Role, o.CreatedAt.Local().Format("2006-01-02")})
			}
			return d.IO.Table([]string{"ORG", "ROLE", "CREATED"}, rows)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print as JSON")
	c.AddCommand(create, list)
	return c
}

func newProjectsCmd(d *Deps) *cobra.Command {
	c := &cobra.Command{Use: "projects", Short: "Create and list projects"}
	var f targetFlags
	var jsonOut bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a project with environments development, staging and production",
		Long: `Create a project. It starts with the environments development, staging and
production; each gets its own random key, generated here and wrapped to your
account key, so only you can read it until you grant others access.`,
		Example: "  secr projects create web --org acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, t, err := d.userSession(c, &f)
			if err != nil {
				return err
			}
			if err := t.requireOrg(); err != nil {
				return err
			}
			req := api.CreateProjectRequest{Name: args[0]}
			for _, name := range defaultEnvironments {
				ne, err := s.newEnvironment(name)
				if err != nil {
					return err
				}
				req.Environments = append(req.Environments, ne)
			}
			p, err := s.client.CreateProject(c.Context(), t.org, req)
			if err != nil {
				return explain(err)
			}
			if jsonOut {
				return d.IO.JSON(p)
			}
			d.IO.Infof("Created project %s in org %s with environments %s.", p.Name, t.org, strings.Join(defaultEnvironments, ", "))
			d.IO.Infof("Next: in your repository, run 'secr init --org %s --project %s'", t.org, p.Name)
			return nil
		},
	}
	f.addOrg(create)
	create.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")

	var lf targetFlags
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the projects of an org",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, t, err := d.userSession(c, &lf)
			if err != nil {
				return err
			}
			if err := t.requireOrg(); err != nil {
				return err
			}
			ps, err := s.client.ListProjects(c.Context(), t.org)
			if err != nil {
				return explain(err)
			}
			if listJSON {
				return d.IO.JSON(ps)
			}
			rows := [][]string{}
			for _, p := range ps {
				var names []string
				for _, e := range p.Environments {
					names = append(names, e.Name)
				}
				rows = append(rows, []string{p.Name, strings.Join(names, ","), p.CreatedAt.Local().Format("2006-01-02")})
			}
			return d.IO.Table([]string{"PROJECT", "ENVIRONMENTS", "CREATED"}, rows)
		},
	}
	lf.addOrg(list)
	list.Flags().BoolVar(&listJSON, "json", false, "print as JSON")
	c.AddCommand(create, list)
	return c
}

// newEnvironment generates an environment ID and key, wrapped to the
// logged-in user.
func (s *session) newEnvironment(name string) (api.NewEnvironment, error) {
	if !api.ValidSlug(name) {
		return api.NewEnvironment{}, usageErrorf("invalid environment name %q: use lower-case letters, digits, '.', '_' and '-'", name)
	}
	id := crypto.NewID("env")
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

func newEnvsCmd(d *Deps) *cobra.Command {
	c := &cobra.Command{Use: "envs", Short: "Create and list a project's environments"}
	var f targetFlags
	var jsonOut bool
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an environment in the current project",
		Example: "  secr envs create preview",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, t, err := d.projectSession(c, &f)
			if err != nil {
				return err
			}
			ne, err := s.newEnvironment(args[0])
			if err != nil {
				return err
			}
			e, err := s.client.CreateEnv(c.Context(), t.org, t.project, ne)
			if err != nil {
				return explain(err)
			}
			if jsonOut {
				return d.IO.JSON(e)
			}
			d.IO.Infof("Created environment %s in %s/%s.", e.Name, t.org, t.project)
			return nil
		},
	}
	f.addProject(create)
	create.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")

	var lf targetFlags
	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the current project's environments",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, t, err := d.projectSession(c, &lf)
			if err != nil {
				return err
			}
			envs, err := s.client.ListEnvs(c.Context(), t.org, t.project)
			if err != nil {
				return explain(err)
			}
			if listJSON {
				return d.IO.JSON(envs)
			}
			rows := [][]string{}
			for _, e := range envs {
				rows = append(rows, []string{e.Name, strconv.FormatInt(e.LatestRevision, 10), fmt.Sprint(e.KeyVersion)})
			}
			return d.IO.Table([]string{"ENVIRONMENT", "REVISION", "KEY VERSION"}, rows)
		},
	}
	lf.addProject(list)
	list.Flags().BoolVar(&listJSON, "json", false, "print as JSON")
	c.AddCommand(create, list)
	return c
}
