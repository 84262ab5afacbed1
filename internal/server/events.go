package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

// broker fans revision notifications out to the event streams of one
// server process, tells streams to re-check their principal's access, and
// counts each principal's open streams. With PostgreSQL, notifications
// from other replicas arrive through the store's listener and are
// published here too.
type broker struct {
	mu      sync.Mutex
	subs    map[string]map[chan int64]struct{}
	access  map[string]map[chan struct{}]struct{} // by principal ID
	streams map[string]int                        // open streams by principal ID
	closed  bool
	// onRecheck runs at every recheck, before the streams are told.
	onRecheck func()
}

func newBroker() *broker {
	return &broker{
		subs:    map[string]map[chan int64]struct{}{},
		access:  map[string]map[chan struct{}]struct{}{},
		streams: map[string]int{},
	}
}

// subscribe returns a channel of new revision numbers for envID. The
// channel is closed when the server shuts down.
func (b *broker) subscribe(envID string) (chan int64, func()) {
	ch := make(chan int64, 8)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	if b.subs[envID] == nil {
		b.subs[envID] = map[chan int64]struct{}{}
	}
	b.subs[envID][ch] = struct{}{}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[envID][ch]; ok {
			delete(b.subs[envID], ch)
			if len(b.subs[envID]) == 0 {
				delete(b.subs, envID)
			}
			close(ch)
		}
	}
}

// publish tells envID's subscribers about revision rev. A subscriber that
// is not keeping up misses intermediate numbers, never the latest: each
// event carries the newest revision.
func (b *broker) publish(envID string, rev int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[envID] {
		select {
		case ch <- rev:
		default:
			select { // drop the oldest queued number, keep the newest
			case <-ch:
			default:
			}
			select {
			case ch <- rev:
			default:
			}
		}
	}
}

// open registers a stream of principalID, unless it already has max open
// (max <= 0: no limit). It returns a channel that receives a value when
// the principal's access may have changed, and a function that closes the
// stream's registration.
func (b *broker) open(principalID string, max int) (<-chan struct{}, func(), bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if max > 0 && b.streams[principalID] >= max {
		return nil, nil, false
	}
	b.streams[principalID]++
	ch := make(chan struct{}, 1)
	if b.access[principalID] == nil {
		b.access[principalID] = map[chan struct{}]struct{}{}
	}
	b.access[principalID][ch] = struct{}{}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.access[principalID], ch)
		if len(b.access[principalID]) == 0 {
			delete(b.access, principalID)
		}
		if b.streams[principalID]--; b.streams[principalID] <= 0 {
			delete(b.streams, principalID)
		}
	}, true
}

