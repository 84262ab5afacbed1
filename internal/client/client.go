// Package client is a typed HTTP client for secr's /v1 API. Every call goes
// through one private do(), which turns the error envelope into *APIError.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

// Sentinels matched with errors.Is against *APIError.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
)

// APIError is a non-2xx answer from the server. Message is the server's
// own explanation, written for the user.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
}

// Is matches the package sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

// StreamEndedError is an event stream the server ended on purpose (an
// "end" event): "idle" after a quiet period, "expired" or "access ended"
// when the principal may no longer read. A reconnect tells which.
type StreamEndedError struct{ Reason string }

func (e *StreamEndedError) Error() string { return "the server ended the change stream: " + e.Reason }

// UnreachableError means no HTTP answer came back at all.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the secr server at %s: %v", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// InsecureURLError refuses a plain-HTTP server URL that is not loopback:
// session tokens and service tokens' auth keys travel in every request, so
// they must not cross a network in cleartext. It is returned by New before
// anything is dialled.
type InsecureURLError struct {
	URL string
}

func (e *InsecureURLError) Error() string {
	return fmt.Sprintf("refusing to send credentials in cleartext to %s: use an https:// URL, "+
		"or pass --insecure (or set SECR_INSECURE=1) if this network is trusted", e.URL)
}

// Client talks to one secr server as one principal.
type Client struct {
	base    string
	http    *http.Client
	auth    string
	headers http.Header // WithHeaders: sent with every request
	pre     *predial    // nil when Preconnect cannot help (a custom transport, a proxy)
	warm    func()      // work the first request needs that Preconnect can start early
}

// predial is a TCP connection to the server dialled ahead of the first
// request (Preconnect), handed to the transport when it dials that address.
type predial struct {
	addr    string
	dialer  *net.Dialer
	started atomic.Bool
	taken   atomic.Bool
	done    chan struct{}
	conn    net.Conn
	err     error
}

// dial is the transport's DialContext: the preconnected connection for its
// address, once, else a new one.
func (p *predial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr == p.addr && p.started.Load() && p.taken.CompareAndSwap(false, true) {
		select {
		case <-p.done:
			if p.err == nil {
				return p.conn, nil
			}
			// Dial again: the error is then this request's own.
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return p.dialer.DialContext(ctx, network, addr)
}

// Preconnect starts dialling the server in the background, so that the
// connection is being made while the caller reads its local state (the
// login, the pinned chain, the cache); the first request then uses it.
// For https it also finds the remembered root (WithRootHints).
// Only a TCP connection is made (TLS is the first request's), and nothing
// is sent. Calling it again, or on a client that cannot use it, does
// nothing.
func (c *Client) Preconnect() {
	p := c.pre
	if p == nil || !p.started.CompareAndSwap(false, true) {
		return
	}
	go func() {
		p.conn, p.err = p.dialer.DialContext(context.Background(), "tcp", p.addr)
		close(p.done)
	}()
	if c.warm != nil {
		go c.warm()
	}
}

// Option configures New.
type Option func(*options)

type options struct {
	allowInsecure bool
	transport     http.RoundTripper
	headers       http.Header
	rootHints     RootHints
}

// AllowInsecure permits a plain http:// URL to a host that is not
// loopback (for a trusted network, or a proxy that adds TLS elsewhere).
func AllowInsecure() Option { return func(o *options) { o.allowInsecure = true } }

// WithTransport makes the client send its requests through rt instead of
// http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// New returns a client for the server at baseURL (e.g. http://127.0.0.1:7700).
// A plain http:// URL must name a loopback host (127.0.0.0/8, ::1 or
// localhost) unless AllowInsecure is given; otherwise New returns an
// *InsecureURLError and nothing is sent.
func New(baseURL string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid server URL %q: want http(s)://host[:port]", baseURL)
	}
	base := strings.TrimRight(u.String(), "/")
	if u.Scheme == "http" && !o.allowInsecure && !IsLoopbackHost(u.Hostname()) {
		// Only scheme and host: a URL's user info must not reach a message.
		return nil, &InsecureURLError{URL: u.Scheme + "://" + u.Host}
	}
	c := &Client{base: base, headers: o.headers}
	rt := o.transport
	if rt == nil {
		rt, c.pre = defaultTransport(u)
		if t, ok := rt.(*http.Transport); ok && o.rootHints != nil && u.Scheme == "https" {
			ht := &hintedTransport{hostport: hostPort(u), hints: o.rootHints, system: t}
			rt, c.warm = ht, ht.prepare
		}
	}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: rt}
	return c, nil
}

