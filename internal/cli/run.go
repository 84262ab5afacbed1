package cli

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/secr-dev/secr/internal/runner"
)

type runOptions struct {
	d             *Deps
	f             targetFlags
	command       string
	mask          bool
	killTimeout   time.Duration
	preserveEnv   string
	only          []string
	pristine      bool
	allowReserved bool
	offline       bool
	maxStale      time.Duration
}

func newRunCmd(d *Deps) *cobra.Command {
	o := &runOptions{d: d}
	c := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARGS...]",
		Short: "Run a program with the environment's secrets in its environment",
		Long: `Fetch the environment's latest revision and your key in one request, decrypt
them here, and start COMMAND with the secrets added to the inherited
environment (secrets win). No file is written. SECR_TOKEN is removed from
COMMAND's environment.

By default secr replaces itself with COMMAND (execve): the secrets live only
in COMMAND, and signals and the exit status are COMMAND's own. Options that
need secr to stay as the parent (--mask) start COMMAND as a child instead:
secr forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH,
exits with COMMAND's status (128+N if signal N killed it), and on SIGTERM
gives COMMAND --kill-timeout before SIGKILL. See docs/run.md.

With SECR_TOKEN set (a service token) no login or .secr.json is needed: the
token's own environment is used.`,
		Example: `  secr run -- npm start
  secr run --env production -- node dist/server.js
  secr run --command 'npm run migrate && npm start'
  secr run --mask -- ./ci-tests.sh           # secret values in output become [secr:NAME]
  secr run --only DATABASE_URL -- psql
  SECR_TOKEN=secr_st_... secr run -- ./deploy.sh`,
		RunE: func(c *cobra.Command, args []string) error { return o.run(c, args) },
	}
	c.Flags().SetInterspersed(false)
	o.f.addEnv(c)
	fl := c.Flags()
	fl.StringVarP(&o.command, "command", "c", "", "run this command line with 'sh -c' instead of COMMAND ARGS")
	fl.BoolVar(&o.mask, "mask", false, "replace secret values in COMMAND's output with [secr:NAME] (values under 4 characters and --not-secret ones are left alone)")
	fl.DurationVar(&o.killTimeout, "kill-timeout", 10*time.Second, "after forwarding SIGTERM, how long before SIGKILL (with --mask)")
	fl.StringVar(&o.preserveEnv, "preserve-env", "", "keep inherited values over secrets: all with --preserve-env, or only --preserve-env=A,B")
	fl.Lookup("preserve-env").NoOptDefVal = "*"
	fl.StringSliceVar(&o.only, "only", nil, "inject only these secrets (comma-separated); a missing name is an error")
	fl.BoolVar(&o.pristine, "pristine", false, "start from an empty environment plus PATH, HOME, USER, LANG and TERM")
	fl.BoolVar(&o.allowReserved, "allow-reserved", false, "let secrets replace PATH, HOME, SHELL, USER and LD_* (skipped with a warning otherwise)")
	fl.BoolVar(&o.offline, "offline", false, "use only the secrets cached by the last successful run; ask no server")
	fl.DurationVar(&o.maxStale, "max-stale", 24*time.Hour, "when the server is unreachable, use a cache up to this old, with a warning (0: never)")
	return c
}

func (o *runOptions) envOptions() runner.EnvOptions {
	eo := runner.EnvOptions{Only: o.only, Pristine: o.pristine, AllowReserved: o.allowReserved, Drop: []string{"SECR_TOKEN"}}
	switch o.preserveEnv {
	case "":
	case "*":
		eo.PreserveAll = true
	default:
		eo.Preserve = strings.Split(o.preserveEnv, ",")
	}
	return eo
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
	s.useCache(o.offline, o.maxStale)
	st, err := s.load(c.Context(), t)
	if err != nil {
		return err
	}
	values := st.doc.Values()
	if cmd.Env, err = runner.BuildEnv(d.Environ(), values, o.envOptions(), d.IO.Warnf); err != nil {
		return err
	}
	noun := "secrets"
	if len(values) == 1 {
		noun = "secret"
	}
	fmt.Fprintf(d.IO.ErrOut, "secr: Loaded %d %s from %s/%s/%s (revision %d)\n",
		len(values), noun, st.snap.Org, st.snap.Project, st.snap.Environment.Name, st.rev)
	if !o.mask {
		return d.Exec(cmd)
	}
	return o.supervise(cmd, st)
}

// supervise runs cmd as a child with masked output.
func (o *runOptions) supervise(cmd *runner.Command, st *envState) error {
	d := o.d
	// Restore normal GC: a supervising secr may live for days.
	debug.SetGCPercent(100)
	masked := map[string]string{}
	for name, sec := range st.doc.Secrets {
		if !sec.NotSecret {
			masked[name] = sec.Value
		}
	}
	outMask := runner.NewMasker(d.IO.Out, masked)
	errMask := runner.NewMasker(d.IO.ErrOut, masked)
	so := runner.SpawnOptions{
		KillTimeout: o.killTimeout,
		Stdout:      outMask,
		Stderr:      errMask,
		PTY:         d.IO.IsStdoutTTY() && term.IsTerminal(int(os.Stdout.Fd())),
		Flush:       func() { outMask.Flush(); errMask.Flush() },
	}
	code, err := runner.Supervise(cmd, so, nil)
	if err != nil {
		return err
	}
	return &runner.ExitError{Code: code}
}