// recheck asks principalID's streams (every stream, with "") to re-check
// its access.
func (b *broker) recheck(principalID string) {
	if b.onRecheck != nil {
		b.onRecheck() // before the streams look again
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, chans := range b.access {
		if principalID != "" && id != principalID {
			continue
		}
		for ch := range chans {
			select {
			case ch <- struct{}{}:
			default: // a re-check is already pending
			}
		}
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for env, subs := range b.subs {
		for ch := range subs {
			close(ch)
		}
		delete(b.subs, env)
	}
}

// Publish announces a revision written elsewhere (another replica).
func (s *Server) Publish(envID string, rev int64) { s.events.publish(envID, rev) }

// AccessChanged announces that principalID's sessions, token or grants
// changed elsewhere (another replica): its event streams re-check access
// and end if it is gone.
func (s *Server) AccessChanged(principalID string) { s.events.recheck(principalID) }

// RecheckStreams makes every event stream re-check its access, for when
// notifications from other replicas may have been missed.
func (s *Server) RecheckStreams() { s.events.recheck("") }

// CloseStreams ends every event stream, so that graceful shutdown does not
// wait for them. Register it with http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() { s.events.close() }

// Defaults of the stream settings in Config.
const (
	defaultStreamHeartbeat  = 25 * time.Second
	defaultStreamIdle       = time.Hour
	defaultStreamRecheck    = 30 * time.Second
	defaultMaxStreams       = 10
	streamWriteTimeout      = 15 * time.Second
	defaultStreamClockCheck = time.Second
)

// streamEvents serves Server-Sent Events for one environment: first the
// current latest revision, then each new one, with comment heartbeats so
// proxies keep the connection open. The stream ends (after an "end" event
// naming the reason) when the principal's session or token ends or
// expires, its grant on the environment is gone, or no revision came for
// the idle limit; clients reconnect, and are refused if access is gone.
// recheck re-authenticates the request and re-resolves its access.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, p *principal, sc scope, recheck func(context.Context) error) error {
	if sc.access.Grant == nil {
		return noAccess(sc.env.Name)
	}
	changed, closeStream, ok := s.events.open(p.id, s.maxStreams)
	if !ok {
		return &httpError{http.StatusTooManyRequests, api.CodeRateLimited,
			fmt.Sprintf("too many open event streams for this principal (at most %d per server): close some", s.maxStreams), 0}
	}
	defer closeStream()
	ch, cancel := s.events.subscribe(sc.env.ID)
	defer cancel()
	rc := http.NewResponseController(w)
	// The server's ReadTimeout would otherwise end a long-lived stream.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Every write has a deadline, so a client that stops reading is dropped.
	emit := func(format string, args ...any) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return err
		}
		return rc.Flush()
	}
	send := func(rev int64) error {
		data, _ := json.Marshal(map[string]int64{"revision": rev})
		return emit("event: revision\ndata: %s\n\n", data)
	}
	end := func(reason string) error {
		data, _ := json.Marshal(map[string]string{"reason": reason})
		_ = emit("event: end\ndata: %s\n\n", data)
		s.log.InfoContext(r.Context(), "event stream ended", "principal", p.id, "env", sc.env.ID, "reason", reason)
		return nil
	}
	var latest int64
	if sc.access.Latest != nil {
		latest = sc.access.Latest.Revision
	}
	// The time of an event is read before it is sent: once the client has
	// it, it may act (a test moves the injected clock), and a time read
	// after that would be later than the event.
	lastEvent := s.now()
	if err := send(latest); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(s.streamHeartbeat)
	defer heartbeat.Stop()
	full := time.NewTicker(s.streamRecheck)
	defer full.Stop()
	// Expiry and idleness are read on the server's clock (injected in
	// tests) every streamClockCheck.
	clock := time.NewTicker(s.streamClockCheck)
	defer clock.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case rev, ok := <-ch:
			if !ok {
				return nil // shutting down
			}
			sent := s.now()
			if send(rev) != nil {
				return nil
			}
			lastEvent = sent
		case <-changed:
			if err := recheck(r.Context()); err != nil {
				return end("access ended")
			}
		case <-full.C:
			if err := recheck(r.Context()); err != nil {
				return end("access ended")
			}
		case <-clock.C:
			now := s.now()
			if !p.expires.IsZero() && !now.Before(p.expires) {
				return end("expired")
			}
			if now.Sub(lastEvent) >= s.streamIdle {
				return end("idle")
			}
		case <-heartbeat.C:
			if emit(": ping\n\n") != nil {
				return nil
			}
		}
	}
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, p *principal) error {
	org, proj, env := r.PathValue("org"), r.PathValue("project"), r.PathValue("env")
	sc, err := s.resolveEnv(r.Context(), p, org, proj, env)
	if err != nil {
		return err
	}
	return s.streamEvents(w, r, p, sc, func(ctx context.Context) error {
		p2, err := s.authenticate(ctx, r.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		sc2, err := s.resolveEnv(ctx, p2, org, proj, env)
		if err != nil {
			return err
		}
		if sc2.access.Grant == nil || sc2.env.ID != sc.env.ID {
			return noAccess(env)
		}
		return nil
	})
}

func (s *Server) handleTokenEvents(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.tokenScope(r.Context(), p)
	if err != nil {
		return err
	}
	return s.streamEvents(w, r, p, sc, func(ctx context.Context) error {
		p2, err := s.authenticate(ctx, r.Header.Get("Authorization"))
		if err != nil {
			return err
		}
		sc2, err := s.tokenScope(ctx, p2)
		if err != nil {
			return err
		}
		if sc2.access.Grant == nil || sc2.env.ID != sc.env.ID {
			return noAccess(sc.env.Name)
		}
		return nil
	})
}
