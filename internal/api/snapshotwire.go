package api

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// MaxCiphertext is the largest revision (one environment's whole sealed
// document) a server stores: 4 MiB. Linux accepts about a quarter of the
// stack limit (8 MiB by default: 2 MiB) for a new program's arguments and
// environment together, so an environment near this limit cannot be
// passed whole through execve with default limits; the margin above that is
// for the document's own overhead, larger stack limits and files served with
// `secr run --mount` rather than through the environment. Clients check it
// before uploading; the server refuses anything larger.
const MaxCiphertext = 4 << 20

// SnapshotMediaType is the binary form of a Snapshot, which clients ask for
// with Accept. Version 1:
//
//	byte 0       version (1)
//	bytes 1-4    n, the header's length (big-endian uint32)
//	bytes 5-n+4  header: the Snapshot as JSON, without the revision's
//	             ciphertext (fields are added here, never removed)
//	the rest     the revision's ciphertext, raw (empty with no revision)
//
// The ciphertext, nearly all of the body, is neither base64-encoded nor
// scanned by a JSON decoder.
const SnapshotMediaType = "application/vnd.secr.snapshot.v1"

const snapshotWireVersion = 1

// maxSnapshotHeader bounds the JSON header a client will parse.
const maxSnapshotHeader = 16 << 20

// AppendSnapshot appends the binary form of s to b.
func AppendSnapshot(b []byte, s Snapshot) ([]byte, error) {
	var ct []byte
	if s.Revision != nil {
		r := *s.Revision
		ct, r.Ciphertext = r.Ciphertext, nil
		s.Revision = &r
	}
	hdr, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	b = append(b, snapshotWireVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(hdr)))
	b = append(b, hdr...)
	return append(b, ct...), nil
}

// MarshalSnapshot returns the binary form of s in a buffer sized for it.
func MarshalSnapshot(s Snapshot) ([]byte, error) {
	size := 512
	if s.Revision != nil {
		size += len(s.Revision.Ciphertext)
	}
	return AppendSnapshot(make([]byte, 0, size), s)
}

// DecodeSnapshot parses the binary form. The revision's ciphertext aliases
// data (no copy).
func DecodeSnapshot(data []byte) (Snapshot, error) {
	var s Snapshot
	if len(data) < 5 {
		return s, errors.New("snapshot body too short")
	}
	if data[0] != snapshotWireVersion {
		return s, fmt.Errorf("unsupported snapshot format version %d", data[0])
	}
	n := binary.BigEndian.Uint32(data[1:5])
	if n > maxSnapshotHeader || uint64(n) > uint64(len(data)-5) {
		return s, errors.New("snapshot header length out of range")
	}
	if err := json.Unmarshal(data[5:5+n], &s); err != nil {
		return s, fmt.Errorf("snapshot header: %w", err)
	}
	ct := data[5+n:]
	switch {
	case s.Revision == nil && len(ct) > 0:
		return s, errors.New("snapshot carries ciphertext but no revision")
	case s.Revision != nil && s.Revision.Ciphertext != nil:
		return s, errors.New("snapshot header carries ciphertext")
	case s.Revision != nil:
		s.Revision.Ciphertext = ct
	}
	return s, nil
}

// SnapshotETag names what a snapshot answer holds for a conditional fetch:
// the environment, its key version, the revision and a hash of its signed
// header, the org chain's head, whether the principal may write and whether
// it has pending work. A client sends it back in If-None-Match; the server
// answers 304 Not Modified, after authorising the request, when it still
// matches. The header's hash makes a revision that was replaced under the
// same number (a dropped row, a restored backup, then another write) a
// mismatch: the client gets it whole and refuses the fork.
func SnapshotETag(s Snapshot) string {
	var rev int64
	var hdr [sha256.Size]byte
	if s.Revision != nil {
		rev = s.Revision.Revision
		hdr = sha256.Sum256(s.Revision.Header)
	}
	w := "r"
	if s.CanWrite {
		w = "w"
	}
	if s.Pending {
		w += "p" // a client that has pending work to do must see it, not a 304
	}
	return `"` + s.Environment.ID + "." + strconv.Itoa(s.Environment.KeyVersion) + "." + strconv.FormatInt(rev, 10) + "." +
		hex.EncodeToString(hdr[:16]) + "." + strconv.FormatUint(s.ChainHead, 10) + "." + w + `"`
}

// FormatSize shows a byte count for people: "4.0 MiB (4194304 bytes)".
func FormatSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}
