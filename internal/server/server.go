// Package server implements secr's HTTP JSON API. It stores only hashes,
// public keys and ciphertext; it never sees a plaintext secret or a key that
// can open one.
package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/store"
)

// Config configures a Server.
type Config struct {
	Store  store.Store
	Logger *slog.Logger
	// SignupOpen lets anyone create an account; when false, signup is refused.
	SignupOpen bool
	// SessionTTL is how long a login lasts. Zero means 30 days.
	SessionTTL time.Duration
	// Now is the clock; nil means time.Now. Tests set it to expire things.
	Now func() time.Time
	// TrustedProxies are the peers (reverse proxies, load balancers) whose
	// X-Forwarded-For header names the client. From any other peer the
	// header is ignored and the TCP peer is the client.
	TrustedProxies []netip.Prefix

	// MaxStreamsPerPrincipal caps one principal's concurrently open event
	// streams on this server (0: 10; negative: no cap).
	MaxStreamsPerPrincipal int
	// StreamHeartbeat is how often an idle event stream gets a comment
	// line, so proxies keep it open and dead clients are noticed (0: 25 s).
	StreamHeartbeat time.Duration
	// StreamIdle ends an event stream that carried no revision for this
	// long, by the server's clock; clients reconnect (0: 1 h).
	StreamIdle time.Duration
	// StreamRecheck is how often an event stream re-checks its session or
	// token and grant even without a notification (0: 30 s).
	StreamRecheck time.Duration
	// StreamClockCheck is how often a stream compares the server's clock
	// with its principal's expiry and its idle limit (0: 1 s).
	StreamClockCheck time.Duration
	// AuditRetention is how long audit entries are kept (0: forever).
	AuditRetention time.Duration
}

// Server is the API handler.
type Server struct {
	store      store.Store
	log        *slog.Logger
	signupOpen bool
	sessionTTL time.Duration
	now        func() time.Time
	trusted    []netip.Prefix
	events     *broker
	authCache  *authCache

	maxStreams                                                   int
	streamHeartbeat, streamIdle, streamRecheck, streamClockCheck time.Duration
	mux                                                          *http.ServeMux
	auditRetention                                               time.Duration
	// bufs holds *bytes.Buffer for answers (writeSnapshot).
	bufs sync.Pool
	// heads holds encoded snapshot answer heads (writeSnapshot).
	heads headCache
}

const maxBodyBytes = 8 << 20

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{
		store:      cfg.Store,
		log:        cfg.Logger,
		signupOpen: cfg.SignupOpen,
		sessionTTL: cfg.SessionTTL,
		now:        cfg.Now,
		trusted:    slices.Clone(cfg.TrustedProxies),
		mux:        http.NewServeMux(),
		events:     newBroker(),
		authCache:  newAuthCache(),
		bufs:       sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	s.auditRetention = cfg.AuditRetention
	// Every access change (logout, password change, token revocation, here
	// or on another replica) empties the auth cache.
	s.events.onRecheck = s.authCache.invalidate
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.sessionTTL == 0 {
		s.sessionTTL = 30 * 24 * time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.maxStreams = cfg.MaxStreamsPerPrincipal
	if s.maxStreams == 0 {
		s.maxStreams = defaultMaxStreams
	}
	orDefault := func(d, def time.Duration) time.Duration {
		if d <= 0 {
			return def
		}
		return d
	}
	s.streamHeartbeat = orDefault(cfg.StreamHeartbeat, defaultStreamHeartbeat)
	s.streamIdle = orDefault(cfg.StreamIdle, defaultStreamIdle)
	s.streamRecheck = orDefault(cfg.StreamRecheck, defaultStreamRecheck)
	s.streamClockCheck = orDefault(cfg.StreamClockCheck, defaultStreamClockCheck)
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET "+api.HealthPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("POST "+api.AuthParamsPath, s.public(s.handleAuthParams))
	m.HandleFunc("POST "+api.SignupPath, s.public(s.handleSignup))
	m.HandleFunc("POST "+api.LoginPath, s.public(s.handleLogin))
	m.HandleFunc("POST "+api.LogoutPath, s.authed(s.handleLogout))
	m.HandleFunc("POST "+api.RecoverPath, s.public(s.handleRecover))
	m.HandleFunc("PUT "+api.PasswordPath, s.public(s.handleChangePassword))
	m.HandleFunc("GET "+api.WhoAmIPath, s.authed(s.handleWhoAmI))
	m.HandleFunc("GET "+api.TokenSnapshotPath, s.authed(s.handleTokenSnapshot))
	m.HandleFunc("GET "+api.TokenEventsPath, s.authed(s.handleTokenEvents))
	m.HandleFunc("GET "+api.EventsRoute, s.authed(s.handleEvents))

	m.HandleFunc("GET "+api.OrgsRoute, s.authed(s.handleListOrgs))
	m.HandleFunc("POST "+api.OrgsRoute, s.authed(s.handleCreateOrg))
	m.HandleFunc("GET "+api.ChainRoute, s.authed(s.handleChain))
	m.HandleFunc("GET "+api.ProjectsRoute, s.authed(s.handleListProjects))
	m.HandleFunc("POST "+api.ProjectsRoute, s.authed(s.handleCreateProject))
	m.HandleFunc("GET "+api.ProjectRoute, s.authed(s.handleGetProject))
	m.HandleFunc("GET "+api.EnvsRoute, s.authed(s.handleListEnvs))
	m.HandleFunc("POST "+api.EnvsRoute, s.authed(s.handleCreateEnv))
	m.HandleFunc("GET "+api.SnapshotRoute, s.authed(s.handleSnapshot))
	m.HandleFunc("GET "+api.RevisionsRoute, s.authed(s.handleHistory))
	m.HandleFunc("POST "+api.RevisionsRoute, s.authed(s.handleWriteRevision))
	m.HandleFunc("GET "+api.TokensRoute, s.authed(s.handleListTokens))
	m.HandleFunc("POST "+api.TokensRoute, s.authed(s.handleCreateToken))
	m.HandleFunc("DELETE "+api.TokenRoute, s.authed(s.handleRevokeToken))
	s.routesTeams()
	m.HandleFunc("GET "+api.AuditRoute, s.authed(s.handleAuditLog))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound("no such API endpoint %s %s", r.Method, r.URL.Path))
	})
}

