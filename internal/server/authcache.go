package server

import (
	"crypto/sha256"
	"sync"
	"time"
)

// authCacheTTL bounds how long an authentication is reused without asking
// the database again. Logout, password change and token revocation (on this
// server, or on another replica through the store's notifications) empty
// the cache at once; the TTL bounds anything else, such as a session
// deleted directly in the database, or a notification lost while a
// replica's listener reconnects.
const authCacheTTL = time.Second

// authCacheMax bounds the cache's size; past it the cache starts over.
const authCacheMax = 10000

// authCache remembers successful authentications for at most authCacheTTL,
// keyed by a hash of the whole Authorization header, so that a busy client
// (or many `secr run`s of one CI job) does not cost a session query per
// request. Failures are never cached.
type authCache struct {
	mu  sync.Mutex
	gen uint64 // bumped by every invalidation
	m   map[[sha256.Size]byte]authEntry
	// now is the monotonic clock the TTL is measured on (not the server's
	// configurable clock, which tests move by hours).
	now func() time.Time
}

type authEntry struct {
	p     principal
	until time.Time
}

func newAuthCache() *authCache {
	return &authCache{m: map[[sha256.Size]byte]authEntry{}, now: time.Now}
}

// get returns a copy of the cached principal for key, and the generation
// to hand to put after a miss.
func (c *authCache) get(key [sha256.Size]byte) (*principal, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if ok && c.now().Before(e.until) {
		p := e.p
		return &p, c.gen
	}
	if ok {
		delete(c.m, key)
	}
	return nil, c.gen
}

// put caches p for key unless the cache was invalidated since gen was
// read: an authentication that raced a logout must not outlive it.
func (c *authCache) put(key [sha256.Size]byte, gen uint64, p *principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= authCacheMax {
		clear(c.m)
	}
	c.m[key] = authEntry{p: *p, until: c.now().Add(authCacheTTL)}
}

// invalidate forgets every cached authentication. Access changes are rare
// next to reads, so forgetting all is simpler than an index by principal
// and costs at most one query per active credential.
func (c *authCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}
