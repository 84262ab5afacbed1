package cli

import (
	"github.com/spf13/cobra"
)

func newAccessCmd(d *Deps) *cobra.Command {
	return groupCmd("access", "Grant, revoke and list who can read each environment",
		`Access to an environment is an entry in the org chain (signed by an owner or
admin) plus the environment's key wrapped to the member by someone who holds
it. An admin who does not hold a key can still grant access: the wrap stays
pending until a key holder's secr runs ('secr access sync', or any command of
theirs other than run, export and secrets get). Revoking access rotates the
key. See docs/teams.md.`,
		newAccessGrantCmd(d), newAccessRevokeCmd(d), newAccessListCmd(d), newAccessSyncCmd(d))
}

func newAccessGrantCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	var write bool
	c := &cobra.Command{
		Use:     "grant EMAIL --env ENV [--write]",
		Short:   "Let a member read (or write) an environment",
		Example: "  secr access grant dave@example.com --env production\n  secr access grant bob@example.com --env staging --write",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			s, t, err := o.d.projectSession(&o.f)
			if err != nil {
				return err
			}
			if !t.EnvExplicit {
				return usageErrorf("--env is required: say which environment to grant")
			}
			o.d.syncQuietly(c.Context(), s, t.Org)
			pending, err := s.GrantAccess(c.Context(), t, args[0], write)
			if err != nil {
				return err
			}
			what := "read"
			if write {
				what = "read and write"
			}
			o.d.IO.Infof("%s may now %s %s/%s/%s.", args[0], what, t.Org, t.Project, t.Env)
			if pending {
				o.d.IO.Infof("You do not hold that environment's key: the grant is pending until a key holder runs secr ('secr access list' shows it).")
			}
			return nil
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&write, "write", false, "also let them write (developers, admins and owners; viewers only read)")
	return c
}

func newAccessRevokeCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	c := &cobra.Command{
		Use:   "revoke EMAIL --env ENV",
		Short: "Take a member's access to an environment away, and rotate its key",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			s, t, err := o.d.projectSession(&o.f)
			if err != nil {
				return err
			}
			if !t.EnvExplicit {
				return usageErrorf("--env is required: say which environment to revoke")
			}
			res, err := s.RevokeAccess(c.Context(), t, args[0])
			if err != nil {
				return err
			}
			if o.jsonOut {
				return o.d.IO.JSON(res)
			}
			o.d.IO.Infof("%s may no longer read %s/%s/%s.", args[0], t.Org, t.Project, t.Env)
			o.d.reportRemoval(args[0], res)
			return nil
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print what was rotated, pending and exposed as JSON")
	return c
}

func newAccessListCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	c := &cobra.Command{
		Use:   "list [--env ENV]",
		Short: "List who can read the project's environments, and pending work",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			s, t, err := o.d.projectSession(&o.f)
			if err != nil {
				return err
			}
			entries, rotations, err := s.AccessList(c.Context(), t, t.EnvExplicit)
			if err != nil {
				return err
			}
			if o.jsonOut {
				return o.d.IO.JSON(map[string]any{"access": entries, "pending_rotations": rotations})
			}
			rows := [][]string{}
			for _, e := range entries {
				p := ""
				if e.Pending {
					p = "key pending"
				}
				rows = append(rows, []string{e.Env, e.Who, e.Kind, e.Access, p})
			}
			if err := o.d.IO.Table([]string{"ENVIRONMENT", "WHO", "KIND", "ACCESS", "PENDING"}, rows); err != nil {
				return err
			}
			for _, env := range rotations {
				o.d.IO.Infof("Pending: %s needs a key rotation, which a key holder's secr makes ('secr access sync').", env)
			}
			return nil
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

func newAccessSyncCmd(d *Deps) *cobra.Command {
	o := &teamOptions{d: d}
	c := &cobra.Command{
		Use:   "sync",
		Short: "Complete the pending grants, rotations and accepted invites your keys can",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			s, t, err := o.d.userSession(&o.f)
			if err != nil {
				return err
			}
			res, err := s.Sync(c.Context(), t.Org)
			if o.jsonOut {
				if jerr := o.d.IO.JSON(res); jerr != nil {
					return jerr
				}
				return err
			}
			o.d.reportSync(res)
			if res.Left > 0 {
				o.d.IO.Infof("%d pending item(s) need a key this machine does not hold.", res.Left)
			} else if len(res.Added)+res.Grants+res.Rotations == 0 && err == nil {
				o.d.IO.Infof("Nothing pending that your keys can complete.")
			}
			return err
		},
	}
	o.f.addOrg(c)
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}