// defaultTransport is http.DefaultTransport's configuration, dialling
// through a predial for u's host unless a proxy is configured for u (then
// the connection to make first is the proxy's, and there is no predial).
func defaultTransport(u *url.URL) (http.RoundTripper, *predial) {
	def, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultTransport, nil
	}
	if proxy, err := def.Proxy(&http.Request{URL: u}); err != nil || proxy != nil {
		return def, nil
	}
	p := &predial{addr: hostPort(u), dialer: &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}, done: make(chan struct{})}
	t := def.Clone()
	t.DialContext = p.dial
	// HTTP/1.1 only: a command makes a few requests in sequence, and
	// HTTP/2's connection setup made an https `secr run` about 1 ms slower
	// (9.2 against 10.2 ms, docs/performance.md).
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	// The clone's TLS config may already offer "h2" (once
	// http.DefaultTransport has been used for https in this process).
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	return t, p
}

// hostPort is u's host and port, the port made explicit.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// IsLoopbackHost reports whether host (a URL's hostname, without port or
// brackets) is loopback: "localhost", 127.0.0.0/8 or ::1. It does not
// resolve names: any other name counts as not loopback.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// BaseURL returns the server URL.
func (c *Client) BaseURL() string { return c.base }

// WithSession returns a copy of c that authenticates with a login session.
func (c *Client) WithSession(token string) *Client {
	cc := *c
	cc.auth = api.SchemeBearer + " " + token
	return &cc
}

// WithServiceToken returns a copy of c that authenticates as a service
// token. Only the token ID and derived auth key are sent, never its secret.
func (c *Client) WithServiceToken(id string, authKey []byte) *Client {
	cc := *c
	cc.auth = api.SchemeToken + " " + id + ":" + base64.StdEncoding.EncodeToString(authKey)
	return &cc
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	c.setHeaders(req)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &UnreachableError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return apiError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", method, path, err)
	}
	return nil
}

func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, api.HealthPath, nil, nil)
}

func (c *Client) AuthParams(ctx context.Context, email string) (api.AuthParamsResponse, error) {
	var out api.AuthParamsResponse
	err := c.do(ctx, http.MethodPost, api.AuthParamsPath, api.AuthParamsRequest{Email: email}, &out)
	return out, err
}

func (c *Client) Signup(ctx context.Context, req api.SignupRequest) (api.SessionResponse, error) {
	var out api.SessionResponse
	err := c.do(ctx, http.MethodPost, api.SignupPath, req, &out)
	return out, err
}

func (c *Client) Login(ctx context.Context, req api.LoginRequest) (api.SessionResponse, error) {
	var out api.SessionResponse
	err := c.do(ctx, http.MethodPost, api.LoginPath, req, &out)
	return out, err
}

// Recover proves a recovery code and returns the account key sealed under it.
func (c *Client) Recover(ctx context.Context, req api.RecoverRequest) (api.RecoverResponse, error) {
	var out api.RecoverResponse
	err := c.do(ctx, http.MethodPost, api.RecoverPath, req, &out)
	return out, err
}

// ChangePassword replaces the account's password-derived credentials and
// returns a new session; every other session ends.
func (c *Client) ChangePassword(ctx context.Context, req api.ChangePasswordRequest) (api.SessionResponse, error) {
	var out api.SessionResponse
	err := c.do(ctx, http.MethodPut, api.PasswordPath, req, &out)
	return out, err
}

func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, api.LogoutPath, nil, nil)
}

func (c *Client) WhoAmI(ctx context.Context) (api.WhoAmI, error) {
	var out api.WhoAmI
	err := c.do(ctx, http.MethodGet, api.WhoAmIPath, nil, &out)
	return out, err
}

func (c *Client) ListOrgs(ctx context.Context) ([]api.Org, error) {
	var out []api.Org
	err := c.do(ctx, http.MethodGet, api.OrgsRoute, nil, &out)
	return out, err
}

func (c *Client) CreateOrg(ctx context.Context, req api.CreateOrgRequest) (api.Org, error) {
	var out api.Org
	err := c.do(ctx, http.MethodPost, api.OrgsRoute, req, &out)
	return out, err
}

