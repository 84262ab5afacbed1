// Package runner starts the user's program with secrets in its
// environment. On Unix it replaces secr with the program (execve), so the
// secrets live only in the child, and signals and exit codes are the
// child's own.
package runner

import (
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// Command is a program ready to start.
type Command struct {
	Path string   // resolved executable
	Args []string // argv, including argv[0]
	Env  []string // KEY=value
}

// ErrNotFound means the program is not on PATH.
var ErrNotFound = errors.New("command not found")

// ExitError carries the exit code of a spawned child, for the caller to
// exit with. It is only returned on platforms without execve.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("command exited with status %d", e.Code) }

// Resolve builds a Command from argv, or from a shell command line run
// with sh -c when shellCommand is set. lookPath finds executables.
func Resolve(argv []string, shellCommand string, env []string, lookPath func(string) (string, error)) (*Command, error) {
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
	return &Command{Path: path, Args: argv, Env: env}, nil
}

// MergeEnv returns base with secrets applied on top (secrets win) and the
// variables named in drop removed. The result is sorted for stable output.
func MergeEnv(base []string, secrets map[string]string, drop ...string) []string {
	m := make(map[string]string, len(base)+len(secrets))
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			m[k] = v
		}
	}
	for k, v := range secrets {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
