package server

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/api"
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
