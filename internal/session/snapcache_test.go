package session

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

func sampleSnapshot() api.Snapshot {
	return api.Snapshot{
		Org: "acme", OrgID: "org_1", Project: "web",
		Environment: api.Environment{ID: "env_1", Name: "production", KeyVersion: 3, LatestRevision: 1 << 40},
		Grant:       []byte("grant bytes"), CanWrite: true, Pending: true, ChainHead: 77,
		Headers: [][]byte{[]byte("h1"), []byte("h2")},
		Revision: &api.Revision{Revision: 1 << 40, KeyVersion: 3, Header: []byte("h2"), Ciphertext: []byte("ciphertext"),
			Author: "usr_1", CreatedAt: time.Date(2026, 11, 29, 12, 0, 0, 5, time.UTC)},
	}
}

// TestCacheRecordRoundTrip: a version-3 record reads back as the snapshot
// and receipt written, with or without a receipt, a revision or headers.
func TestCacheRecordRoundTrip(t *testing.T) {
	full := sampleSnapshot()
	bare := api.Snapshot{Org: "acme", OrgID: "org_1", Project: "web", Environment: api.Environment{ID: "env_1", Name: "dev"}, Grant: []byte("g")}
	noTime := sampleSnapshot()
	noTime.Revision.CreatedAt = time.Time{}
	for _, tc := range []struct {
		name    string
		snap    api.Snapshot
		receipt []byte
	}{
		{"full", full, []byte("receipt")},
		{"no receipt", full, nil},
		{"no revision", bare, []byte("receipt")},
		{"no time", noTime, nil},
	} {
		b := encodeRecord(tc.snap, tc.receipt)
		if b[0] != cacheRecordVersion {
			t.Fatalf("%s: version %d", tc.name, b[0])
		}
		snap, receipt, err := decodeRecord(b[1:])
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(snap, tc.snap) || !bytes.Equal(receipt, tc.receipt) {
			t.Fatalf("%s: read back\n%+v\nwrote\n%+v", tc.name, snap, tc.snap)
		}
	}
}

// TestCacheRecordTruncated: every prefix of a record, and a record with
// bytes in the wrong place, is an error, never a panic or a snapshot.
func TestCacheRecordTruncated(t *testing.T) {
	snap := sampleSnapshot()
	snap.Revision.Ciphertext = nil // so that no prefix is a whole record
	b := encodeRecord(snap, []byte("receipt"))[1:]
	for n := 0; n < len(b)-len(snap.Revision.Ciphertext); n++ {
		if _, _, err := decodeRecord(b[:n]); err == nil {
			t.Fatalf("a record cut at %d of %d bytes was read", n, len(b))
		}
	}
	// A negative latest revision (the server's, unchecked) survives.
	neg := sampleSnapshot()
	neg.Environment.LatestRevision = -5
	if got, _, err := decodeRecord(encodeRecord(neg, nil)[1:]); err != nil || got.Environment.LatestRevision != -5 {
		t.Fatalf("a negative latest revision: %v, %v", got.Environment.LatestRevision, err)
	}
	// More headers than a client ever keeps.
	many := sampleSnapshot()
	many.Headers = make([][]byte, maxCachedHeaders+1)
	if _, _, err := decodeRecord(encodeRecord(many, nil)[1:]); err == nil {
		t.Fatal("a record with too many headers was read")
	}
	// A count of headers larger than the record.
	bad := append([]byte(nil), b[:len(b)]...)
	huge := binary.AppendUvarint(nil, 1<<40)
	i := bytes.Index(bad, []byte("grant bytes")) + len("grant bytes")
	bad = append(append(append([]byte(nil), bad[:i]...), huge...), bad[i+1:]...)
	if _, _, err := decodeRecord(bad); err == nil {
		t.Fatal("a record with a header count past its end was read")
	}
}

// TestCacheRecordOlderVersions: records written before version 3 (a
// receipt and the server's binary form; that form alone) are still read.
func TestCacheRecordOlderVersions(t *testing.T) {
	f := newFixture(t)
	s := f.session()
	snap := sampleSnapshot()
	wire, err := api.AppendSnapshot(nil, snap)
	if err != nil {
		t.Fatal(err)
	}
	v2 := append([]byte{cacheRecordReceiptV2}, binary.BigEndian.AppendUint32(nil, 7)...)
	v2 = append(append(v2, "receipt"...), wire...)
	for name, rec := range map[string][]byte{"version 2": v2, "version 1": wire} {
		if err := s.cache.Put(s.api, s.principalID(), "k", rec, time.Now()); err != nil {
			t.Fatal(err)
		}
		c, err := s.readSnap("k")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.snap.Revision == nil || !bytes.Equal(c.snap.Revision.Ciphertext, snap.Revision.Ciphertext) || c.snap.Environment != snap.Environment {
			t.Fatalf("%s: read as %+v", name, c.snap)
		}
		if want := name == "version 2"; want != (string(c.receipt) == "receipt") {
			t.Fatalf("%s: receipt %q", name, c.receipt)
		}
	}
}

// FuzzCacheRecord: any record is an error or a snapshot that writes back
// to the same bytes.
func FuzzCacheRecord(f *testing.F) {
	f.Add(encodeRecord(sampleSnapshot(), []byte("receipt"))[1:])
	f.Add(encodeRecord(api.Snapshot{}, nil)[1:])
	f.Fuzz(func(t *testing.T, b []byte) {
		snap, receipt, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, againReceipt, err := decodeRecord(encodeRecord(snap, receipt)[1:])
		if err != nil || !reflect.DeepEqual(again, snap) || !bytes.Equal(againReceipt, receipt) {
			t.Fatalf("record does not survive a rewrite: %v", err)
		}
	})
}
