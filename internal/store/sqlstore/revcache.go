package sqlstore

import (
	"sync"

	"github.com/secr-dev/secr/internal/store"
)

// revCacheMax bounds the bytes (headers and ciphertexts) the revision
// cache holds; past it, the cache starts over.
const revCacheMax = 64 << 20

// revCache remembers, per environment path (org, project and environment
// names; for ResolveEnvByID, the environment ID), the latest revision
// ResolveEnv read there, so that the next read of an unchanged environment
// neither copies its ciphertext out of the database nor allocates it again
// (at 1,000 secrets, ~70 KB each time). It decides nothing: ResolveEnv's
// query, which still authorises every read, says which environment the
// path names and which revision is its latest, and compares that
// revision's header and ciphertext in the database with the cached bytes;
// only bytes the database holds identically are taken from here. So the
// cache needs no invalidation, on this server or between replicas, it
// serves a database edited behind the server's back as the database is
// (clients check every revision's signature), and whose access it was read
// under does not matter (access is the query's). Cached revisions are
// shared: their bytes must not be modified.
type revCache struct {
	mu   sync.Mutex
	m    map[string]*store.Revision
	size int
}

func revCacheKey(org, project, env string) string {
	return org + "\x00" + project + "\x00" + env
}

func (c *revCache) get(key string) *store.Revision {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

func (c *revCache) put(key string, r *store.Revision) {
	n := len(r.Header) + len(r.Ciphertext)
	if n > revCacheMax/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*store.Revision{}
	}
	if old := c.m[key]; old != nil {
		c.size -= len(old.Header) + len(old.Ciphertext)
	}
	if c.size+n > revCacheMax {
		clear(c.m)
		c.size = 0
	}
	c.m[key] = r
	c.size += n
}
