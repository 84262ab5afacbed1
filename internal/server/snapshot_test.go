package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/store/sqlstore"
	"github.com/secr-dev/secr/internal/trust"
)

// getSnapshot sends a snapshot request with the given Accept and
// If-None-Match headers.
func (e *env) getSnapshot(auth, path, accept, inm string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	req.Header.Set("Authorization", auth)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if inm != "" {
		req.Header.Set("If-None-Match", inm)
	}
	return e.send(req)
}

func TestSnapshotBinaryAndConditional(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	path := api.Path(api.SnapshotRoute, "acme", "web", "development")

	// JSON for a client that does not ask for the binary form.
	var js api.Snapshot
	e.must(ada.auth, "GET", path, nil, &js, http.StatusOK)

	// The binary form carries the same snapshot, ciphertext raw.
	resp, body := e.getSnapshot(ada.auth, path, api.SnapshotMediaType, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.SnapshotMediaType {
		t.Fatalf("binary snapshot: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	bin, err := api.DecodeSnapshot(body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin.Revision.Ciphertext, js.Revision.Ciphertext) || !bytes.Equal(bin.Grant, js.Grant) ||
		bin.Environment != js.Environment || bin.Revision.Revision != 1 || !bytes.Contains(body, js.Revision.Ciphertext) {
		t.Fatalf("binary and JSON snapshots differ:\n%+v\n%+v", bin, js)
	}
	// Byte for byte what api.MarshalSnapshot makes of it.
	if want, err := api.MarshalSnapshot(bin); err != nil || !bytes.Equal(body, want) {
		t.Fatalf("binary snapshot is not api.MarshalSnapshot's form (%v):\n%q\n%q", err, body, want)
	}
	etag := resp.Header.Get("ETag")
	if etag != api.SnapshotETag(bin) {
		t.Fatalf("ETag %s, want %s", etag, api.SnapshotETag(bin))
	}

	// Still the latest: 304 with no body.
	resp, body = e.getSnapshot(ada.auth, path, api.SnapshotMediaType, etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("conditional fetch of the latest: %d, %d bytes", resp.StatusCode, len(body))
	}
	// A newer revision: the whole answer again.
	if status, body := write(e, ada.auth, p, "development", 1); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	resp, body = e.getSnapshot(ada.auth, path, api.SnapshotMediaType, etag)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("conditional fetch after a write: %d", resp.StatusCode)
	}
	if bin, err = api.DecodeSnapshot(body); err != nil || bin.Revision.Revision != 2 {
		t.Fatalf("after a write: %+v, %v", bin, err)
	}
	etag = api.SnapshotETag(bin)

	// The not-allowed side: a matching If-None-Match is no way around
	// authorisation. An outsider gets the outsider's answer, a member
	// without a grant is refused, a token for another environment too.
	bob := e.signup("bob@example.com")
	for _, c := range []struct {
		who  string
		auth string
		want int
	}{
		{"no credentials", "", http.StatusUnauthorized},
		{"garbage session", "Bearer nope", http.StatusUnauthorized},
		{"outsider", bob.auth, http.StatusNotFound},
	} {
		resp, body := e.getSnapshot(c.auth, path, api.SnapshotMediaType, etag)
		if resp.StatusCode != c.want || resp.Header.Get("ETag") != "" {
			t.Fatalf("%s with a matching If-None-Match: %d (ETag %q) %s, want %d", c.who, resp.StatusCode, resp.Header.Get("ETag"), body, c.want)
		}
	}
	// A token of another environment, asking for development by name.
	stagingTok, _ := e.token(ada, "acme", "web", p, "staging", false)
	if resp, _ := e.getSnapshot(stagingTok, path, api.SnapshotMediaType, etag); resp.StatusCode < 400 {
		t.Fatalf("staging token reading development conditionally: %d", resp.StatusCode)
	}
	// The token's own snapshot: its own ETag, and 304 only for it.
	devTok, _ := e.token(ada, "acme", "web", p, "development", false)
	resp, body = e.getSnapshot(devTok, api.TokenSnapshotPath, api.SnapshotMediaType, etag)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token snapshot with a user's ETag: %d (a read-only token's answer differs)", resp.StatusCode)
	}
	tokSnap, _ := api.DecodeSnapshot(body)
	if resp, _ := e.getSnapshot(devTok, api.TokenSnapshotPath, api.SnapshotMediaType, api.SnapshotETag(tokSnap)); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("token conditional fetch: %d", resp.StatusCode)
	}
}

func TestOversizedRevisionMessage(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	req, _ := e.revisionRequest(ada.auth, p, "development", 0)
	req.Ciphertext = make([]byte, api.MaxCiphertext+1)
	status, body := e.call(ada.auth, "POST", api.Path(api.RevisionsRoute, "acme", "web", "development"), req)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "4.0 MiB (4194304 bytes)") || !strings.Contains(body, "4194305 bytes") {
		t.Fatalf("oversized revision: %d %s", status, body)
	}
}

