//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// readPassword reads a line from the terminal fd without echo. If a signal
// ends secr while it waits (Ctrl-C, or the calling script being killed),
// it restores the terminal first and then dies of that signal, as the
// caller expects: term.ReadPassword alone would leave echo off in the
// user's shell.
func readPassword(fd int) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return term.ReadPassword(fd)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	go func() {
		select {
		case sig := <-sigs:
			_ = term.Restore(fd, state)
			os.Stderr.WriteString("\n")
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
		}
	}()
	return term.ReadPassword(fd)
}
