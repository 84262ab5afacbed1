package runner

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Mount serves the secrets through a named pipe (FIFO) at a path, for
// programs that read configuration from a file: each open-and-read gets the
// current contents, which never touch the disk. Close removes the pipe.
type Mount struct {
	path     string
	maxReads int

	mu      sync.Mutex
	content []byte
	closed  bool
	next    string // the pipe prepared for the next reader, if any
	done    chan struct{}
}

// ErrMountExists means the mount path is already taken.
var ErrMountExists = errors.New("mount path already exists")

// StartMount creates the FIFO (mode 0600) at path and serves content to
// each reader; after maxReads reads (0: unlimited) it removes the pipe.
func StartMount(path string, content []byte, maxReads int) (*Mount, error) {
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%w: %s: secr will not replace it; choose another --mount path", ErrMountExists, path)
	}
	if err := mkfifo(path); err != nil {
		return nil, fmt.Errorf("create named pipe %s: %w", path, err)
	}
	m := &Mount{path: path, maxReads: maxReads, content: content, done: make(chan struct{})}
	go m.serve()
	return m, nil
}

// Update replaces what later readers get.
func (m *Mount) Update(content []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.content = content
}

func (m *Mount) serve() {
	defer close(m.done)
	for reads := 0; m.maxReads == 0 || reads < m.maxReads; reads++ {
		// The next reader's pipe exists before this one is served, so that
		// handing it over is one rename: readers that open the path at the
		// same instant are the only ones who can share a pipe (and split
		// its content). It is made under the lock, so shutdown knows it.
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return
		}
		next, err := m.nextPipe()
		m.next = next
		m.mu.Unlock()
		if err != nil {
			m.shutdown()
			return
		}
		// Opening for writing blocks until a reader opens the pipe. It
		// never follows a symbolic link put at the path, and the opened
		// file must be a pipe.
		f, err := os.OpenFile(m.path, os.O_WRONLY|noFollow, 0)
		if err == nil {
			if st, serr := f.Stat(); serr != nil || st.Mode()&os.ModeNamedPipe == 0 {
				f.Close()
				f, err = nil, fmt.Errorf("%s is no longer secr's named pipe", m.path)
			}
		}
		m.mu.Lock()
		closed, content := m.closed, m.content
		if err == nil && !closed {
			// Later readers get the fresh pipe at the same path, so this
			// reader alone holds the one it opened: it reads the content
			// once and then end of file, however slowly it reads. (Writing
			// again into its pipe would hand it the content many times.)
			err = os.Rename(next, m.path)
		}
		m.mu.Unlock()
		if err != nil || closed {
			os.Remove(next)
			if f != nil {
				f.Close()
			}
			if !closed {
				m.shutdown()
			}
			return
		}
		_, _ = f.Write(content)
		f.Close()
	}
	m.shutdown()
}

// nextPipe creates a FIFO under an unpredictable name beside m.path, for
// the next reader.
func (m *Mount) nextPipe() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	next := fmt.Sprintf("%s.%x.tmp", m.path, b)
	if err := mkfifo(next); err != nil {
		return "", fmt.Errorf("create named pipe %s: %w", next, err)
	}
	return next, nil
}

// Close removes the pipe and stops serving.
func (m *Mount) Close() { m.shutdown() }

// shutdown removes the pipe (and the one prepared for the next reader)
// and stops serving. It does not wait for a reader still reading.
func (m *Mount) shutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	// A serving goroutine may be blocked opening the pipe for writing;
	// opening the read end lets that open return, and it sees closed.
	r, err := openReadNonblock(m.path)
	os.Remove(m.path)
	if m.next != "" {
		os.Remove(m.next)
	}
	if err == nil {
		r.Close()
	}
}
