package runner

import (
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

	mu         sync.Mutex
	content    []byte
	closed     bool
	generation int // names the next replacement pipe
	done       chan struct{}
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
		// Opening for writing blocks until a reader opens the pipe.
		f, err := os.OpenFile(m.path, os.O_WRONLY, 0)
		m.mu.Lock()
		closed, content := m.closed, m.content
		if err == nil && !closed {
			// Later readers get a fresh pipe at the same path, so this
			// reader alone holds the one it opened: it reads the content
			// once and then end of file, however slowly it reads. (Writing
			// again into its pipe would hand it the content many times.)
			err = m.replacePipe()
		}
		m.mu.Unlock()
		if err != nil || closed {
			if f != nil {
				f.Close()
			}
			if !closed {
				m.Close()
			}
			return
		}
		_, _ = f.Write(content)
		f.Close()
	}
	m.Close()
}

// replacePipe puts a new FIFO at m.path. The caller holds m.mu.
func (m *Mount) replacePipe() error {
	next := fmt.Sprintf("%s.%d.tmp", m.path, m.generation)
	m.generation++
	if err := mkfifo(next); err != nil {
		return fmt.Errorf("create named pipe %s: %w", next, err)
	}
	if err := os.Rename(next, m.path); err != nil {
		os.Remove(next)
		return err
	}
	return nil
}

// Close removes the pipe and stops serving.
func (m *Mount) Close() {
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
	if err == nil {
		r.Close()
	}
}
