package session

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/config"
)

// The offline cache keeps each snapshot in the server's binary form
// (api.SnapshotMediaType), so that reading it back costs no JSON decoding
// of the ciphertext. Files live beside the older JSON entries of
// config.SnapshotCache, in the same per-server, per-principal directory,
// so that forgetting a principal removes both. A file's modification time
// is when the server last confirmed it as the latest (fetched, or answered
// 304 Not Modified), which is the age --max-stale is measured against.

// cacheHashName is config's naming of cache paths: hex of the first 16
// bytes of SHA-256 over NUL-terminated parts.
func cacheHashName(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (s *Session) snapPrincipalDir() string {
	return filepath.Join(s.snapDir, cacheHashName(s.api, s.principalID()))
}

func (s *Session) snapPath(key string) string {
	return filepath.Join(s.snapPrincipalDir(), cacheHashName(key)+".snap")
}

// readSnap returns the cached binary snapshot for key and when the server
// last confirmed it.
func (s *Session) readSnap(key string) (api.Snapshot, time.Time, error) {
	if s.snapDir == "" {
		return api.Snapshot{}, time.Time{}, config.ErrNoCache
	}
	f, err := os.Open(s.snapPath(key))
	if errors.Is(err, os.ErrNotExist) {
		return api.Snapshot{}, time.Time{}, config.ErrNoCache
	}
	if err != nil {
		return api.Snapshot{}, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return api.Snapshot{}, time.Time{}, err
	}
	if fi.Size() > api.MaxCiphertext+1<<20 {
		return api.Snapshot{}, time.Time{}, errors.New("cached snapshot is corrupt: too large")
	}
	data := make([]byte, fi.Size())
	if _, err := readFull(f, data); err != nil {
		return api.Snapshot{}, time.Time{}, err
	}
	snap, err := api.DecodeSnapshot(data)
	if err != nil {
		return api.Snapshot{}, time.Time{}, fmt.Errorf("cached snapshot is corrupt: %v", err)
	}
	return snap, fi.ModTime(), nil
}

func readFull(f *os.File, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := f.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeSnap stores snap for key, replacing the file atomically.
func (s *Session) writeSnap(key string, snap api.Snapshot, now time.Time) error {
	size := 512
	if snap.Revision != nil {
		size += len(snap.Revision.Ciphertext)
	}
	data, err := api.AppendSnapshot(make([]byte, 0, size), snap)
	if err != nil {
		return err
	}
	dir := s.snapPrincipalDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".snap-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), now, now); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.snapPath(key))
}

// confirmSnap records that the server confirmed key's cached snapshot as
// the latest at now.
func (s *Session) confirmSnap(key string, now time.Time) {
	_ = os.Chtimes(s.snapPath(key), now, now)
}

// forgetSnaps deletes every cached snapshot of this principal.
func (s *Session) forgetSnaps() {
	if s.snapDir != "" {
		_ = os.RemoveAll(s.snapPrincipalDir())
	}
}
