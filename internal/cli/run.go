package cli

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/secr-dev/secr/internal/runner"
	"github.com/secr-dev/secr/internal/session"
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
	maxAge        time.Duration
	watch         bool
	onChange      string
	mount         string
	mountFormat   string
	mountMaxReads int
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
need secr to stay as the parent (--mask, --watch, --mount), and running as
PID 1 (a container's entrypoint), start COMMAND as a child instead: secr
forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
SIGUSR2 and SIGWINCH (to COMMAND's whole process group when there is no
terminal), exits with COMMAND's status (128+N if signal N killed it), on
SIGTERM gives COMMAND --kill-timeout before SIGKILL, and as PID 1 reaps
orphaned processes.

The response from the server is cached on disk still encrypted: when the
server is unreachable a cache younger than --max-stale is used with a
warning, and --offline uses only the cache. Each run asks the server whether
its copy is still the latest; --max-age (or SECR_MAX_AGE) lets runs use a
copy the server confirmed that recently without asking: faster (no round
trip), but a change made elsewhere shows only after up to that long, and the
server's audit log has no entry for those runs. See docs/run.md.

With SECR_TOKEN set (a service token) no login or .secr.json is needed: the
token's own environment is used.`,
		Example: `  secr run -- npm start
  secr run --env production -- node dist/server.js
  secr run --command 'npm run migrate && npm start'
  secr run --mask -- ./ci-tests.sh           # secret values in output become [secr:NAME]
  secr run --only DATABASE_URL -- psql
  secr run --max-age 30s -- make test        # many runs in a row: ask the server at most every 30s
  secr run --watch -- node server.js         # restart when the secrets change
  secr run --watch --mount .env.live --on-change signal:SIGHUP -- ./app
  SECR_TOKEN=secr_st_... secr run -- ./deploy.sh`,
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			if v := d.Getenv("SECR_MAX_AGE"); v != "" && !c.Flags().Changed("max-age") {
				age, err := time.ParseDuration(v)
				if err != nil {
					return usageErrorf("SECR_MAX_AGE=%q is not a duration (like 30s or 5m)", v)
				}
				o.maxAge = age
			}
			return runRun(c.Context(), o, args)
		},
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
	fl.DurationVar(&o.maxAge, "max-age", 0, "use the cached copy without asking the server if the server confirmed it at most this long ago (0: always ask; default $SECR_MAX_AGE)")
	fl.BoolVar(&o.watch, "watch", false, "follow changes (pushed by the server) and restart COMMAND with the new secrets")
	fl.StringVar(&o.onChange, "on-change", "restart", "with --watch: restart, or signal:SIGHUP (any signal) to keep COMMAND and let it re-read --mount")
	fl.StringVar(&o.mount, "mount", "", "also serve the secrets through a named pipe (mode 0600) at this path; removed when secr exits")
	fl.StringVar(&o.mountFormat, "format", "dotenv", "format of --mount: dotenv or json")
	fl.IntVar(&o.mountMaxReads, "mount-max-reads", 0, "remove the --mount pipe after this many reads (0: unlimited)")
	return c
}

func (o *runOptions) envOptions() runner.EnvOptions {
	eo := runner.EnvOptions{Only: o.only, Pristine: o.pristine, AllowReserved: o.allowReserved, Drop: []string{"SECR_TOKEN", "SECR_TOKEN_FILE"}}
	switch o.preserveEnv {
	case "":
	case "*":
		eo.PreserveAll = true
	default:
		eo.Preserve = strings.Split(o.preserveEnv, ",")
	}
	return eo
}

func runRun(ctx context.Context, o *runOptions, args []string) error {
	d := o.d
	// secr lives for a few milliseconds before exec: garbage collection
	// would only cost time. The memory limit still bounds a huge environment.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(128 << 20)
	onChangeSignal, err := o.validate()
	if err != nil {
		return err
	}
	// Check the command first: a typo should not cost a network round trip.
	switch {
	case o.command != "" && len(args) > 0:
		return usageErrorf("give either --command or a command after --, not both")
	case o.command == "" && len(args) == 0:
		return usageErrorf("no command to run: use 'secr run -- COMMAND [ARGS...]'")
	}
	cmd, err := runner.Resolve(args, o.command, d.LookPath)
	if err != nil {
		return err
	}
	s, t, err := d.authenticate(&o.f)
	if err != nil {
		return err
	}
	s.UseCache(session.CachePolicy{Offline: o.offline, MaxStale: o.maxStale})
	env, err := s.LoadWithin(ctx, t, o.maxAge)
	if err == nil && env.Pending() {
		// Someone was granted an environment whose key this user holds:
		// wrapping it costs a request, so only when the server says so
		// (never on a --max-age run that did not ask: Env.Pending).
		d.syncQuietly(ctx, s, env.Org)
	}
	if err != nil {
		return err
	}
	var applied int
	if cmd.Env, applied, err = runner.BuildEnv(d.Environ(), env.Secrets(), o.envOptions(), d.IO.Warnf); err != nil {
		return err
	}
	if err := runner.CheckSize(cmd, applied); err != nil {
		return withHint(fmt.Errorf("cannot start %s: %w", cmd.Args[0], err), "use --only to pass fewer secrets, or keep large values out of the environment")
	}
	from := ""
	if env.Unasked {
		// Say that the server was not asked, and how old its word is.
		age := env.ConfirmedAgo.Round(time.Millisecond)
		if age >= time.Minute {
			age = age.Round(time.Second)
		}
		from = fmt.Sprintf(", confirmed by the server %s ago; within --max-age %s, not asked again", age, o.maxAge)
	}
	fmt.Fprintf(d.IO.ErrOut, "secr: Loaded %s from %s/%s/%s (revision %d%s)\n",
		plural(applied, "secret"), env.Org, env.Project, env.Name, env.Revision, from)
	// As PID 1 (a container's entrypoint) secr must stay to forward
	// signals and reap orphans: the program would otherwise become PID 1,
	// which ignores SIGTERM unless it installs a handler.
	if !o.mask && !o.watch && o.mount == "" && d.Getpid() != 1 {
		return d.Exec(cmd)
	}
	return o.supervise(ctx, s, t, cmd, env, onChangeSignal)
}

