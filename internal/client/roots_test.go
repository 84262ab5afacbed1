package client

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/secr-dev/secr/internal/tlsroots"
	"github.com/secr-dev/secr/internal/tlsroots/roottest"
)

// The system pool of this test binary: crypto/x509 loads it once per
// process, so TestMain names it before anything can.
var roots struct {
	trusted, other *roottest.CA // both in the bundle
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "secr-client-test-")
	if err != nil {
		panic(err)
	}
	roots.trusted = roottest.NewCA("secr test root")
	roots.other = roottest.NewCA("secr other root")
	bundle := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, roottest.Bundle(roots.other, roots.trusted), 0o644); err != nil {
		panic(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o755); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", bundle)
	os.Setenv("SSL_CERT_DIR", filepath.Join(dir, "certs"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tlsServer answers every request with {} over TLS with a certificate from
// ca, and records the bodies it was sent.
type tlsServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	protos []string
}

func newTLSServer(t *testing.T, ca *roottest.CA) *tlsServer {
	if runtime.GOOS != "linux" {
		t.Skip("root hints apply on Linux only")
	}
	s := &tlsServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.protos = append(s.protos, r.Proto)
		s.mu.Unlock()
		fmt.Fprint(w, "{}")
	}))
	// HTTP/2 and HTTP/1.1, as `secr server` offers them.
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server()}, NextProtos: []string{"h2", "http/1.1"}}
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(true)
	s.Config.Protocols.SetHTTP2(true)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *tlsServer) hostport(t *testing.T) string {
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func (s *tlsServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// newHinted is a client of s, as a new process makes it, with hints.
func newHinted(t *testing.T, s *tlsServer, hints *tlsroots.Hints) (*Client, *hintedTransport) {
	t.Helper()
	c, err := New(s.URL, WithRootHints(hints))
	if err != nil {
		t.Fatal(err)
	}
	ht, ok := c.http.Transport.(*hintedTransport)
	if !ok {
		t.Fatalf("transport is %T, want *hintedTransport", c.http.Transport)
	}
	return c, ht
}

func remembers(t *testing.T, hints *tlsroots.Hints, hostport string, ca *roottest.CA) bool {
	t.Helper()
	want := x509.NewCertPool()
	want.AddCert(ca.Cert)
	pool := hints.Pool(hostport)
	return pool != nil && pool.Equal(want)
}

func TestRootHintRememberedThenUsed(t *testing.T) {
	s := newTLSServer(t, roots.trusted)
	hints := &tlsroots.Hints{Path: filepath.Join(t.TempDir(), "tls-roots")}

	c, ht := newHinted(t, s, hints)
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ht.narrowed.Load() != nil {
		t.Fatal("a narrowed pool with no hint")
	}
	if !remembers(t, hints, s.hostport(t), roots.trusted) {
		t.Fatal("the root that verified the server was not remembered")
	}

	c, ht = newHinted(t, s, hints)
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ht.narrowed.Load() == nil || ht.fellBack.Load() {
		t.Fatal("the second client did not verify against the remembered root alone")
	}
	// HTTP/1.1 even where the server offers HTTP/2: cheaper for a process
	// that makes a few requests (client.go, defaultTransport).
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.protos {
		if p != "HTTP/1.1" {
			t.Fatalf("a request over %s", p)
		}
	}
}

// A hint naming another root of the bundle fails verification; the request
// is then sent once, with its body, through the system pool, and the right
// root is remembered.
func TestRootHintWrongRootFallsBack(t *testing.T) {
	s := newTLSServer(t, roots.trusted)
	hints := &tlsroots.Hints{Path: filepath.Join(t.TempDir(), "tls-roots")}
	if err := hints.Remember(s.hostport(t), [][]*x509.Certificate{{roots.other.Cert}}); err != nil {
		t.Fatal(err)
	}
	c, ht := newHinted(t, s, hints)
	if _, err := c.AuthParams(context.Background(), "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := s.received(); len(got) != 1 || got[0] != `{"email":"ada@example.com"}` {
		t.Fatalf("server received %q, want the request once with its body", got)
	}
	if ht.narrowed.Load() == nil || !ht.fellBack.Load() {
		t.Fatal("the hinted pool was not tried first")
	}
	if !remembers(t, hints, s.hostport(t), roots.trusted) {
		t.Fatal("the wrong hint was not replaced by the root that verified the server")
	}
}

// A server whose certificate chains to a root outside the system pool is
// refused whatever the hints file says, even when that root has the same
// subject as a trusted one, and nothing of the request reaches it.
func TestRootHintAddsNoTrust(t *testing.T) {
	stranger := roottest.NewCA("secr test root")
	s := newTLSServer(t, stranger)
	strangerSum := sha256.Sum256(stranger.Cert.Raw)
	for name, hint := range map[string]func(path string) error{
		"hint names the stranger": func(path string) error {
			line := s.hostport(t) + " " + hex.EncodeToString(strangerSum[:]) + " 0\n"
			return os.WriteFile(path, []byte(line), 0o600)
		},
		"hint names the trusted root of that subject": func(path string) error {
			return (&tlsroots.Hints{Path: path}).Remember(s.hostport(t), [][]*x509.Certificate{{roots.trusted.Cert}})
		},
	} {
		t.Run(name, func(t *testing.T) {
			hints := &tlsroots.Hints{Path: filepath.Join(t.TempDir(), "tls-roots")}
			if err := hint(hints.Path); err != nil {
				t.Fatal(err)
			}
			c, _ := newHinted(t, s, hints)
			_, err := c.AuthParams(context.Background(), "ada@example.com")
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a certificate verification error", err)
			}
			if got := s.received(); len(got) != 0 {
				t.Fatalf("the server received %q", got)
			}
			if remembers(t, hints, s.hostport(t), stranger) {
				t.Fatal("the stranger's root was remembered")
			}
		})
	}
}