// Chain fetches org's chain from entry from (inclusive) to the head.
func (c *Client) Chain(ctx context.Context, org string, from uint64) (api.Chain, error) {
	var out api.Chain
	err := c.do(ctx, http.MethodGet, api.Path(api.ChainRoute, org)+"?"+api.ChainFromParam+"="+strconv.FormatUint(from, 10), nil, &out)
	return out, err
}

// Fetch says which parts of an org chain and of an environment's history
// a snapshot or history request should carry: the chain from ChainFrom
// (inclusive) and the revision headers from Since (inclusive; 0: none).
type Fetch struct {
	ChainFrom uint64
	Since     int64
}

func (f Fetch) query() string {
	q := "?" + api.ChainFromParam + "=" + strconv.FormatUint(f.ChainFrom, 10)
	if f.Since > 0 {
		q += "&" + api.SinceParam + "=" + strconv.FormatInt(f.Since, 10)
	}
	return q
}

func (c *Client) ListProjects(ctx context.Context, org string) ([]api.Project, error) {
	var out []api.Project
	err := c.do(ctx, http.MethodGet, api.Path(api.ProjectsRoute, org), nil, &out)
	return out, err
}

func (c *Client) CreateProject(ctx context.Context, org string, req api.CreateProjectRequest) (api.Project, error) {
	var out api.Project
	err := c.do(ctx, http.MethodPost, api.Path(api.ProjectsRoute, org), req, &out)
	return out, err
}

func (c *Client) ListEnvs(ctx context.Context, org, project string) ([]api.Environment, error) {
	var out []api.Environment
	err := c.do(ctx, http.MethodGet, api.Path(api.EnvsRoute, org, project), nil, &out)
	return out, err
}

func (c *Client) CreateEnv(ctx context.Context, org, project string, req api.CreateEnvRequest) (api.Environment, error) {
	var out api.Environment
	err := c.do(ctx, http.MethodPost, api.Path(api.EnvsRoute, org, project), req, &out)
	return out, err
}

// Snapshot fetches the latest revision of an environment, the caller's
// signed grant and the parts of the org chain and history f asks for, in
// one request.
func (c *Client) Snapshot(ctx context.Context, org, project, env string, f Fetch) (api.Snapshot, error) {
	snap, _, err := c.SnapshotIf(ctx, org, project, env, f, "")
	return snap, err
}

// SnapshotIf is Snapshot with a conditional fetch: etag is
// api.SnapshotETag of the snapshot the caller already holds ("" for none).
// When the server answers that it is still the latest, notModified is true
// and snap is empty: the caller uses (and still verifies) what it holds.
func (c *Client) SnapshotIf(ctx context.Context, org, project, env string, f Fetch, etag string) (snap api.Snapshot, notModified bool, err error) {
	return c.snapshot(ctx, api.Path(api.SnapshotRoute, org, project, env)+f.query(), etag)
}

// TokenSnapshot is Snapshot for a service token's own environment.
func (c *Client) TokenSnapshot(ctx context.Context, f Fetch) (api.Snapshot, error) {
	snap, _, err := c.TokenSnapshotIf(ctx, f, "")
	return snap, err
}

// TokenSnapshotIf is SnapshotIf for a service token's own environment.
func (c *Client) TokenSnapshotIf(ctx context.Context, f Fetch, etag string) (api.Snapshot, bool, error) {
	return c.snapshot(ctx, api.TokenSnapshotPath+f.query(), etag)
}

// maxSnapshotBody bounds a snapshot answer: the largest revision plus
// room for its header.
const maxSnapshotBody = api.MaxCiphertext + 1<<20

