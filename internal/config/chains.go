package config

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Chains keeps, per server, the org chains this machine has verified
// (trust.State.Bytes), each with the sequence number of its head: the pin
// of TRUST.md §2. A pin only moves forward: Put keeps the longer of the
// stored and the new chain, so two secr processes racing cannot lower it.
// The files are state, not cache: deleting one re-opens trust on first use
// for that org.
type Chains struct {
	dir string
	mu  sync.Mutex
}

// ChainsAt returns the pinned-chain store in dirs.
func ChainsAt(d Dirs) *Chains { return &Chains{dir: filepath.Join(d.State, "chains")} }

func (c *Chains) path(server, key string) string {
	return filepath.Join(c.dir, hashName(server), hashName(key)+".chain")
}

// maxChainFile bounds what Get reads (a verified chain of a large org is a
// few hundred KiB).
const maxChainFile = 64 << 20

// Get returns the chain pinned under key on server, or nil when there is
// none.
func (c *Chains) Get(server, key string) ([]byte, error) {
	data, err := readLimited(c.path(server, key), maxChainFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(data) < 8 {
		return nil, fmt.Errorf("pinned org chain %s is corrupt", c.path(server, key))
	}
	return data[8:], nil
}

// Put pins state, a verified chain whose head is entry seq, under key on
// server, unless the stored one is already longer.
func (c *Chains) Put(server, key string, seq uint64, state []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	path := c.path(server, key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unlock()
	if old, err := readLimited(path, maxChainFile); err == nil && len(old) >= 8 && binary.BigEndian.Uint64(old) > seq {
		return nil
	}
	data := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(state)), seq)
	return WritePrivate(path, append(data, state...))
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	data := make([]byte, fi.Size())
	_, err = io.ReadFull(f, data)
	return data, err
}
