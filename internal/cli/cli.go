// Package cli implements the secr command line. Each command group has its
// own file with an options struct, a constructor that builds the cobra
// command, and a plain function that does the work, so tests can call the
// work directly with injected streams.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/runner"
	"github.com/secr-dev/secr/internal/session"
)

// Deps is everything a command needs from the outside world.
type Deps struct {
	IO       *IOStreams
	Getenv   func(string) string
	Environ  func() []string
	Getwd    func() (string, error)
	LookPath func(string) (string, error)
	// Exec replaces the process with the command (runner.Exec in production).
	Exec func(*runner.Command) error
	// Getpid is os.Getpid: as PID 1, secr run supervises instead of exec.
	Getpid func() int

	insecure bool   // --insecure
	command  string // the command path being run, for the audit log
	// Server builds the `secr server` command. Only the secr-server
	// program injects it (internal/serve.Main); in secr, where it is nil,
	// `secr server` starts secr-server (server.go), so that the CLI does
	// not link the server and its database drivers.
	Server func() *cobra.Command
}

// SystemDeps returns Deps wired to the real process.
func SystemDeps() *Deps {
	return &Deps{
		IO:       SystemIO(),
		Getenv:   os.Getenv,
		Environ:  os.Environ,
		Getwd:    os.Getwd,
		LookPath: exec.LookPath,
		Exec:     runner.Exec,
		Getpid:   os.Getpid,
	}
}

// Run parses args and runs the command.
func Run(ctx context.Context, args []string, d *Deps) error {
	root := newRoot(d, args)
	if c, _, err := root.Find(args); err == nil && c != root {
		d.command = strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
	}
	root.SetArgs(args)
	root.SetIn(d.IO.In)
	root.SetOut(d.IO.Out)
	root.SetErr(d.IO.ErrOut)
	return root.ExecuteContext(ctx)
}

// commands are the top-level commands, by name.
var commands = []struct {
	name  string
	build func(*Deps) *cobra.Command
}{
	{"server", newServerCmd},
	{"signup", newSignupCmd}, {"login", newLoginCmd}, {"logout", newLogoutCmd}, {"whoami", newWhoAmICmd},
	{"passwd", newPasswdCmd}, {"recover", newRecoverCmd},
	{"orgs", newOrgsCmd}, {"projects", newProjectsCmd}, {"envs", newEnvsCmd},
	{"init", newInitCmd},
	{"secrets", newSecretsCmd},
	{"run", newRunCmd},
	{"tokens", newTokensCmd},
	{"members", newMembersCmd}, {"invites", newInvitesCmd}, {"access", newAccessCmd},
	{"audit", newAuditCmd},
	{"scan", newScanCmd},
	{"version", newVersionCmd},
}

// newRoot builds the tree for args. When args start with a command name it
// builds only that command: `secr run` is on the path of every program
// start, and building the other two dozen commands and their flags costs it
// about a tenth of a millisecond. Help and completion get the whole tree.
func newRoot(d *Deps, args []string) *cobra.Command {
	if len(args) > 0 {
		for _, c := range commands {
			if c.name == args[0] {
				root := newRootOnly(d)
				root.AddCommand(c.build(d))
				return root
			}
		}
	}
	root := NewRootCmd(d)
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		addCompletions(root, d)
	}
	return root
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(d *Deps) *cobra.Command {
	root := newRootOnly(d)
	for _, c := range commands {
		root.AddCommand(c.build(d))
	}
	return root
}

// newRootOnly is the root command with its flags and no subcommands.
func newRootOnly(d *Deps) *cobra.Command {
	root := &cobra.Command{
		Use:   "secr",
		Short: "End-to-end encrypted secrets for your programs, instead of .env files",
		Long: `secr keeps secrets encrypted on a secr server and injects them into your
program's environment at start:

  secr run -- npm start

Values are encrypted and decrypted on this machine; the server never sees a
plaintext secret, a secret's name, or a key that can open one.

Start here:
  secr server                      run a server (embedded SQLite, 127.0.0.1:7700)
  secr signup --email you@x.com    create an account
  secr orgs create acme && secr projects create web --org acme
  secr init --org acme --project web
  secr secrets set API_KEY         store a secret (asks for the value without echo)
  secr run -- ./app                run ./app with the secrets in its environment
  secr scan                        find plaintext copies of your secrets and .env files
  secr members invite bob@x.com --role developer --env development
                                   share with a teammate (docs/teams.md)

Environment: SECR_API_URL (server), SECR_TOKEN or SECR_TOKEN_FILE (service
token for CI), SECR_ENV (environment), SECR_CREDENTIALS (keyring, file or
auto), SECR_INSECURE=1 (allow http:// off loopback). Flags win over
environment variables, which win over .secr.json, which wins over stored
login defaults.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.PersistentFlags().String("api", "", "secr server URL (default $SECR_API_URL, then .secr.json, then http://127.0.0.1:7700)")
	root.PersistentFlags().BoolVar(&d.insecure, "insecure", false, "allow an http:// server URL that is not loopback: trusted networks only, tokens travel in clear (also SECR_INSECURE=1)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see '%s --help')", err, c.CommandPath())
	})
	return root
}

// Exit codes. Documented in docs/cli.md.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitAuth        = 3
	ExitNoAccess    = 4
	ExitUnreachable = 5
	ExitIntegrity   = 6
	ExitNotFound    = 127
)

// usageError is a command line that cannot work: a bad flag value, a
// missing argument. Report exits with ExitUsage for any error that has an
// IsUsage method (this one, the session library's and the server
// command's).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) IsUsage() bool { return true }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// Report prints err the way users see it and returns the exit code.
func Report(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var exitErr *runner.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.Code
	}
	msg := err.Error()
	fmt.Fprintf(stderr, "secr: error: %s\n", msg)
	if hint := session.Hint(err); hint != "" {
		fmt.Fprintf(stderr, "secr: hint: %s\n", hint)
	}
	var usage interface{ IsUsage() bool }
	var unreachable *client.UnreachableError
	var insecure *client.InsecureURLError
	switch {
	case errors.As(err, &usage) || errors.As(err, &insecure) || strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.Contains(msg, "accepts ") || strings.Contains(msg, "requires at least"):
		return ExitUsage
	case errors.Is(err, session.ErrIntegrity):
		return ExitIntegrity
	case errors.As(err, &unreachable):
		return ExitUnreachable
	case errors.Is(err, client.ErrUnauthorized) || errors.Is(err, session.ErrNotLoggedIn) || errors.Is(err, session.ErrInvalidToken):
		return ExitAuth
	case errors.Is(err, client.ErrForbidden) || errors.Is(err, client.ErrNotFound) || errors.Is(err, session.ErrReadOnly):
		return ExitNoAccess
	case errors.Is(err, runner.ErrNotFound):
		return ExitNotFound
	}
	return ExitError
}

// withHint adds a "what to do next" line to an error.
func withHint(err error, format string, args ...any) error {
	return session.WithHint(err, format, args...)
}

// sessionOptions connects the session library to this command's
// environment and streams.
func (d *Deps) sessionOptions() session.Options {
	return session.Options{Getenv: d.Getenv, Warnf: d.IO.Warnf, Infof: d.IO.Infof, Insecure: d.insecure,
		Version: buildVersion(), Command: d.command}
}
