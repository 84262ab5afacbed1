package session

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/trust"
)

// The offline cache keeps each snapshot in a binary record of its own, so
// that reading it back costs no JSON: a 'secr run' answered 304 reads one
// every time, and encoding/json's first decoding of the snapshot's types
// was a tenth of such a run's instructions. config.SnapshotCache owns the
// files; a file's time is when the server last confirmed it as the latest
// (fetched, or answered 304 Not Modified), which is the age --max-stale is
// measured against.
//
// A cache record (version 3):
//
//	byte 0     3
//	receipt    the receipt this principal sealed when it last opened the
//	           snapshot (trust.Receipt), empty when there is none
//	org, org ID, project, environment ID, environment name: strings
//	key version (uvarint), latest revision (varint), chain head (uvarint)
//	flags      bit 0 may write, bit 1 pending work, bit 2 has a revision
//	grant      bytes
//	headers    a uvarint count, then each as bytes
//	revision   (with bit 2) number and key version (uvarints), header
//	           (bytes), author (string), created at (Unix nanoseconds, a
//	           varint; 0 for none), and the ciphertext: the rest of the
//	           record
//
// Strings and bytes are a uvarint length and the bytes. Versions 2 (a
// receipt, then the server's binary form, api.SnapshotMediaType) and 1
// (that form alone) are still read.
const (
	cacheRecordVersion   = 3
	cacheRecordReceiptV2 = 2
)

// maxReceipt bounds a receipt read from the cache (one is 80 bytes).
const maxReceipt = 1 << 10

// maxCachedHeaders bounds the headers of a cached snapshot: open keeps the
// verified revision's own header only, so a record with more was not
// written by this client (and a count of empty ones would cost a slice
// header each).
const maxCachedHeaders = 1 << 10

// cached is a cache record, read back.
type cached struct {
	snap      api.Snapshot
	receipt   []byte    // nil when there is none
	confirmed time.Time // when the server last confirmed it as the latest
	// opened is the receipt, opened on the pinned head (by held; nil
	// until then).
	opened *trust.Receipt
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
	switch {
	case len(data) > 0 && data[0] == cacheRecordVersion:
		c.snap, c.receipt, err = decodeRecord(data[1:])
	case len(data) > 0 && data[0] == cacheRecordReceiptV2:
		if len(data) < 5 {
			return cached{}, fmt.Errorf("cached snapshot is corrupt: truncated")
		}
		n := binary.BigEndian.Uint32(data[1:5])
		if n > maxReceipt || uint64(n) > uint64(len(data)-5) {
			return cached{}, fmt.Errorf("cached snapshot is corrupt: receipt length out of range")
		}
		c.receipt = data[5 : 5+n]
		c.snap, err = api.DecodeSnapshot(data[5+n:])
	default:
		c.snap, err = api.DecodeSnapshot(data)
	}
	if err != nil {
		return cached{}, fmt.Errorf("cached snapshot is corrupt: %v", err)
	}
	return c, nil
}

// writeSnap stores snap for key, with its receipt (if any), confirmed at
// confirmed.
func (s *Session) writeSnap(key string, snap api.Snapshot, receipt []byte, confirmed time.Time) error {
	return s.cache.Put(s.api, s.principalID(), key, encodeRecord(snap, receipt), confirmed)
}

