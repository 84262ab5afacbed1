package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SnapshotCache keeps the last snapshot `secr run` received, per server,
// principal and target. A snapshot is ciphertext wrapped to the principal,
// so the cache holds nothing readable without the principal's key, and no
// password-derived key is needed to use it.
type SnapshotCache struct {
	dir string
}

// CacheAt returns the snapshot cache in dirs.
func CacheAt(d Dirs) *SnapshotCache { return &SnapshotCache{dir: filepath.Join(d.Cache, "snapshots")} }

type cachedSnapshot struct {
	FetchedAt time.Time       `json:"fetched_at"`
	Snapshot  json.RawMessage `json:"snapshot"`
}

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
	return filepath.Join(c.principalDir(server, principal), hashName(target)+".json")
}

// Put stores snapshot (the server's JSON answer) for target.
func (c *SnapshotCache) Put(server, principal, target string, snapshot []byte, now time.Time) error {
	data, err := json.Marshal(cachedSnapshot{FetchedAt: now.UTC(), Snapshot: snapshot})
	if err != nil {
		return err
	}
	return writePrivate(c.path(server, principal, target), data)
}

// Has reports whether an entry exists for target.
func (c *SnapshotCache) Has(server, principal, target string) bool {
	_, err := os.Stat(c.path(server, principal, target))
	return err == nil
}

// ErrNoCache means there is no cached snapshot for the target.
var ErrNoCache = errors.New("no cached secrets for this environment on this machine")

// Get returns the cached snapshot JSON and when it was fetched.
func (c *SnapshotCache) Get(server, principal, target string) ([]byte, time.Time, error) {
	data, err := os.ReadFile(c.path(server, principal, target))
	if errors.Is(err, os.ErrNotExist) {
		return nil, time.Time{}, ErrNoCache
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	var cs cachedSnapshot
	if err := json.Unmarshal(data, &cs); err != nil {
		return nil, time.Time{}, fmt.Errorf("cached snapshot is corrupt: %v", err)
	}
	return cs.Snapshot, cs.FetchedAt, nil
}

// Forget deletes every cached snapshot of a principal: the server said it
// may no longer read (401/403).
func (c *SnapshotCache) Forget(server, principal string) error {
	return os.RemoveAll(c.principalDir(server, principal))
}