// TestAuthCacheInvalidation: a cached authentication does not outlive a
// logout or a token revocation, and an authentication that raced an
// invalidation is not cached.
func TestAuthCacheInvalidation(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	tok, id := e.token(ada, "acme", "web", p, "development", false)
	for range 3 { // cached after the first
		e.must(tok, "GET", api.TokenSnapshotPath, nil, nil, http.StatusOK)
		e.must(ada.auth, "GET", api.WhoAmIPath, nil, nil, http.StatusOK)
	}
	e.revoke(ada, "acme", "web", id)
	if status, _ := e.call(tok, "GET", api.TokenSnapshotPath, nil); status != http.StatusUnauthorized {
		t.Fatalf("revoked token still reads: %d", status)
	}
	e.must(ada.auth, "POST", api.LogoutPath, nil, nil, http.StatusNoContent)
	if status, _ := e.call(ada.auth, "GET", api.WhoAmIPath, nil); status != http.StatusUnauthorized {
		t.Fatalf("session works after logout: %d", status)
	}

	c := newAuthCache()
	key := sha256.Sum256([]byte("Bearer x"))
	_, gen := c.get(key)
	c.invalidate() // a logout lands while the store is being asked
	c.put(key, gen, &principal{id: "usr_x"})
	if p, _ := c.get(key); p != nil {
		t.Fatal("an authentication that raced an invalidation was cached")
	}
}

// pgReplicas starts two servers on one PostgreSQL schema, each listening
// for the other's notifications, as replicas behind a load balancer do.
// Their auth caches never expire by time: only an invalidation empties
// them, so what these tests see is the invalidation, not the TTL.
func pgReplicas(t *testing.T) (*env, *env) {
	dsn := postgresSchema(t)
	c := &clock{t: time.Now()}
	var replicas []*env
	for range 2 {
		st, err := sqlstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e := serveStore(t, st, c, nil)
		frozen := time.Now()
		e.server.authCache.now = func() time.Time { return frozen }
		replicas = append(replicas, e)
		listening := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go st.Listen(ctx, sqlstore.Listener{
			Revision:      e.server.Publish,
			AccessChanged: e.server.AccessChanged,
			Listening: func() {
				select {
				case listening <- struct{}{}:
				default:
				}
			},
		})
		select {
		case <-listening:
		case <-time.After(eventWait):
			t.Fatal("listener did not connect")
		}
	}
	return replicas[0], replicas[1]
}

// refusedSoon waits for e to refuse auth on path with status: another
// replica's invalidation arrives by notification, asynchronously.
func refusedSoon(t *testing.T, e *env, auth, path string, status int) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		got, _ := e.call(auth, "GET", path, nil)
		if got == status {
			return
		}
		if got != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("GET %s: %d, want %d", path, got, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCachesOnReplicas: the caches a snapshot read goes through (the
// authentication of sessions, the revision bytes) never serve a principal
// after a revocation, logout or removal made through another replica, nor
// a stale revision after a write there.
func TestCachesOnReplicas(t *testing.T) {
	one, two := pgReplicas(t)
	f := newStreamFixture(t, one)
	bob := one.signup("bob@example.com")
	one.addMember(f.ada, "acme", bob, trust.Developer, f.p, true, "development")
	path := api.Path(api.SnapshotRoute, "acme", "web", "development")
	read := func(e *env, auth, path string, rev int64) {
		t.Helper()
		var snap api.Snapshot
		e.must(auth, "GET", path, nil, &snap, http.StatusOK)
		if snap.Revision == nil || snap.Revision.Revision != rev {
			t.Fatalf("GET %s: %+v, want revision %d", path, snap.Revision, rev)
		}
	}
	for range 2 { // cached after the first
		read(two, f.tok, api.TokenSnapshotPath, 1)
		read(two, bob.auth, path, 1)
		read(two, f.ada.auth, path, 1)
	}
	// A write through one is what two answers next, to everyone.
	if status, body := write(one, f.ada.auth, f.p, "development", 1); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	read(two, f.tok, api.TokenSnapshotPath, 2)
	read(two, bob.auth, path, 2)
	// A removed member is refused at once: membership is never cached.
	one.mustChange(f.ada, "acme", []trust.Op{trust.RemoveMember{MemberID: bob.uid}}, nil, nil)
	if status, _ := two.call(bob.auth, "GET", path, nil); status != http.StatusNotFound {
		t.Fatalf("removed member reads on the other replica: %d", status)
	}
	// A revoked token, and a logged-out session cached on two, end there.
	one.revoke(f.ada, "acme", "web", f.tID)
	if status, _ := two.call(f.tok, "GET", api.TokenSnapshotPath, nil); status != http.StatusUnauthorized {
		t.Fatalf("revoked token reads on the other replica: %d", status)
	}
	one.must(f.ada.auth, "POST", api.LogoutPath, nil, nil, http.StatusNoContent)
	refusedSoon(t, two, f.ada.auth, path, http.StatusUnauthorized)
}
