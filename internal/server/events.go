package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// broker fans revision notifications out to the event streams of one
// server process. With PostgreSQL, notifications from other replicas
// arrive through the store's listener and are published here too.
type broker struct {
	mu     sync.Mutex
	subs   map[string]map[chan int64]struct{}
	closed bool
}

func newBroker() *broker { return &broker{subs: map[string]map[chan int64]struct{}{}} }

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

// CloseStreams ends every event stream, so that graceful shutdown does not
// wait for them. Register it with http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() { s.events.close() }

const heartbeat = 25 * time.Second

// streamEvents serves Server-Sent Events for one environment: first the
// current latest revision, then each new one, with comment heartbeats so
// proxies keep the connection open.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, sc scope) error {
	if sc.access.Grant == nil {
		return noAccess(sc.env.Name)
	}
	ch, cancel := s.events.subscribe(sc.env.ID)
	defer cancel()
	rc := http.NewResponseController(w)
	// The server's ReadTimeout would otherwise end a long-lived stream.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(rev int64) error {
		data, _ := json.Marshal(map[string]int64{"revision": rev})
		if _, err := fmt.Fprintf(w, "event: revision\ndata: %s\n\n", data); err != nil {
			return err
		}
		return rc.Flush()
	}
	var latest int64
	if sc.access.Latest != nil {
		latest = sc.access.Latest.Revision
	}
	if err := send(latest); err != nil {
		return nil
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case rev, ok := <-ch:
			if !ok {
				return nil // shutting down
			}
			if send(rev) != nil {
				return nil
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return nil
			}
		}
	}
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveEnv(r.Context(), p, r.PathValue("org"), r.PathValue("project"), r.PathValue("env"))
	if err != nil {
		return err
	}
	return s.streamEvents(w, r, sc)
}

func (s *Server) handleTokenEvents(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.tokenScope(r, p)
	if err != nil {
		return err
	}
	return s.streamEvents(w, r, sc)
}
