package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/session"
)

// objectOptions are the options of the commands that create or list orgs,
// projects and environments.
type objectOptions struct {
	d       *Deps
	f       targetFlags
	jsonOut bool
}

func newOrgsCmd(d *Deps) *cobra.Command {
	co := &objectOptions{d: d}
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an org; you become its owner",
		Example: "  secr orgs create acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			co.f.bind(c)
			return runOrgsCreate(c.Context(), co, args[0])
		},
	}
	create.Flags().BoolVar(&co.jsonOut, "json", false, "print as JSON")
	lo := &objectOptions{d: d}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the orgs you belong to",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			lo.f.bind(c)
			return runOrgsList(c.Context(), lo)
		},
	}
	list.Flags().BoolVar(&lo.jsonOut, "json", false, "print as JSON")
	vo := &objectOptions{d: d}
	verify := &cobra.Command{
		Use:   "verify [ORG]",
		Short: "Show the org's anchor fingerprint and chain head, to compare out of band",
		Long: `Verify the org's chain up to its head and print its anchor fingerprint, the
head this machine verified, and the owners' safety numbers.

Everything secr believes about an org (who is a member, which environment is
called production, who may write it) comes from the org chain, a signed log
rooted at the org's anchor. The first time this machine saw the org it pinned
that anchor (trust on first use). Compare the fingerprint with a teammate's
'secr orgs verify' (by voice, chat or in person): if they differ, one of you is
talking to a server that lies. Service tokens carry the anchor, so CI runners
check it without being asked.`,
		Example: "  secr orgs verify acme\n  secr orgs verify acme --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			vo.f.bind(c)
			org := ""
			if len(args) == 1 {
				org = args[0]
			}
			return runOrgsVerify(c.Context(), vo, org)
		},
	}
	vo.f.addOrg(verify)
	verify.Flags().BoolVar(&vo.jsonOut, "json", false, "print as JSON")
	return groupCmd("orgs", "Create, list and verify organisations", "", create, list, verify)
}

func runOrgsVerify(ctx context.Context, o *objectOptions, org string) error {
	s, t, err := o.d.userSession(&o.f)
	if err != nil {
		return err
	}
	if org == "" {
		org = t.Org
	}
	info, err := s.VerifyOrg(ctx, org)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(info)
	}
	w := o.d.IO.Out
	fmt.Fprintf(w, "Org:          %s (%s)\n", info.Org, info.ID)
	fmt.Fprintf(w, "Anchor:       %s\n", info.Fingerprint)
	fmt.Fprintf(w, "Chain head:   entry %d, %s\n", info.HeadSeq, info.Head[:32])
	for _, m := range info.Owners {
		fmt.Fprintf(w, "Owner:        %s, safety number %s\n", m.Name, m.SafetyNumber)
	}
	o.d.IO.Infof("The chain verified. Compare the anchor with another member's 'secr orgs verify %s' out of band: if they differ, one of you is talking to a server that lies.", info.Org)
	return nil
}

func runOrgsCreate(ctx context.Context, o *objectOptions, name string) error {
	s, _, err := o.d.userSession(&o.f)
	if err != nil {
		return err
	}
	org, err := s.CreateOrg(ctx, name)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(org)
	}
	o.d.IO.Infof("Created org %s. Next: secr projects create NAME --org %s", org.Name, org.Name)
	return nil
}

func runOrgsList(ctx context.Context, o *objectOptions) error {
	s, _, err := o.d.userSession(&o.f)
	if err != nil {
		return err
	}
	orgs, err := s.ListOrgs(ctx)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(orgs)
	}
	rows := [][]string{}
	for _, org := range orgs {
		rows = append(rows, []string{org.Name, org.Role, formatTime(org.CreatedAt)})
	}
	return o.d.IO.Table([]string{"ORG", "ROLE", "CREATED"}, rows)
}

func newProjectsCmd(d *Deps) *cobra.Command {
	co := &objectOptions{d: d}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a project with environments development, staging and production",
		Long: `Create a project. It starts with the environments development, staging and
production; each gets its own random key, generated here and wrapped to your
account key, so only you can read it until you grant others access.`,
		Example: "  secr projects create web --org acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			co.f.bind(c)
			return runProjectsCreate(c.Context(), co, args[0])
		},
	}
	co.f.addOrg(create)
	create.Flags().BoolVar(&co.jsonOut, "json", false, "print as JSON")

	lo := &objectOptions{d: d}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the projects of an org",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			lo.f.bind(c)
			return runProjectsList(c.Context(), lo)
		},
	}
	lo.f.addOrg(list)
	list.Flags().BoolVar(&lo.jsonOut, "json", false, "print as JSON")
	return groupCmd("projects", "Create and list projects", "", create, list)
}

func runProjectsCreate(ctx context.Context, o *objectOptions, name string) error {
	s, t, err := o.d.userSession(&o.f)
	if err != nil {
		return err
	}
	if err := t.RequireOrg(); err != nil {
		return err
	}
	p, err := s.CreateProject(ctx, t.Org, name)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(p)
	}
	o.d.IO.Infof("Created project %s in org %s with environments %s.", p.Name, t.Org, strings.Join(session.DefaultEnvironments, ", "))
	o.d.IO.Infof("Next: in your repository, run 'secr init --org %s --project %s'", t.Org, p.Name)
	return nil
}

func runProjectsList(ctx context.Context, o *objectOptions) error {
	s, t, err := o.d.userSession(&o.f)
	if err != nil {
		return err
	}
	if err := t.RequireOrg(); err != nil {
		return err
	}
	ps, err := s.ListProjects(ctx, t.Org)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(ps)
	}
	rows := [][]string{}
	for _, p := range ps {
		var names []string
		for _, e := range p.Environments {
			names = append(names, e.Name)
		}
		rows = append(rows, []string{p.Name, strings.Join(names, ","), formatTime(p.CreatedAt)})
	}
	return o.d.IO.Table([]string{"PROJECT", "ENVIRONMENTS", "CREATED"}, rows)
}

func newEnvsCmd(d *Deps) *cobra.Command {
	co := &objectOptions{d: d}
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an environment in the current project",
		Example: "  secr envs create preview",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			co.f.bind(c)
			return runEnvsCreate(c.Context(), co, args[0])
		},
	}
	co.f.addProject(create)
	create.Flags().BoolVar(&co.jsonOut, "json", false, "print as JSON")

	lo := &objectOptions{d: d}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the current project's environments",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			lo.f.bind(c)
			return runEnvsList(c.Context(), lo)
		},
	}
	lo.f.addProject(list)
	list.Flags().BoolVar(&lo.jsonOut, "json", false, "print as JSON")
	return groupCmd("envs", "Create and list a project's environments", "", create, list)
}

func runEnvsCreate(ctx context.Context, o *objectOptions, name string) error {
	s, t, err := o.d.projectSession(&o.f)
	if err != nil {
		return err
	}
	e, err := s.CreateEnv(ctx, t, name)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(e)
	}
	o.d.IO.Infof("Created environment %s in %s/%s.", e.Name, t.Org, t.Project)
	return nil
}

func runEnvsList(ctx context.Context, o *objectOptions) error {
	s, t, err := o.d.projectSession(&o.f)
	if err != nil {
		return err
	}
	envs, err := s.ListEnvs(ctx, t)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(envs)
	}
	rows := [][]string{}
	for _, e := range envs {
		rows = append(rows, []string{e.Name, strconv.FormatInt(e.LatestRevision, 10), fmt.Sprint(e.KeyVersion)})
	}
	return o.d.IO.Table([]string{"ENVIRONMENT", "REVISION", "KEY VERSION"}, rows)
}
