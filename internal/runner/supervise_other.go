//go:build !unix

package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Supervise starts cmd and waits for it. Without Unix signals and process
// groups, it forwards nothing and applies no changes other than restarts.
func Supervise(cmd *Command, o SpawnOptions, changes <-chan Change) (int, error) {
	for {
		ec := exec.Command(cmd.Path, cmd.Args[1:]...)
		ec.Env = cmd.Env
		ec.Stdin, ec.Stdout, ec.Stderr = os.Stdin, os.Stdout, os.Stderr
		if o.Stdout != nil {
			ec.Stdout = o.Stdout
		}
		if o.Stderr != nil {
			ec.Stderr = o.Stderr
		}
		if err := ec.Start(); err != nil {
			return 0, fmt.Errorf("start %s: %w", cmd.Path, err)
		}
		done := make(chan error, 1)
		go func() { done <- ec.Wait() }()
		var next *Command
	wait:
		for {
			select {
			case err := <-done:
				if o.Flush != nil {
					o.Flush()
				}
				if next != nil {
					break wait
				}
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return ee.ExitCode(), nil
				}
				return 0, err
			case ch := <-changes:
				if ch.Cmd != nil {
					next = ch.Cmd
					_ = ec.Process.Kill()
				}
			}
		}
		cmd = next
	}
}
