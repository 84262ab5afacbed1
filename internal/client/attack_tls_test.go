package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/secr-dev/secr/internal/tlsroots"
	"github.com/secr-dev/secr/internal/tlsroots/roottest"
)

// editBundle replaces the test binary's CA bundle (SSL_CERT_FILE) with
// edit's result until the test ends. crypto/x509 is made to load the system
// pool first, from the bundle as TestMain wrote it (roots.other and
// roots.trusted): that is the pool every process sees from then on.
func editBundle(t *testing.T, edit func(orig []byte) []byte) {
	t.Helper()
	if _, err := x509.SystemCertPool(); err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("SSL_CERT_FILE")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(path, orig, 0o644) })
	if err := os.WriteFile(path, edit(orig), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An administrator distrusts a CA by commenting out the BEGIN line of its
// block in the bundle: crypto/x509 (pem.Decode wants BEGIN at the start of a
// line) no longer takes it, and a process without hints refuses a server
// whose certificate it issued. A process with a hint written while the CA
// was trusted still finds "-----BEGIN CERTIFICATE-----" one byte further on,
// decodes the block from there, and trusts that CA alone: the request, with
// its Authorization header and body, goes to a server the system pool
// refuses.
func TestAttackTLS_DisabledRootStillTrusted(t *testing.T) {
	distrusted := roottest.NewCA("secr distrusted root")
	s := newTLSServer(t, distrusted)
	hints := &tlsroots.Hints{Path: filepath.Join(t.TempDir(), "tls-roots")}

	// While the CA was in the bundle, a run verified the server and
	// remembered it.
	editBundle(t, func(orig []byte) []byte { return append(orig, distrusted.PEM()...) })
	if err := hints.Remember(s.hostport(t), [][]*x509.Certificate{{distrusted.Cert}}); err != nil {
		t.Fatal(err)
	}
	if !remembers(t, hints, s.hostport(t), distrusted) {
		t.Fatal("setup: the root was not remembered")
	}
	// Then it is disabled in the bundle.
	editBundle(t, func(orig []byte) []byte {
		return append(orig[:len(orig)-len(distrusted.PEM())], append([]byte("#"), distrusted.PEM()...)...)
	})

	// Without a hint the client refuses the server (the baseline).
	plain, err := New(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	var verr *tls.CertificateVerificationError
	if err := plain.Health(context.Background()); !errors.As(err, &verr) {
		t.Fatalf("setup: without hints, err = %v, want a certificate verification error", err)
	}

	c, _ := newHinted(t, s, hints)
	_, err = c.WithSession("session-secret").AuthParams(context.Background(), "ada@example.com")
	if !errors.As(err, &verr) {
		t.Errorf("with the hint, err = %v, want a certificate verification error", err)
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("a server the system pool refuses received %q", got)
	}
}

// A redirect is followed through the same hintedTransport, whose hostport
// is the client's server. When the redirect's target verifies against
// another root, the fallback remembers that root as the client's server's:
// the hint that was right is replaced by a wrong one, and the next process
// pays a failed handshake before the real one. A server can do this at
// will (cost only, no trust).
func TestAttackTLS_RedirectRemembersOtherHostsRoot(t *testing.T) {
	if _, err := x509.SystemCertPool(); err != nil {
		t.Fatal(err)
	}
	target := newTLSServer(t, roots.other)
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
	}))
	origin.TLS = &tls.Config{Certificates: []tls.Certificate{roots.trusted.Server()}}
	origin.StartTLS()
	t.Cleanup(origin.Close)
	originHost := origin.Listener.Addr().String()

	hints := &tlsroots.Hints{Path: filepath.Join(t.TempDir(), "tls-roots")}
	if err := hints.Remember(originHost, [][]*x509.Certificate{{roots.trusted.Cert}}); err != nil {
		t.Fatal(err)
	}
	c, err := New(origin.URL, WithRootHints(hints))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !remembers(t, hints, originHost, roots.trusted) {
		t.Fatal("the right hint for the server was replaced by the root of the host it redirected to")
	}
}

