package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/runner"
)

type runOptions struct {
	d       *Deps
	f       targetFlags
	command string
}

func newRunCmd(d *Deps) *cobra.Command {
	o := &runOptions{d: d}
	c := &cobra.Command{
		Use:   "run [--env ENV] -- COMMAND [ARGS...]",
		Short: "Run a program with the environment's secrets in its environment",
		Long: `Fetch the environment's latest revision and your key in one request, decrypt
them here, and replace secr with COMMAND (execve), with the secrets added to
the inherited environment (secrets win). No file is written; signals and the
exit code are COMMAND's own. SECR_TOKEN is removed from COMMAND's environment.

With SECR_TOKEN set (a service token) no login or .secr.json is needed: the
token's own environment is used.`,
		Example: `  secr run -- npm start
  secr run --env production -- node dist/server.js
  secr run --command 'npm run migrate && npm start'
  SECR_TOKEN=secr_st_... secr run -- ./deploy.sh`,
		RunE: func(c *cobra.Command, args []string) error { return o.run(c, args) },
	}
	c.Flags().SetInterspersed(false)
	o.f.addEnv(c)
	c.Flags().StringVarP(&o.command, "command", "c", "", "run this command line with 'sh -c' instead of COMMAND ARGS")
	return c
}

func (o *runOptions) run(c *cobra.Command, args []string) error {
	d := o.d
	// secr lives for a few milliseconds before exec: garbage collection
	// would only cost time. The memory limit still bounds a huge environment.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(128 << 20)
	// Check the command first: a typo should not cost a network round trip.
	cmd, err := runner.Resolve(args, o.command, nil, d.LookPath)
	if err != nil {
		return err
	}
	t, err := d.resolveTarget(c, &o.f)
	if err != nil {
		return err
	}
	s, err := d.authenticate(t)
	if err != nil {
		return err
	}
	st, err := s.load(c.Context(), t)
	if err != nil {
		return err
	}
	values := st.doc.Values()
	cmd.Env = runner.MergeEnv(d.Environ(), values, "SECR_TOKEN")
	noun := "secrets"
	if len(values) == 1 {
		noun = "secret"
	}
	fmt.Fprintf(d.IO.ErrOut, "secr: Loaded %d %s from %s/%s/%s (revision %d)\n",
		len(values), noun, st.snap.Org, st.snap.Project, st.snap.Environment.Name, st.rev)
	return d.Exec(cmd)
}
