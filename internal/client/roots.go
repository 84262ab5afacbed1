package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
)

// RootHints lets a client verify an https server against the one system
// root that verified it last time, instead of loading the whole system
// pool (package tlsroots says why and how).
type RootHints interface {
	// Pool returns the pool to verify hostport against first, or nil for
	// the system pool. It must hold only certificates of the system pool.
	Pool(hostport string) *x509.CertPool
	// Remember is given the chains that verified hostport against the
	// system pool.
	Remember(hostport string, chains [][]*x509.Certificate) error
}

// WithRootHints makes an https client verify the server against hints'
// pool first, and against the system pool when that fails verification.
// It applies only to the default transport (not WithTransport).
func WithRootHints(h RootHints) Option { return func(o *options) { o.rootHints = h } }

// hintedTransport sends requests through a copy of system whose only root
// is the hinted one. When that copy's handshake fails to verify the server,
// it sends them through system itself from then on, and remembers the root
// that verified the server there. Verification is crypto/tls's in both:
// only the pool differs, and the hinted pool is a subset of the system one.
type hintedTransport struct {
	hostport string
	hints    RootHints
	system   *http.Transport

	once     sync.Once
	narrowed atomic.Pointer[http.Transport] // nil: no hint

	fellBack   atomic.Bool
	remembered atomic.Bool
}

// prepare builds the narrowed transport, once: Preconnect starts it early,
// and the first request waits for it.
func (t *hintedTransport) prepare() {
	t.once.Do(func() {
		if t.system.Proxy != nil {
			// Through an HTTPS proxy the pool would verify the proxy's
			// certificate too: no narrowing, or every run would fall back.
			req := &http.Request{URL: &url.URL{Scheme: "https", Host: t.hostport}}
			if p, err := t.system.Proxy(req); err != nil || p != nil && p.Scheme == "https" {
				return
			}
		}
		if pool := t.hints.Pool(t.hostport); pool != nil {
			n := t.system.Clone()
			if n.TLSClientConfig == nil {
				n.TLSClientConfig = &tls.Config{}
			}
			n.TLSClientConfig.RootCAs = pool
			t.narrowed.Store(n)
		}
	})
}

func (t *hintedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if hostPort(req.URL) != t.hostport {
		// A redirect to another server: the hint is not its, and its root
		// must not be remembered as this one's.
		return t.system.RoundTrip(req)
	}
	t.prepare()
	if n := t.narrowed.Load(); n != nil && !t.fellBack.Load() {
		resp, err := n.RoundTrip(req)
		var verr *tls.CertificateVerificationError
		if err == nil || !errors.As(err, &verr) {
			return resp, err
		}
		// The handshake failed, so this attempt wrote nothing of req, and it
		// can be sent again whatever its method. (Go's transport may have
		// written it on an idle connection that then broke, before dialling
		// this one; it retries only where it may, and so does this.)
		t.fellBack.Store(true)
		n.CloseIdleConnections()
		again, ok := rewound(req)
		if !ok {
			return nil, err
		}
		req = again
	}
	resp, err := t.system.RoundTrip(req)
	if err == nil && resp.TLS != nil && t.remembered.CompareAndSwap(false, true) {
		// A cache: failing to write it costs the next run time, nothing else.
		_ = t.hints.Remember(t.hostport, resp.TLS.VerifiedChains)
	}
	return resp, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach both
// transports.
func (t *hintedTransport) CloseIdleConnections() {
	if n := t.narrowed.Load(); n != nil {
		n.CloseIdleConnections()
	}
	t.system.CloseIdleConnections()
}

// rewound returns req with a fresh body, for sending again: the transport
// has closed the body of the failed attempt. A body that cannot be
// recreated (no GetBody) cannot be sent again.
func rewound(req *http.Request) (*http.Request, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	again := req.Clone(req.Context())
	again.Body = body
	return again, true
}
