//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// readPassword reads a line from the terminal fd without echo. If a signal
// ends secr while it waits (Ctrl-C, or the calling script being killed),
// it restores the terminal first and then dies of that signal, as the
// caller expects.
//
// Echo is turned off here, not by term.ReadPassword, so that it happens
// under the lock the signal handler restores under: a Ctrl-C that came
// after the handler was installed but before ReadPassword's own change
// restored the terminal first, ReadPassword then turned echo off, and the
// user's shell was left without it.
func readPassword(fd int) ([]byte, error) {
	t, err := newHiddenInput(fd)
	if err != nil {
		return nil, err
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
			t.end()
			os.Stderr.WriteString("\n")
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
		}
	}()
	if err := t.hide(); err != nil {
		return nil, err
	}
	defer t.restore()
	return readLine(fd)
}

// hiddenInput turns a terminal's echo off and back on, and once end has
// restored it (a signal is about to end the process), never off again.
type hiddenInput struct {
	fd    int
	saved unix.Termios
	mu    sync.Mutex
	ended bool
}

var errInterrupted = errors.New("interrupted")

func newHiddenInput(fd int) (*hiddenInput, error) {
	saved, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, fmt.Errorf("not a terminal: %w", err)
	}
	return &hiddenInput{fd: fd, saved: *saved}, nil
}

// hide turns echo off, keeping line editing and signals (as
// term.ReadPassword does), unless end came first.
func (t *hiddenInput) hide() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return errInterrupted
	}
	hidden := t.saved
	hidden.Lflag &^= unix.ECHO
	hidden.Lflag |= unix.ICANON | unix.ISIG
	hidden.Iflag |= unix.ICRNL
	return unix.IoctlSetTermios(t.fd, ioctlSetTermios, &hidden)
}

// restore puts the terminal back as it was.
func (t *hiddenInput) restore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	_ = unix.IoctlSetTermios(t.fd, ioctlSetTermios, &t.saved)
}

// end restores the terminal for good: a hide that has not happened yet
// will not.
func (t *hiddenInput) end() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ended = true
	_ = unix.IoctlSetTermios(t.fd, ioctlSetTermios, &t.saved)
}

// readLine reads up to a newline, one byte at a time so that nothing after
// it is consumed from the terminal.
func readLine(fd int) ([]byte, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := unix.Read(fd, b[:])
		if err == unix.EINTR {
			continue
		}
		if n == 1 {
			switch b[0] {
			case '\n':
				return line, nil
			case '\r':
			case '\b':
				if len(line) > 0 {
					line = line[:len(line)-1]
				}
			default:
				line = append(line, b[0])
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			return nil, io.EOF
		}
		return line, nil
	}
}
