package session

import (
	"fmt"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

// The offline cache keeps each snapshot in the server's binary form
// (api.SnapshotMediaType), so that reading it back costs no JSON decoding
// of the ciphertext. config.SnapshotCache owns the files; a file's time is
// when the server last confirmed it as the latest (fetched, or answered 304
// Not Modified), which is the age --max-stale is measured against.

// readSnap returns the cached snapshot for key and when the server last
// confirmed it.
func (s *Session) readSnap(key string) (api.Snapshot, time.Time, error) {
	if s.cache == nil {
		return api.Snapshot{}, time.Time{}, fmt.Errorf("no cache directory: set HOME or XDG_CACHE_HOME")
	}
	data, confirmed, err := s.cache.Get(s.api, s.principalID(), key, api.MaxCiphertext+1<<20)
	if err != nil {
		return api.Snapshot{}, time.Time{}, err
	}
	snap, err := api.DecodeSnapshot(data)
	if err != nil {
		return api.Snapshot{}, time.Time{}, fmt.Errorf("cached snapshot is corrupt: %v", err)
	}
	return snap, confirmed, nil
}

// writeSnap stores snap for key, confirmed at now.
func (s *Session) writeSnap(key string, snap api.Snapshot, now time.Time) error {
	data, err := api.MarshalSnapshot(snap)
	if err != nil {
		return err
	}
	return s.cache.Put(s.api, s.principalID(), key, data, now)
}

// confirmSnap records that the server confirmed key's cached snapshot as
// the latest at now.
func (s *Session) confirmSnap(key string, now time.Time) {
	if s.cache != nil {
		_ = s.cache.Confirm(s.api, s.principalID(), key, now)
	}
}
