package client

import (
	"context"
	"net/http"
	"testing"

	"github.com/secr-dev/secr/internal/api"
)

// TestHeadersOnEveryRequest: WithHeaders reaches the JSON calls and the
// snapshot fetch alike, beside the client's own headers.
func TestHeadersOnEveryRequest(t *testing.T) {
	var got []http.Header
	rt := WithTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.Header.Clone())
		return nil, errNoNetwork
	}))
	h := http.Header{}
	h.Set("User-Agent", "secr/1.2.3")
	h.Set(api.CommandHeader, "secrets get")
	c, err := New("http://127.0.0.1:1", rt, WithHeaders(h))
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithSession("s")
	h.Set(api.CommandHeader, "changed after New") // New kept its own copy
	ctx := context.Background()
	c.ListOrgs(ctx)
	c.Snapshot(ctx, "acme", "web", "production", Fetch{})
	c.AuditLog(ctx, "acme", AuditQuery{Env: "web/production"})
	if len(got) != 3 {
		t.Fatalf("%d requests", len(got))
	}
	for i, g := range got {
		if g.Get("User-Agent") != "secr/1.2.3" || g.Get(api.CommandHeader) != "secrets get" || g.Get("Authorization") != "Bearer s" {
			t.Errorf("request %d headers: %v", i, g)
		}
	}
}
