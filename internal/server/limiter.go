package server

import (
	"fmt"
	"sync"
	"time"
)

// limiter slows down password guessing. Each key (an account or a client
// address) may fail freeFailures times; after that every further attempt
// must wait twice as long as the one before, up to maxWait. A success
// resets the account's count. State is per process: with several replicas
// an attacker gets a budget per replica (noted in docs/security.md).
type limiter struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]*limitEntry
}

type limitEntry struct {
	fails int
	last  time.Time
}

const (
	freeFailures = 5
	maxWait      = 15 * time.Minute
	forgetAfter  = time.Hour
)

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, entries: map[string]*limitEntry{}}
}

func backoff(fails int) time.Duration {
	if fails < freeFailures {
		return 0
	}
	d := time.Second << min(fails-freeFailures, 20)
	return min(d, maxWait)
}

// wait returns the whole seconds the caller must still wait, or 0.
func (l *limiter) wait(keys ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var longest time.Duration
	for _, k := range keys {
		e := l.entries[k]
		if e == nil {
			continue
		}
		if d := e.last.Add(backoff(e.fails)).Sub(now); d > longest {
			longest = d
		}
	}
	if longest <= 0 {
		return 0
	}
	return int((longest + time.Second - 1) / time.Second)
}

func (l *limiter) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.entries) > 100_000 {
		for k, e := range l.entries {
			if now.Sub(e.last) > forgetAfter {
				delete(l.entries, k)
			}
		}
	}
	for _, k := range keys {
		e := l.entries[k]
		if e == nil || now.Sub(e.last) > forgetAfter {
			e = &limitEntry{}
			l.entries[k] = e
		}
		e.fails++
		e.last = now
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, key)
}

func formatSeconds(n int) string {
	if n == 1 {
		return "1 s"
	}
	return fmt.Sprintf("%d s", n)
}
