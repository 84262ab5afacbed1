// Package runner starts the user's program with secrets in its
// environment. On Unix it replaces secr with the program (execve), so the
// secrets live only in the child, and signals and exit codes are the
// child's own.
package runner

import (
	"errors"
	"fmt"
	"os/exec"
)

// Command is a program ready to start.
type Command struct {
	Path string   // resolved executable
	Args []string // argv, including argv[0]
	Env  []string // KEY=value
}

// ErrNotFound means the program is not on PATH.
var ErrNotFound = errors.New("command not found")

// ExitError carries the exit code of a child that secr started and waited
// for (a supervised run, or any run on a platform without execve), for the
// caller to exit with.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("command exited with status %d", e.Code) }

// Resolve builds a Command from argv, or from a shell command line run
// with sh -c when shellCommand is set. lookPath finds executables. The
// caller sets Env once the secrets are known.
func Resolve(argv []string, shellCommand string, lookPath func(string) (string, error)) (*Command, error) {
	if shellCommand != "" {
		if len(argv) > 0 {
			return nil, errors.New("give either --command or a command after --, not both")
		}
		argv = []string{"sh", "-c", shellCommand}
	}
	if len(argv) == 0 {
		return nil, errors.New("no command to run: use 'secr run -- COMMAND [ARGS...]'")
	}
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	path, err := lookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not an executable on PATH", ErrNotFound, argv[0])
	}
	return &Command{Path: path, Args: argv}, nil
}
