//go:build unix

package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"
)

// forwarded are the signals secr passes on. Never SIGURG (the Go runtime
// uses it), SIGCHLD or SIGPIPE.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

type mode int

const (
	// groupMode (no terminal): the child leads its own process group and
	// signals go to the whole group, so grandchildren get them too.
	groupMode mode = iota
	// foregroundMode (stdin is a terminal): the child stays in secr's
	// foreground process group, so the terminal's Ctrl-C reaches it once,
	// directly; secr does not forward terminal-generated signals.
	foregroundMode
	// ptyMode: the child runs on its own pseudo-terminal, in its own
	// session; secr copies keystrokes in and output out.
	ptyMode
)

type child struct {
	cmd     *exec.Cmd
	pid     int
	group   bool // signal -pid
	ptmx    *os.File
	copying chan struct{} // closed when output copying ends
}

func (c *child) signal(sig syscall.Signal) {
	if c.group {
		if err := syscall.Kill(-c.pid, sig); err == nil {
			return
		}
	}
	_ = syscall.Kill(c.pid, sig)
}

// Supervise starts cmd and stays its parent until it exits: it forwards
// signals, applies changes, reaps orphans (as PID 1 in a container) and
// returns the child's exit status, or 128+N if signal N killed it.
func Supervise(cmd *Command, o SpawnOptions, changes <-chan Change) (int, error) {
	if o.KillTimeout <= 0 {
		o.KillTimeout = 10 * time.Second
	}
	m := groupMode
	switch {
	case o.PTY:
		m = ptyMode
	case term.IsTerminal(int(os.Stdin.Fd())):
		m = foregroundMode
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	// SIGCHLD before the first start, so no exit is missed.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	defer signal.Stop(chld)

	if m == ptyMode && term.IsTerminal(int(os.Stdin.Fd())) {
		// Keystrokes, Ctrl-C included, go to the child's terminal as bytes.
		if state, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
			defer term.Restore(int(os.Stdin.Fd()), state)
		}
	}

	kb := &keyboard{}
	c, err := start(cmd, o, m, kb)
	if err != nil {
		return 0, err
	}
	var kill <-chan time.Time
	var next *Command
	terminating := false
	for {
		select {
		case s := <-sigs:
			sig := s.(syscall.Signal)
			switch {
			case m == foregroundMode && (sig == syscall.SIGINT || sig == syscall.SIGQUIT || sig == syscall.SIGWINCH):
				continue // the terminal already sent it to the child
			case m == ptyMode && sig == syscall.SIGWINCH:
				_ = pty.InheritSize(os.Stdin, c.ptmx)
				continue
			}
			c.signal(sig)
			if sig == syscall.SIGTERM && !terminating {
				terminating, kill = true, time.After(o.KillTimeout)
			}
		case <-kill:
			c.signal(syscall.SIGKILL)
			kill = nil
		case ch := <-changes:
			if terminating {
				continue
			}
			if ch.Signal != 0 {
				c.signal(ch.Signal)
				continue
			}
			if next == nil {
				c.signal(syscall.SIGTERM)
				kill = time.After(o.KillTimeout)
			}
			next = ch.Cmd
		case <-chld:
			status, exited := reap(c.pid)
			if !exited {
				continue
			}
			finish(c, o)
			if next == nil || terminating {
				return status, nil
			}
			if c, err = start(next, o, m, kb); err != nil {
				return 0, err
			}
			next, kill = nil, nil
		}
	}
}

// reap collects every exited child: the one we run, and, as PID 1, any
// orphan the kernel hands us. It reports the status of pid if it exited.
func reap(pid int) (status int, exited bool) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if got <= 0 || err != nil {
			return status, exited
		}
		if got == pid && (ws.Exited() || ws.Signaled()) {
			status, exited = exitCode(ws), true
		}
	}
}

// finish waits (briefly: a grandchild may hold the output open) for the
// child's output to be copied, then flushes.
func finish(c *child, o SpawnOptions) {
	if c.copying != nil {
		select {
		case <-c.copying:
		case <-time.After(500 * time.Millisecond):
		}
	}
	if c.ptmx != nil {
		c.ptmx.Close()
	}
	if o.Flush != nil {
		o.Flush()
	}
}

// keyboard copies secr's stdin to the current child's pseudo-terminal.
// One reader for the whole supervision, so that a restarted child does
// not compete with a stale copier for keystrokes.
type keyboard struct {
	mu      sync.Mutex
	current *os.File
	once    sync.Once
}

func (k *keyboard) attach(ptmx *os.File) {
	k.mu.Lock()
	k.current = ptmx
	k.mu.Unlock()
	k.once.Do(func() {
		go func() {
			buf := make([]byte, 1024)
			for {
				n, err := os.Stdin.Read(buf)
				k.mu.Lock()
				if n > 0 && k.current != nil {
					_, _ = k.current.Write(buf[:n])
				}
				k.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	})
}

func start(cmd *Command, o SpawnOptions, m mode, kb *keyboard) (*child, error) {
	ec := exec.Command(cmd.Path)
	ec.Args, ec.Env = cmd.Args, cmd.Env
	c := &child{cmd: ec}
	switch m {
	case ptyMode:
		ptmx, err := pty.StartWithAttrs(ec, nil, &syscall.SysProcAttr{Setsid: true, Setctty: true})
		if err != nil {
			return nil, fmt.Errorf("start %s on a pseudo-terminal: %w", cmd.Path, err)
		}
		_ = pty.InheritSize(os.Stdin, ptmx)
		c.ptmx, c.pid, c.group = ptmx, ec.Process.Pid, true
		kb.attach(ptmx)
		c.copying = make(chan struct{})
		go func() {
			defer close(c.copying)
			_, _ = io.Copy(o.Stdout, ptmx) // ends with EIO when the child's side closes
		}()
		return c, nil
	case groupMode:
		ec.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		c.group = true
	}
	ec.Stdin = os.Stdin
	var closeAfterStart []*os.File
	var copies []func()
	// output returns what the child writes to: secr's own stream, or a
	// pipe whose reading end is copied to w.
	output := func(w io.Writer, own *os.File) (*os.File, error) {
		if w == nil {
			return own, nil
		}
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		closeAfterStart = append(closeAfterStart, pw)
		copies = append(copies, func() { _, _ = io.Copy(w, r); r.Close() })
		return pw, nil
	}
	var err error
	if ec.Stdout, err = output(o.Stdout, os.Stdout); err != nil {
		return nil, err
	}
	if ec.Stderr, err = output(o.Stderr, os.Stderr); err != nil {
		return nil, err
	}
	err = ec.Start()
	for _, f := range closeAfterStart {
		f.Close()
	}
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c.pid = ec.Process.Pid
	if len(copies) > 0 {
		c.copying = make(chan struct{})
		done := make(chan struct{}, len(copies))
		for _, cp := range copies {
			go func() { cp(); done <- struct{}{} }()
		}
		go func() {
			for range copies {
				<-done
			}
			close(c.copying)
		}()
	}
	return c, nil
}
