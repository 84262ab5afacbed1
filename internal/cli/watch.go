package cli

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

// watchDebounce gathers a burst of changes into one restart.
const watchDebounce = 250 * time.Millisecond

// eventsPath is where the server streams t's revisions.
func (s *session) eventsPath(t target) string {
	if s.viaToken(t) {
		return api.TokenEventsPath
	}
	return api.EnvPath(t.org, t.project, t.env) + "/events"
}

// watch follows the environment's change stream (Server-Sent Events; no
// polling) and calls apply with each newer revision, opened and checked,
// after a burst of changes has settled. It reconnects with exponential
// backoff and jitter, and a reconnect that reveals a missed change
// applies it. It returns when ctx ends.
func (s *session) watch(ctx context.Context, t target, current int64, apply func(*envState)) {
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
			if connected {
				backoff, warned = 500*time.Millisecond, false
			}
			if !warned {
				s.d.IO.Warnf("lost the change stream from %s (%v); reconnecting", s.api, err)
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
			case r := <-notify:
				rev = max(rev, r)
				settle.Reset(watchDebounce)
			case <-settle.C:
				break burst
			case <-ctx.Done():
				return
			}
		}
		st, err := s.load(ctx, t)
		if err != nil {
			s.d.IO.Warnf("could not fetch the changed secrets (keeping the current ones): %v", err)
			continue
		}
		if st.rev <= current {
			continue
		}
		current = st.rev
		apply(st)
	}
}
