//go:build unix

package runner

import (
	"fmt"
	"syscall"
)

// Exec replaces the current process with c. It returns only on failure.
func Exec(c *Command) error {
	if err := syscall.Exec(c.Path, c.Args, c.Env); err != nil {
		return fmt.Errorf("exec %s: %w", c.Path, err)
	}
	return nil
}
