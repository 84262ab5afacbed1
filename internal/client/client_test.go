package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// roundTripFunc lets a test see every request the client would send.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var errNoNetwork = errors.New("test transport: not sending anything")

func TestCleartextOffLoopbackIsRefusedBeforeDialling(t *testing.T) {
	var sent atomic.Int32
	noDial := WithTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return nil, errNoNetwork
	}))
	// 192.0.2.0/24 is TEST-NET-1: never routed. Nothing is sent to it either way.
	for _, u := range []string{
		"http://192.0.2.1:7700",
		"http://0.0.0.0:7700",
		"http://user:pw@192.0.2.1:7700/",
		"http://secr.example.com",
		"http://[2001:db8::1]:7700",
		"http://127.0.0.1.example.com:7700",
	} {
		c, err := New(u, noDial)
		var ie *InsecureURLError
		if !errors.As(err, &ie) || c != nil {
			t.Fatalf("New(%q) = %v, %v; want *InsecureURLError", u, c, err)
		}
		msg := err.Error()
		for _, want := range []string{ie.URL, "https://", "--insecure", "SECR_INSECURE=1"} {
			if !strings.Contains(msg, want) {
				t.Errorf("New(%q): message %q lacks %q", u, msg, want)
			}
		}
		if strings.Contains(msg, "pw") {
			t.Errorf("New(%q): message repeats the URL's password: %q", u, msg)
		}
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("%d requests were sent for refused URLs", n)
	}

	// AllowInsecure lets the same URL through: the request reaches the
	// transport (which sends nothing), proving the check is what stopped it.
	c, err := New("http://192.0.2.1:7700", AllowInsecure(), noDial)
	if err != nil {
		t.Fatal(err)
	}
	var ue *UnreachableError
	if err := c.Health(context.Background()); !errors.As(err, &ue) || !errors.Is(err, errNoNetwork) {
		t.Fatalf("health through the test transport: %v", err)
	}
	if sent.Load() != 1 {
		t.Fatalf("%d requests reached the transport, want 1", sent.Load())
	}
}

func TestLoopbackAndHTTPSAreAllowed(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:7700", "http://127.1.2.3", "http://localhost:7700", "http://LOCALHOST",
		"http://[::1]:7700", "https://secr.example.com", "https://192.0.2.1:7700",
	} {
		if _, err := New(u); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	if _, err := New("ftp://127.0.0.1"); err == nil {
		t.Error("ftp URL accepted")
	}
}
