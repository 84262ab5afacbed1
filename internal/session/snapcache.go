package session

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

// The offline cache keeps each snapshot in the server's binary form
// (api.SnapshotMediaType), so that reading it back costs no JSON decoding
// of the ciphertext. config.SnapshotCache owns the files; a file's time is
// when the server last confirmed it as the latest (fetched, or answered 304
// Not Modified), which is the age --max-stale is measured against.

// A cache record is the snapshot, optionally preceded by the receipt this
// principal sealed when it last opened it (trust.Receipt):
//
//	byte 0       2
//	bytes 1-4    n, the receipt's length (big-endian uint32)
//	bytes 5-n+4  the receipt
//	the rest     the snapshot in the binary form (version 1)
//
// A record that starts with the snapshot's own version byte (1) is one
// written before receipts: it is read, and verified in full.
const cacheRecordVersion = 2

// maxReceipt bounds a receipt read from the cache (one is 80 bytes).
const maxReceipt = 1 << 10

// cached is a cache record, read back.
type cached struct {
	snap      api.Snapshot
	receipt   []byte    // nil when there is none
	confirmed time.Time // when the server last confirmed it as the latest
}

// readSnap returns the cached snapshot for key.
func (s *Session) readSnap(key string) (cached, error) {
	if s.cache == nil {
		return cached{}, fmt.Errorf("no cache directory: set HOME or XDG_CACHE_HOME")
	}
	data, confirmed, err := s.cache.Get(s.api, s.principalID(), key, api.MaxCiphertext+1<<20)
	if err != nil {
		return cached{}, err
	}
	c := cached{confirmed: confirmed}
	if len(data) > 0 && data[0] == cacheRecordVersion {
		if len(data) < 5 {
			return cached{}, fmt.Errorf("cached snapshot is corrupt: truncated")
		}
		n := binary.BigEndian.Uint32(data[1:5])
		if n > maxReceipt || uint64(n) > uint64(len(data)-5) {
			return cached{}, fmt.Errorf("cached snapshot is corrupt: receipt length out of range")
		}
		c.receipt, data = data[5:5+n], data[5+n:]
	}
	if c.snap, err = api.DecodeSnapshot(data); err != nil {
		return cached{}, fmt.Errorf("cached snapshot is corrupt: %v", err)
	}
	return c, nil
}

// writeSnap stores snap for key, with its receipt (if any), confirmed at
// confirmed.
func (s *Session) writeSnap(key string, snap api.Snapshot, receipt []byte, confirmed time.Time) error {
	size := 5 + len(receipt) + 512
	if snap.Revision != nil {
		size += len(snap.Revision.Ciphertext)
	}
	b := make([]byte, 0, size)
	if receipt != nil {
		b = append(b, cacheRecordVersion)
		b = binary.BigEndian.AppendUint32(b, uint32(len(receipt)))
		b = append(b, receipt...)
	}
	b, err := api.AppendSnapshot(b, snap)
	if err != nil {
		return err
	}
	return s.cache.Put(s.api, s.principalID(), key, b, confirmed)
}

// confirmSnap records that the server confirmed key's cached snapshot as
// the latest at now.
func (s *Session) confirmSnap(key string, now time.Time) {
	if s.cache != nil {
		_ = s.cache.Confirm(s.api, s.principalID(), key, now)
	}
}
