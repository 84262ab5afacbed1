package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
)

// watchDebounce gathers a burst of changes into one apply.
const watchDebounce = 250 * time.Millisecond

// eventsPath is where the server streams t's revisions.
func (s *Session) eventsPath(t Target) string {
	if s.viaToken(t) {
		return api.TokenEventsPath
	}
	return api.Path(api.EventsRoute, t.Org, t.Project, t.Env)
}

// Watch follows t's change stream (Server-Sent Events; no polling) and
// calls apply with each revision newer than current, opened and checked,
// after a burst of changes has settled. It reconnects with exponential
// backoff and jitter, and a reconnect that reveals a missed change applies
// it. It returns when ctx ends.
func (s *Session) Watch(ctx context.Context, t Target, current int64, apply func(*Env)) {
	notify := make(chan int64, 1)
	go func() {
		backoff := 500 * time.Millisecond
		warned := false
		for ctx.Err() == nil {
			connected := false
			err := s.client.Events(ctx, s.eventsPath(t), func(rev int64) {
				connected = true
				select {
				case <-notify: // keep only the newest
				default:
				}
				notify <- rev
			})
			if ctx.Err() != nil {
				return
			}
			var ended *client.StreamEndedError
			if errors.As(err, &ended) && ended.Reason == "idle" {
				// A quiet period, not a failure: reconnect at once.
				backoff, warned = 500*time.Millisecond, false
				continue
			}
			if errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrForbidden) || errors.Is(err, client.ErrNotFound) {
				// Access ended (logout, revoked token, removed grant): stop
				// following; the program keeps the secrets it was started with.
				s.opts.warnf("stopped following changes: %v", Explain(err))
				return
			}
			if connected {
				backoff, warned = 500*time.Millisecond, false
			}
			if !warned {
				s.opts.warnf("lost the change stream from %s (%v); reconnecting", s.api, err)
				warned = true
			}
			jitter := time.Duration(rand.Int64N(int64(backoff)))
			select {
			case <-time.After(backoff/2 + jitter):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	for {
		var rev int64
		select {
		case <-ctx.Done():
			return
		case rev = <-notify:
		}
		if rev <= current {
			continue
		}
		settle := time.NewTimer(watchDebounce)
	burst:
		for {
			select {
			case <-notify:
				settle.Reset(watchDebounce)
			case <-settle.C:
				break burst
			case <-ctx.Done():
				return
			}
		}
		env, err := s.Load(ctx, t)
		if err != nil {
			s.opts.warnf("could not fetch the changed secrets (keeping the current ones): %v", err)
			continue
		}
		if env.Revision <= current {
			continue
		}
		current = env.Revision
		apply(env)
	}
}