// ServeHTTP logs each request without bodies, headers or query strings, so
// no token or ciphertext reaches a log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	r.Body = http.MaxBytesReader(rec, r.Body, maxBodyBytes)
	s.mux.ServeHTTP(rec, r)
	pattern := r.Pattern
	if pattern == "" {
		pattern = r.Method + " (unmatched)"
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("route", pattern),
		slog.Int("status", rec.status),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", s.clientAddr(r)),
	)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach Flush on event streams.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// httpError is an error with a status and a message safe to show the caller.
type httpError struct {
	status     int
	code       string
	msg        string
	retryAfter int
}

func (e *httpError) Error() string { return e.msg }

func errBadRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf(format, args...), 0}
}
func errUnauthorized(format string, args ...any) error {
	return &httpError{http.StatusUnauthorized, api.CodeUnauthorized, fmt.Sprintf(format, args...), 0}
}
func errForbidden(format string, args ...any) error {
	return &httpError{http.StatusForbidden, api.CodeForbidden, fmt.Sprintf(format, args...), 0}
}
func errNotFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, api.CodeNotFound, fmt.Sprintf(format, args...), 0}
}
func errConflict(format string, args ...any) error {
	return &httpError{http.StatusConflict, api.CodeConflict, fmt.Sprintf(format, args...), 0}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError is the one place errors become responses. Unexpected errors
// are logged (their text comes from the store, never from request bodies)
// and answered with a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			he = &httpError{http.StatusRequestEntityTooLarge, api.CodeBadRequest, "request body too large", 0}
		} else if errors.Is(err, store.ErrAuditWrite) {
			s.log.ErrorContext(r.Context(), "audit log write failed: request refused", slog.String("route", r.Pattern), slog.String("error", err.Error()))
			he = &httpError{http.StatusInternalServerError, api.CodeInternal, auditRefused, 0}
		} else {
			s.log.ErrorContext(r.Context(), "internal error", slog.String("route", r.Pattern), slog.String("error", err.Error()))
			he = &httpError{http.StatusInternalServerError, api.CodeInternal, "internal server error", 0}
		}
	}
	writeError(w, he)
}

func writeError(w http.ResponseWriter, err error) {
	he := err.(*httpError)
	if he.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(he.retryAfter))
	}
	writeJSON(w, he.status, api.Error{Code: he.code, Message: he.msg, RetryAfter: he.retryAfter})
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errBadRequest("malformed JSON request body")
	}
	return nil
}

// handlerFunc is a handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

// public adapts a handler that needs no authentication.
func (s *Server) public(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *Server) authed(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r.Context(), r.Header.Get("Authorization"))
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}
}

// clientAddr is the client's IP address: the TCP peer, or, when the peer is
// a trusted proxy, the rightmost address in X-Forwarded-For that is not a
// trusted proxy itself (the entries to its left are the client's word and
// are not believed).
func (s *Server) clientAddr(r *http.Request) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	ip, err := netip.ParseAddr(peer)
	if err != nil || !s.isTrusted(ip) {
		return peer
	}
	client := ip
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := parseHop(strings.TrimSpace(hops[i]))
		if err != nil {
			break // not an address a proxy of ours wrote: stop at the last one that was
		}
		client = hop.Unmap()
		if !s.isTrusted(client) {
			break
		}
	}
	return client.String()
}

// parseHop parses an X-Forwarded-For entry: an address, or (as some
// proxies write it) an address with a port.
func parseHop(h string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a, nil
	}
	ap, err := netip.ParseAddrPort(h)
	return ap.Addr(), err
}

func (s *Server) isTrusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