// snapshot asks for the binary form (api.SnapshotMediaType), which carries
// the ciphertext raw instead of base64 in JSON; a server that answers JSON
// is understood too.
func (c *Client) snapshot(ctx context.Context, path, etag string) (api.Snapshot, bool, error) {
	var snap api.Snapshot
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return snap, false, err
	}
	req.Header.Set("Accept", api.SnapshotMediaType+", application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	c.setHeaders(req)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return snap, false, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return snap, false, &UnreachableError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		if etag == "" || resp.Header.Get("ETag") != etag {
			// Only what was asked about can be "not modified".
			return snap, false, fmt.Errorf("GET %s: the server answered 304 Not Modified for a snapshot this client does not hold", path)
		}
		return snap, true, nil
	}
	if resp.StatusCode >= 300 {
		return snap, false, apiError(resp)
	}
	if resp.Header.Get("Content-Type") != api.SnapshotMediaType {
		// JSON (from a server without the binary form) has the same bound:
		// base64 makes the ciphertext 4/3 as large.
		body := io.LimitReader(resp.Body, maxSnapshotBody*4/3+1)
		if err := json.NewDecoder(body).Decode(&snap); err != nil {
			return snap, false, fmt.Errorf("decode GET %s response: %w", path, err)
		}
		if snap.Revision != nil && len(snap.Revision.Ciphertext) > api.MaxCiphertext {
			return snap, false, fmt.Errorf("GET %s: snapshot ciphertext larger than %d bytes", path, api.MaxCiphertext)
		}
		return snap, false, nil
	}
	size := 64 << 10
	if resp.ContentLength > 0 && resp.ContentLength <= maxSnapshotBody {
		size = int(resp.ContentLength)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+1))
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxSnapshotBody+1)); err != nil {
		return snap, false, fmt.Errorf("read GET %s response: %w", path, err)
	}
	if buf.Len() > maxSnapshotBody {
		return snap, false, fmt.Errorf("GET %s: snapshot answer larger than %d bytes", path, maxSnapshotBody)
	}
	snap, err = api.DecodeSnapshot(buf.Bytes())
	if err != nil {
		return snap, false, fmt.Errorf("decode GET %s response: %w", path, err)
	}
	return snap, false, nil
}

// printable keeps a server's text from driving the terminal: control
// characters (escape sequences, carriage returns that overwrite a line)
// become '?', and it is cut at max bytes.
func printable(s string, max int) string {
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}

// apiError reads the error envelope of a non-2xx answer.
func apiError(resp *http.Response) *APIError {
	ae := &APIError{Status: resp.StatusCode}
	var env api.Error
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&env) == nil {
		ae.Code, ae.Message, ae.RetryAfter = env.Code, printable(env.Message, 1024), env.RetryAfter
	}
	return ae
}

func (c *Client) History(ctx context.Context, org, project, env string, f Fetch) (api.History, error) {
	var out api.History
	err := c.do(ctx, http.MethodGet, api.Path(api.RevisionsRoute, org, project, env)+f.query(), nil, &out)
	return out, err
}

func (c *Client) WriteRevision(ctx context.Context, org, project, env string, req api.WriteRevisionRequest) (int64, error) {
	var out api.WriteRevisionResponse
	err := c.do(ctx, http.MethodPost, api.Path(api.RevisionsRoute, org, project, env), req, &out)
	return out.Revision, err
}

func (c *Client) CreateToken(ctx context.Context, org, project string, req api.CreateTokenRequest) (api.TokenInfo, error) {
	var out api.TokenInfo
	err := c.do(ctx, http.MethodPost, api.Path(api.TokensRoute, org, project), req, &out)
	return out, err
}

func (c *Client) ListTokens(ctx context.Context, org, project string) ([]api.TokenInfo, error) {
	var out []api.TokenInfo
	err := c.do(ctx, http.MethodGet, api.Path(api.TokensRoute, org, project), nil, &out)
	return out, err
}

// Events follows an environment's Server-Sent Events stream at path (an
// environment's …/events, or api.TokenEventsPath) and calls fn with each
// revision number, the first being the latest at connect time. It returns
// when ctx ends or the stream breaks; the caller reconnects.
func (c *Client) Events(ctx context.Context, path string, fn func(rev int64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	c.setHeaders(req)
	// No overall timeout: the stream lives as long as ctx.
	stream := &http.Client{Transport: c.http.Transport}
	resp, err := stream.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		ae := &APIError{Status: resp.StatusCode}
		var env api.Error
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&env) == nil {
			ae.Code, ae.Message = env.Code, env.Message
		}
		return ae
	}
	sc := bufio.NewScanner(resp.Body)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			switch event {
			case "revision":
				var ev api.RevisionEvent
				if json.Unmarshal([]byte(data), &ev) == nil {
					fn(ev.Revision)
				}
			case "end":
				var ev struct {
					Reason string `json:"reason"`
				}
				_ = json.Unmarshal([]byte(data), &ev)
				return &StreamEndedError{Reason: ev.Reason}
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