// validate checks flag combinations and returns the --on-change signal (0
// for restart).
func (o *runOptions) validate() (syscall.Signal, error) {
	if o.maxAge < 0 {
		return 0, usageErrorf("--max-age (or SECR_MAX_AGE) must not be negative")
	}
	if o.mountFormat != "dotenv" && o.mountFormat != "json" {
		return 0, usageErrorf("--format must be dotenv or json, not %q", o.mountFormat)
	}
	if o.onChange == "restart" {
		return 0, nil
	}
	name, ok := strings.CutPrefix(o.onChange, "signal:")
	if !ok {
		return 0, usageErrorf("--on-change must be restart or signal:NAME (e.g. signal:SIGHUP), not %q", o.onChange)
	}
	if !o.watch || o.mount == "" {
		// A running process's environment cannot change: only a file it
		// re-reads can give it the new values.
		return 0, usageErrorf("--on-change %s needs --watch and --mount: a signal cannot change a running program's environment, so it must re-read the secrets from the --mount file", o.onChange)
	}
	sig, err := runner.ParseSignal(name)
	if err != nil {
		return 0, usageErrorf("--on-change: %v", err)
	}
	return sig, nil
}

func (o *runOptions) mountContent(env *session.Env) []byte {
	return exportFormats[o.mountFormat](env.Values())
}

// supervise runs cmd as a child: for masking, watching or a mount.
func (o *runOptions) supervise(ctx context.Context, s *session.Session, t session.Target, cmd *runner.Command, env *session.Env, onChange syscall.Signal) error {
	d := o.d
	// Restore normal GC: a supervising secr may live for days.
	debug.SetGCPercent(100)
	so := runner.SpawnOptions{KillTimeout: o.killTimeout}
	var masks []*runner.Masker
	if o.mask {
		outMask := runner.NewMasker(d.IO.Out, env.Masked())
		errMask := runner.NewMasker(d.IO.ErrOut, env.Masked())
		masks = []*runner.Masker{outMask, errMask}
		so.Stdout, so.Stderr = outMask, errMask
		so.PTY = d.IO.IsStdoutTTY() && term.IsTerminal(int(os.Stdout.Fd()))
		d.IO.SetRawTerminal(so.PTY && d.IO.IsStdinTTY())
		so.Flush = func() { outMask.Flush(); errMask.Flush() }
	}
	var mount *runner.Mount
	if o.mount != "" {
		var err error
		if mount, err = runner.StartMount(o.mount, o.mountContent(env), o.mountMaxReads); err != nil {
			return err
		}
		defer mount.Close()
	}
	var changes chan runner.Change
	if o.watch {
		changes = make(chan runner.Change, 1)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// The watcher keeps its own view; the child's environment is
		// rebuilt from the inherited one each time.
		go s.Watch(ctx, t, env.Revision, func(next *session.Env) {
			childEnv, applied, err := runner.BuildEnv(d.Environ(), next.Secrets(), o.envOptions(), d.IO.Warnf)
			if err == nil {
				restartedCmd := *cmd
				restartedCmd.Env = childEnv
				err = runner.CheckSize(&restartedCmd, applied)
			}
			if err != nil {
				d.IO.Warnf("secrets changed (revision %d) but cannot be applied, keeping the current ones: %v", next.Revision, err)
				return
			}
			for _, m := range masks {
				m.SetValues(next.Masked())
			}
			if mount != nil {
				mount.Update(o.mountContent(next))
			}
			change := runner.Change{Signal: onChange}
			if onChange != 0 {
				d.IO.Infof("secr: secrets changed (revision %d), sending %s", next.Revision, strings.TrimPrefix(o.onChange, "signal:"))
			} else {
				restarted := *cmd
				restarted.Env = childEnv
				change.Cmd = &restarted
				d.IO.Infof("secr: secrets changed (revision %d), restarting", next.Revision)
			}
			select {
			case changes <- change:
			case <-ctx.Done():
			}
		})
	}
	code, err := runner.Supervise(cmd, so, changes)
	if err != nil {
		return err
	}
	return &runner.ExitError{Code: code}
}
