//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package cli

import (
	"errors"
	"os"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

func echoes(t *testing.T, fd int) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// openTerminal opens a pseudo-terminal: the side a person types into, and
// the descriptor of the side secr reads.
func openTerminal(t *testing.T) (*os.File, int) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() {
		ptmx.Close()
		tty.Close()
	})
	return ptmx, int(tty.Fd())
}

// TestHiddenInput reads a line with echo off on a real pseudo-terminal and
// puts echo back after it.
func TestHiddenInput(t *testing.T) {
	ptmx, fd := openTerminal(t)
	if !echoes(t, fd) {
		t.Fatal("a new terminal should echo")
	}
	h, err := newHiddenInput(fd)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.hide(); err != nil {
		t.Fatal(err)
	}
	if echoes(t, fd) {
		t.Fatal("echo still on after hide")
	}
	if _, err := ptmx.Write([]byte("pass\bsword\r\nnext\n")); err != nil {
		t.Fatal(err)
	}
	line, err := readLine(fd)
	if err != nil || string(line) != "password" {
		t.Fatalf("readLine = %q, %v; want \"password\"", line, err)
	}
	h.restore()
	if !echoes(t, fd) {
		t.Fatal("echo off after restore")
	}
}

// TestHiddenInputEndedFirst: a signal whose handler restored the terminal
// before the prompt turned echo off must leave echo on (Ctrl-C right after
// "Password:" appeared used to leave the user's shell without echo).
func TestHiddenInputEndedFirst(t *testing.T) {
	_, fd := openTerminal(t)
	h, err := newHiddenInput(fd)
	if err != nil {
		t.Fatal(err)
	}
	h.end()
	if err := h.hide(); !errors.Is(err, errInterrupted) {
		t.Fatalf("hide after end = %v, want errInterrupted", err)
	}
	if !echoes(t, fd) {
		t.Fatal("hide after end turned echo off")
	}
}
