//go:build !unix

package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Exec starts c, waits for it and returns *ExitError with its code: this
// platform cannot replace the running process.
func Exec(c *Command) error {
	cmd := exec.Command(c.Path, c.Args[1:]...)
	cmd.Env = c.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", c.Path, err)
	}
	return &ExitError{Code: 0}
}
