package runner

import (
	"io"
	"syscall"
	"time"
)

// SpawnOptions configure Supervise: the path for options that need secr to
// stay alive as the child's parent (masking, watching).
type SpawnOptions struct {
	// KillTimeout is how long a child gets after SIGTERM before SIGKILL.
	KillTimeout time.Duration
	// Stdout and Stderr, when set, receive the child's output (masking);
	// when nil the child writes to secr's own streams directly.
	Stdout, Stderr io.Writer
	// PTY runs the child on a new pseudo-terminal whose output goes to
	// Stdout, so colours and line editing survive filtering. Use it only
	// when secr's stdout is a terminal.
	PTY bool
	// Flush is called after the child's output has been copied, before
	// Supervise returns or restarts the child (to flush maskers).
	Flush func()
}

// Change asks Supervise to restart the child with Cmd (SIGTERM, the kill
// timeout, SIGKILL, start), or, with Signal set, to send it that signal.
type Change struct {
	Cmd    *Command
	Signal syscall.Signal
}

// exitCode is the child's exit status, or 128+N when signal N killed it.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
