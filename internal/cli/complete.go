package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/session"
)

// completionTimeout bounds the one server request a completion may make: a
// shell must not hang on Tab.
const completionTimeout = 300 * time.Millisecond

// addCompletions registers dynamic completion on the whole tree: org,
// project and environment names from the server (within
// completionTimeout), and secret names for 'secrets get' and 'delete' from
// the offline cache only (decrypted here; no request). Nothing but names is
// ever printed. It runs only for the shell's hidden __complete command.
func addCompletions(root *cobra.Command, d *Deps) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for flag, list := range map[string]func(context.Context, *session.Session, session.Target) ([]string, error){
			"org":     completeOrgs,
			"project": completeProjects,
			"env":     completeEnvs,
		} {
			if c.Flags().Lookup(flag) != nil {
				_ = c.RegisterFlagCompletionFunc(flag, d.completer(list))
			}
		}
		if c.Name() == "get" || c.Name() == "delete" {
			c.ValidArgsFunction = d.completer(completeSecretNames)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

type cobraCompletion = func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective)

// completer adapts list to cobra, reading the flags given so far.
func (d *Deps) completer(list func(context.Context, *session.Session, session.Target) ([]string, error)) cobraCompletion {
	return func(c *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var f targetFlags
		f.API, _ = c.Flags().GetString("api")
		f.Org, _ = c.Flags().GetString("org")
		f.Project, _ = c.Flags().GetString("project")
		f.Env, _ = c.Flags().GetString("env")
		s, t, err := d.userSession(&f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(c.Context(), completionTimeout)
		defer cancel()
		names, err := list(ctx, s, t)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func completeOrgs(ctx context.Context, s *session.Session, _ session.Target) ([]string, error) {
	orgs, err := s.ListOrgs(ctx)
	var names []string
	for _, o := range orgs {
		names = append(names, o.Name)
	}
	return names, err
}

func completeProjects(ctx context.Context, s *session.Session, t session.Target) ([]string, error) {
	ps, err := s.ListProjects(ctx, t.Org)
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return names, err
}

func completeEnvs(ctx context.Context, s *session.Session, t session.Target) ([]string, error) {
	envs, err := s.ListEnvs(ctx, t)
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	return names, err
}

func completeSecretNames(ctx context.Context, s *session.Session, t session.Target) ([]string, error) {
	s.UseCache(session.CachePolicy{Offline: true})
	env, err := s.Load(ctx, t)
	if err != nil {
		return nil, err
	}
	return env.Names(), nil
}
