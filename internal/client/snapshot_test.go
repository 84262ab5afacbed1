package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/api"
)

// TestNotModifiedOnlyForWhatIsHeld: a server cannot answer 304 to a
// client that named nothing, or name something else than it asked about.
func TestNotModifiedOnlyForWhatIsHeld(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") == "" || !strings.Contains(r.Header.Get("Accept"), api.SnapshotMediaType) {
			t.Errorf("client does not ask for the binary form: %q", r.Header.Get("Accept"))
		}
		w.Header().Set("ETag", `"env_x.1.7.w"`)
		w.WriteHeader(http.StatusNotModified)
	}))
	defer srv.Close()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, nm, err := c.SnapshotIf(context.Background(), "o", "p", "e", Fetch{}, ""); err == nil || nm {
		t.Fatalf("304 without If-None-Match accepted: %v %v", nm, err)
	}
	if _, nm, err := c.SnapshotIf(context.Background(), "o", "p", "e", Fetch{}, `"env_x.1.9.w"`); err == nil || nm {
		t.Fatalf("304 for another ETag accepted: %v %v", nm, err)
	}
	if _, nm, err := c.SnapshotIf(context.Background(), "o", "p", "e", Fetch{}, `"env_x.1.7.w"`); err != nil || !nm {
		t.Fatalf("304 for what is held: %v %v", nm, err)
	}
}

func TestDecodeSnapshotRejectsMalformed(t *testing.T) {
	good, _ := api.AppendSnapshot(nil, api.Snapshot{Org: "o", Revision: &api.Revision{Revision: 1, Ciphertext: []byte("ct")}})
	if s, err := api.DecodeSnapshot(good); err != nil || string(s.Revision.Ciphertext) != "ct" {
		t.Fatalf("round trip: %+v %v", s, err)
	}
	noRev, _ := api.AppendSnapshot(nil, api.Snapshot{Org: "o"})
	for name, b := range map[string][]byte{
		"empty":                    nil,
		"version 2":                append([]byte{2}, good[1:]...),
		"header past end":          good[:8],
		"ciphertext, no revision":  append(noRev, 'x'),
		"ciphertext in the header": func() []byte { b, _ := api.AppendSnapshot(nil, api.Snapshot{}); return b }()[:0],
	} {
		if _, err := api.DecodeSnapshot(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestJSONSnapshotIsBounded: a server (or proxy) that answers in JSON
// cannot make the client read an unbounded body or accept a ciphertext
// over the limit.
func TestJSONSnapshotIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"revision":{"revision":1,"ciphertext":"`)
		chunk := strings.Repeat("QUFB", 1<<14)
		for i := 0; i < 1<<10; i++ { // 64 MiB of base64 unless the client stops reading
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		io.WriteString(w, `"}}`)
	}))
	defer srv.Close()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.SnapshotIf(context.Background(), "o", "p", "e", Fetch{}, ""); err == nil {
		t.Fatal("an oversized JSON snapshot was accepted")
	}
	srv.CloseClientConnections()
}