// encodeRecord is a version-3 cache record of snap and receipt. The
// snapshot's chain is not kept: the pinned chain is what a cached
// snapshot is checked against.
func encodeRecord(snap api.Snapshot, receipt []byte) []byte {
	size := 256 + len(receipt) + len(snap.Grant)
	for _, h := range snap.Headers {
		size += len(h) + 2
	}
	if r := snap.Revision; r != nil {
		size += len(r.Header) + len(r.Ciphertext)
	}
	b := make([]byte, 1, size)
	b[0] = cacheRecordVersion
	b = appendBytes(b, receipt)
	for _, str := range []string{snap.Org, snap.OrgID, snap.Project, snap.Environment.ID, snap.Environment.Name} {
		b = appendBytes(b, []byte(str))
	}
	b = binary.AppendUvarint(b, uint64(snap.Environment.KeyVersion))
	b = binary.AppendVarint(b, snap.Environment.LatestRevision) // the server's, unchecked: any value
	b = binary.AppendUvarint(b, snap.ChainHead)
	var flags byte
	if snap.CanWrite {
		flags |= 1
	}
	if snap.Pending {
		flags |= 2
	}
	if snap.Revision != nil {
		flags |= 4
	}
	b = append(b, flags)
	b = appendBytes(b, snap.Grant)
	b = binary.AppendUvarint(b, uint64(len(snap.Headers)))
	for _, h := range snap.Headers {
		b = appendBytes(b, h)
	}
	if r := snap.Revision; r != nil {
		b = binary.AppendUvarint(b, uint64(r.Revision))
		b = binary.AppendUvarint(b, uint64(r.KeyVersion))
		b = appendBytes(b, r.Header)
		b = appendBytes(b, []byte(r.Author))
		var at int64 // 0: no time (UnixNano is undefined for the zero time)
		if !r.CreatedAt.IsZero() {
			at = r.CreatedAt.UnixNano()
		}
		b = binary.AppendVarint(b, at)
		b = append(b, r.Ciphertext...)
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// decodeRecord reads what encodeRecord wrote (after the version byte).
// Byte fields are slices of data.
func decodeRecord(data []byte) (api.Snapshot, []byte, error) {
	d := recordDecoder{b: data}
	var snap api.Snapshot
	receipt := d.bytes()
	if len(receipt) > maxReceipt {
		d.fail("receipt too long")
	}
	for _, name := range []*string{&snap.Org, &snap.OrgID, &snap.Project, &snap.Environment.ID, &snap.Environment.Name} {
		*name = string(d.bytes())
	}
	snap.Environment.KeyVersion = d.int()
	snap.Environment.LatestRevision = d.varint()
	snap.ChainHead = d.uvarint()
	flags := d.byte()
	snap.CanWrite, snap.Pending = flags&1 != 0, flags&2 != 0
	snap.Grant = d.bytes()
	if n := d.uvarint(); n > 0 {
		if n > maxCachedHeaders || n > uint64(len(d.b)) { // each takes a byte at least
			d.fail("header count out of range")
		} else {
			snap.Headers = make([][]byte, n)
			for i := range snap.Headers {
				snap.Headers[i] = d.bytes()
			}
		}
	}
	if flags&4 != 0 {
		r := &api.Revision{Revision: d.int64(), KeyVersion: d.int()}
		r.Header = d.bytes()
		r.Author = string(d.bytes())
		if at := d.varint(); at != 0 {
			r.CreatedAt = time.Unix(0, at).UTC()
		}
		r.Ciphertext, d.b = d.b, nil
		snap.Revision = r
	}
	switch {
	case d.err != nil:
		return api.Snapshot{}, nil, d.err
	case len(d.b) > 0:
		return api.Snapshot{}, nil, fmt.Errorf("%d bytes after the snapshot", len(d.b))
	}
	return snap, receipt, nil
}

// recordDecoder reads a cache record; after the first error every read
// returns zero and err keeps the first.
type recordDecoder struct {
	b   []byte
	err error
}

func (d *recordDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("cache record: %s", what)
	}
	d.b = nil
}

func (d *recordDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int is a uvarint that fits an int32 (a key version).
func (d *recordDecoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		d.fail("number out of range")
		return 0
	}
	return int(v)
}

// int64 is a uvarint that fits an int64 (a revision number).
func (d *recordDecoder) int64() int64 {
	v := d.uvarint()
	if v > math.MaxInt64 {
		d.fail("number out of range")
		return 0
	}
	return int64(v)
}

func (d *recordDecoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes is a length-prefixed field, nil when empty.
func (d *recordDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("truncated")
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// confirmSnap records that the server confirmed key's cached snapshot as
// the latest at now.
func (s *Session) confirmSnap(key string, now time.Time) {
	if s.cache != nil {
		_ = s.cache.Confirm(s.api, s.principalID(), key, now)
	}
}
