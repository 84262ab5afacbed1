package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// SnapshotCache keeps one snapshot per server, principal and target, as
// the server sent it: ciphertext wrapped to the principal, so the cache
// holds nothing readable without the principal's key. Each entry is a file
// of mode 0600 whose modification time is when the server last confirmed
// it as the latest (fetched, or answered "not modified").
type SnapshotCache struct {
	dir string
}

// CacheAt returns the snapshot cache in dirs.
func CacheAt(d Dirs) *SnapshotCache { return &SnapshotCache{dir: filepath.Join(d.Cache, "snapshots")} }

func hashName(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (c *SnapshotCache) principalDir(server, principal string) string {
	return filepath.Join(c.dir, hashName(server, principal))
}

func (c *SnapshotCache) path(server, principal, target string) string {
	return filepath.Join(c.principalDir(server, principal), hashName(target)+".snap")
}

// ErrNoCache means there is no cached snapshot for the target.
var ErrNoCache = errors.New("no cached secrets for this environment on this machine")

// Put stores data as target's snapshot, confirmed at now. The file is
// replaced atomically.
func (c *SnapshotCache) Put(server, principal, target string, data []byte, now time.Time) error {
	path := c.path(server, principal, target)
	if err := WritePrivate(path, data); err != nil {
		return err
	}
	return os.Chtimes(path, now, now)
}

// Get returns target's snapshot and when the server last confirmed it. A
// file larger than maxSize is reported as corrupt, unread.
func (c *SnapshotCache) Get(server, principal, target string, maxSize int64) ([]byte, time.Time, error) {
	f, err := os.Open(c.path(server, principal, target))
	if errors.Is(err, os.ErrNotExist) {
		return nil, time.Time{}, ErrNoCache
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if fi.Size() > maxSize {
		return nil, time.Time{}, fmt.Errorf("cached snapshot is corrupt: %d bytes, more than %d", fi.Size(), maxSize)
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, time.Time{}, fmt.Errorf("read cached snapshot: %w", err)
	}
	return data, fi.ModTime(), nil
}

// Has reports whether target has a snapshot.
func (c *SnapshotCache) Has(server, principal, target string) bool {
	_, err := os.Stat(c.path(server, principal, target))
	return err == nil
}

// Confirm records that the server confirmed target's snapshot at now.
func (c *SnapshotCache) Confirm(server, principal, target string, now time.Time) error {
	return os.Chtimes(c.path(server, principal, target), now, now)
}

// Forget deletes every cached snapshot of a principal: the server no
// longer accepts it (401).
func (c *SnapshotCache) Forget(server, principal string) error {
	return os.RemoveAll(c.principalDir(server, principal))
}

// ForgetTarget deletes target's snapshot: the principal may no longer read
// that environment (403), which says nothing about the others.
func (c *SnapshotCache) ForgetTarget(server, principal, target string) error {
	err := os.Remove(c.path(server, principal, target))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