// connectProxy is an HTTPS proxy (TLS to the proxy, then CONNECT) with a
// certificate from ca.
func connectProxy(t *testing.T, ca *roottest.CA) *url.URL {
	t.Helper()
	p := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		buf.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
		buf.Flush()
		go func() { io.Copy(up, buf); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	}))
	p.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server()}}
	p.StartTLS()
	t.Cleanup(p.Close)
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Through an HTTPS proxy (HTTPS_PROXY=https://…; New then wraps
// http.DefaultTransport itself) the narrowed pool also verifies the
// proxy's certificate. When the proxy's CA is not the server's, every
// process fails that handshake and falls back; and since the fallback
// remembers the server's root again, it never learns: each run pays one
// more TLS handshake than before the change, for good. (Cost only: nothing
// is sent before the proxy's certificate verifies.) Built by hand because
// ProxyFromEnvironment reads the environment once per process.
func TestAttackTLS_HTTPSProxyAlwaysFallsBack(t *testing.T) {
	s := newTLSServer(t, roots.trusted)
	proxy := connectProxy(t, roots.other)
	hints := &tlsroots.Hints{Path: filepath.Join(t.TempDir(), "tls-roots")}
	for run := range 3 {
		system := http.DefaultTransport.(*http.Transport).Clone()
		system.Proxy = http.ProxyURL(proxy)
		ht := &hintedTransport{hostport: s.hostport(t), hints: hints, system: system}
		c := &Client{base: s.URL, http: &http.Client{Transport: ht}}
		if err := c.Health(context.Background()); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		c.http.CloseIdleConnections()
		if run > 0 && ht.fellBack.Load() {
			t.Fatalf("run %d: the hint failed again (on the proxy's certificate) and the request fell back to the system pool", run)
		}
	}
}

// Not a finding (it holds): many requests at once through a client whose
// hint is wrong, under -race; each request reaches the server exactly once.
func TestAttackTLS_ConcurrentFallback(t *testing.T) {
	s := newTLSServer(t, roots.trusted)
	hints := &tlsroots.Hints{Path: filepath.Join(t.TempDir(), "tls-roots")}
	if err := hints.Remember(s.hostport(t), [][]*x509.Certificate{{roots.other.Cert}}); err != nil {
		t.Fatal(err)
	}
	c, _ := newHinted(t, s, hints)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := c.AuthParams(context.Background(), fmt.Sprintf("u%d@example.com", i))
			errs <- err
		}()
		go func() { // no body: the same *http.Request is sent again
			defer wg.Done()
			errs <- c.Health(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for _, b := range s.received() {
		if b != "" {
			seen[b]++
		}
	}
	if len(seen) != n {
		t.Fatalf("server saw %d distinct bodies, want %d", len(seen), n)
	}
	for b, k := range seen {
		if k != 1 {
			t.Fatalf("%s received %d times", b, k)
		}
	}
	if !remembers(t, hints, s.hostport(t), roots.trusted) {
		t.Fatal("the right root was not remembered")
	}
	c.http.CloseIdleConnections()
}

// Not a finding (it holds): with the right root hinted, a certificate for
// another name is still refused (crypto/tls checks the name against the
// narrowed pool's chain as against the system pool's), nothing reaches the
// server, and nothing is remembered for that name.
func TestAttackTLS_NameStillChecked(t *testing.T) {
	s := newTLSServer(t, roots.trusted) // a certificate for 127.0.0.1 only
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	byName := "https://localhost:" + u.Port()
	hints := &tlsroots.Hints{Path: filepath.Join(t.TempDir(), "tls-roots")}
	if err := hints.Remember("localhost:"+u.Port(), [][]*x509.Certificate{{roots.trusted.Cert}}); err != nil {
		t.Fatal(err)
	}
	c, err := New(byName, WithRootHints(hints))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AuthParams(context.Background(), "ada@example.com")
	var herr x509.HostnameError
	if !errors.As(err, &herr) {
		t.Fatalf("err = %v, want a hostname error", err)
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("the server received %q", got)
	}
	if ht := c.http.Transport.(*hintedTransport); ht.narrowed.Load() == nil || !ht.fellBack.Load() {
		t.Fatal("the narrowed pool was not tried, then the system pool")
	}
}
