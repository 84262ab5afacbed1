package server

import (
	"bytes"
	"slices"
	"sync"

	"github.com/secr-dev/secr/internal/api"
)

// headCache remembers, per principal and environment, the head of the last
// binary snapshot answer this server encoded there (writeSnapshot: the
// wire version, length and JSON of everything but the ciphertext) together
// with the values it encoded. A later answer whose values are all equal to
// those reuses the bytes instead of encoding them again (base64 and JSON
// were about 4% of the server's CPU per 20-secret read).
//
// It decides nothing: the answer is built from the database as before, every
// authorisation is made as before, and the cached bytes stand in only for
// the encoding of values equal to the ones they were encoded from, which is
// the same bytes. So it needs no invalidation (on this server or between
// replicas), and what it holds for one principal can only ever be sent to
// another whose answer is, to the byte, the same. The key picks which entry
// is compared and nothing else. Cached heads are shared: they must not be
// modified.
type headCache struct {
	mu sync.Mutex
	m  map[headKey]*cachedHead
}

type headKey struct{ principal, env string }

type cachedHead struct {
	snap api.Snapshot // a deep copy, without the ciphertext
	head []byte
}

// Bounds: heads past headCacheMaxHead bytes (a long chain or many headers
// in the answer) are not kept, and past headCacheMax entries the cache
// starts over.
const (
	headCacheMax     = 2048
	headCacheMaxHead = 8 << 10
)

// get returns the head encoded from values equal to snap's (its
// ciphertext aside), or nil.
func (c *headCache) get(k headKey, snap *api.Snapshot) []byte {
	c.mu.Lock()
	e := c.m[k]
	c.mu.Unlock()
	if e == nil || !sameHead(&e.snap, snap) {
		return nil
	}
	return e.head
}

// put remembers head as the encoding of snap (its ciphertext aside).
func (c *headCache) put(k headKey, snap *api.Snapshot, head []byte) {
	if len(head) > headCacheMaxHead {
		return
	}
	e := &cachedHead{snap: *snap, head: bytes.Clone(head)}
	e.snap.Grant = bytes.Clone(snap.Grant)
	e.snap.Chain = cloneAll(snap.Chain)
	e.snap.Headers = cloneAll(snap.Headers)
	if snap.Revision != nil {
		r := *snap.Revision
		r.Header, r.Ciphertext = bytes.Clone(r.Header), nil
		e.snap.Revision = &r
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= headCacheMax {
		c.m = map[headKey]*cachedHead{}
	}
	c.m[k] = e
}

func cloneAll(bs [][]byte) [][]byte {
	if bs == nil {
		return nil
	}
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = bytes.Clone(b)
	}
	return out
}

// sameHead reports whether a and b encode to the same answer head: every
// field but the revision's ciphertext is equal. A field added to
// api.Snapshot, api.Environment or api.Revision must be compared here
// (TestSameHeadComparesEveryField fails until it is).
func sameHead(a, b *api.Snapshot) bool {
	if a.Org != b.Org || a.OrgID != b.OrgID || a.Project != b.Project || a.Environment != b.Environment ||
		a.CanWrite != b.CanWrite || a.ChainHead != b.ChainHead || a.Pending != b.Pending ||
		!bytes.Equal(a.Grant, b.Grant) || (a.Grant == nil) != (b.Grant == nil) ||
		!sameBytesList(a.Chain, b.Chain) || !sameBytesList(a.Headers, b.Headers) {
		return false
	}
	ra, rb := a.Revision, b.Revision
	if ra == nil || rb == nil {
		return ra == rb
	}
	// time.Time's == compares the instant and the location, the two things
	// its JSON is made of.
	return ra.Revision == rb.Revision && ra.KeyVersion == rb.KeyVersion && ra.Author == rb.Author &&
		ra.CreatedAt == rb.CreatedAt && bytes.Equal(ra.Header, rb.Header) && (ra.Header == nil) == (rb.Header == nil)
}

// sameBytesList is slices.EqualFunc with bytes.Equal, also telling a nil
// list (omitted, or JSON null) and a nil element (null) from empty ones.
func sameBytesList(a, b [][]byte) bool {
	return (a == nil) == (b == nil) && slices.EqualFunc(a, b, func(x, y []byte) bool {
		return bytes.Equal(x, y) && (x == nil) == (y == nil)
	})
}
