package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/session"
)

type initOptions struct {
	d     *Deps
	f     targetFlags
	force bool
}

func newInitCmd(d *Deps) *cobra.Command {
	o := &initOptions{d: d}
	c := &cobra.Command{
		Use:   "init --org ORG --project PROJECT [--env ENV]",
		Short: "Link this directory to a secr project by writing .secr.json",
		Long: `Write .secr.json in the current directory. It names the org, project and
default environment (development unless --env), and the server unless it is
the default http://127.0.0.1:7700 (from --api, SECR_API_URL or an existing
.secr.json). It holds no secrets: commit it. secr finds it from any subdirectory.`,
		Example: "  secr init --org acme --project web\n  secr init --org acme --project web --env staging --api https://secr.example.com",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runInit(c.Context(), o)
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.force, "force", false, "overwrite an existing .secr.json")
	return c
}

func runInit(ctx context.Context, o *initOptions) error {
	d := o.d
	if o.f.Org == "" || o.f.Project == "" {
		return usageErrorf("--org and --project are required (see 'secr projects list')")
	}
	wd, err := d.Getwd()
	if err != nil {
		return err
	}
	// A malformed .secr.json is what --force is for: then ignore it.
	proj, err := d.projectFile()
	if err != nil && !o.force {
		return err
	}
	t := session.ResolveTarget(o.f.Flags, d.Getenv, proj)
	t.Env = o.f.Env
	if t.Env == "" {
		t.Env = "development"
	}
	// Check the project and environment exist when we can ask.
	if s, err := session.Authenticate(t, d.sessionOptions()); err == nil {
		envs, err := s.ListEnvs(ctx, t)
		if err != nil {
			return err
		}
		var names []string
		for _, e := range envs {
			names = append(names, e.Name)
		}
		match, notice, err := session.MatchEnv(t.Env, names)
		if err != nil {
			return fmt.Errorf("project %s/%s: %w", t.Org, t.Project, err)
		}
		if notice != "" {
			d.IO.Infof("%s", notice)
		}
		t.Env = match
	} else if errors.Is(err, session.ErrNotLoggedIn) {
		d.IO.Warnf("not logged in, so %s/%s was not checked on the server", t.Org, t.Project)
	} else {
		return err
	}
	// Record the server whenever it is not the default, however it was
	// given (flag, SECR_API_URL, an earlier .secr.json): a teammate or a CI
	// job running in this repository must reach the same one.
	p := &config.Project{Org: t.Org, Project: t.Project, Environment: t.Env}
	if t.API != session.DefaultAPI {
		p.API = t.API
	}
	path := filepath.Join(wd, config.ProjectFileName)
	if err := config.WriteProject(path, p, o.force); err != nil {
		return err
	}
	d.IO.Infof("Wrote %s: %s/%s, environment %s.", config.ProjectFileName, t.Org, t.Project, t.Env)
	if envFiles := dotenvFiles(wd); len(envFiles) > 0 {
		d.IO.Infof("Found %s here. Move them into secr with 'secr secrets import %s', then delete them.",
			strings.Join(envFiles, ", "), envFiles[0])
	}
	return nil
}

// dotenvFiles lists .env files in dir, skipping templates that hold no
// values (.env.example, .env.sample, .env.template).
func dotenvFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || (n != ".env" && !strings.HasPrefix(n, ".env.")) {
			continue
		}
		if strings.HasSuffix(n, ".example") || strings.HasSuffix(n, ".sample") || strings.HasSuffix(n, ".template") {
			continue
		}
		out = append(out, n)
	}
	return out
}
