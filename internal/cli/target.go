package cli

import (
	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/session"
)

// targetFlags are the flags that pick a server, org, project and
// environment. Commands embed the ones they need; bind copies the global
// --api flag in before the command runs.
type targetFlags struct {
	session.Flags
}

func (f *targetFlags) addOrg(c *cobra.Command) {
	c.Flags().StringVar(&f.Org, "org", "", "org name (default: .secr.json, then your default org)")
}

func (f *targetFlags) addProject(c *cobra.Command) {
	f.addOrg(c)
	c.Flags().StringVar(&f.Project, "project", "", "project name (default: .secr.json)")
}

func (f *targetFlags) addEnv(c *cobra.Command) {
	f.addProject(c)
	c.Flags().StringVarP(&f.Env, "env", "e", "", "environment (default $SECR_ENV, then .secr.json, then development)")
}

// bind reads the persistent --api flag, which belongs to the root command.
func (f *targetFlags) bind(c *cobra.Command) {
	f.API, _ = c.Flags().GetString("api")
}

// resolve applies the precedence: flags > environment variables >
// .secr.json > built-in defaults.
func (d *Deps) resolve(f *targetFlags) (session.Target, error) {
	proj, err := d.projectFile()
	if err != nil {
		return session.Target{}, err
	}
	return session.ResolveTarget(f.Flags, d.Getenv, proj), nil
}

// projectFile finds and parses .secr.json; nil when there is none.
func (d *Deps) projectFile() (*config.Project, error) {
	wd, err := d.Getwd()
	if err != nil {
		return nil, nil
	}
	return session.ProjectFile(wd)
}

// authenticate resolves the target and authenticates.
func (d *Deps) authenticate(f *targetFlags) (*session.Session, session.Target, error) {
	t, err := d.resolve(f)
	if err != nil {
		return nil, t, err
	}
	s, err := session.Authenticate(t, d.sessionOptions())
	return s, t, err
}

// userSession is authenticate with the org filled from the login's default
// when nothing else named one.
func (d *Deps) userSession(f *targetFlags) (*session.Session, session.Target, error) {
	s, t, err := d.authenticate(f)
	if err != nil {
		return nil, t, err
	}
	return s, s.WithDefaultOrg(t), nil
}

// projectSession is userSession for commands that need a project.
func (d *Deps) projectSession(f *targetFlags) (*session.Session, session.Target, error) {
	s, t, err := d.userSession(f)
	if err == nil {
		err = t.RequireProject()
	}
	return s, t, err
}
