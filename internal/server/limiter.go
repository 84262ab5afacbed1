package server

import (
	"context"
	"fmt"
	"time"

	"github.com/secr-dev/secr/internal/store"
)

// The failed-login limiter slows password guessing. Its counts live in the
// database (store.TryLogin), so every replica shares one budget. Three
// counts are kept for each attempt:
//
//   - the (account, client address) pair and the client address alone:
//     freeFailures free, then each further attempt waits twice as long as
//     the one before (1 s, 2 s, 4 s, ...) up to maxWait;
//   - the account, over all addresses: accountFreeFailures free, then the
//     same doubling wait, applied only to addresses that have themselves
//     failed for that account. An address with no failures for the account
//     is never delayed by other addresses' guesses, so nobody can lock the
//     real user out; a guesser with many addresses gets one try per address
//     and then waits.
//
// A count is forgotten forgetAfter after its last failure. A correct
// password clears the pair's count.
const (
	freeFailures        = 5
	accountFreeFailures = 100
	maxWait             = 15 * time.Minute
	forgetAfter         = time.Hour
)

func backoff(fails, free int) time.Duration {
	if fails < free {
		return 0
	}
	d := time.Second << min(fails-free, 20)
	return min(d, maxWait)
}

type loginKeys struct{ pair, addr, account string }

func limiterKeys(email, addr string) loginKeys {
	return loginKeys{pair: "pair|" + email + "|" + addr, addr: "addr|" + addr, account: "acct|" + email}
}

// tryLogin counts an attempt as failed in advance and returns 0, or
// returns the whole seconds the caller must still wait (counting nothing).
func (s *Server) tryLogin(ctx context.Context, k loginKeys) (int, error) {
	now := s.now()
	wait, err := s.store.TryLogin(ctx, []string{k.pair, k.addr, k.account}, now, now.Add(-forgetAfter),
		func(c map[string]store.LoginFailures) time.Duration {
			until := func(f store.LoginFailures, free int) time.Duration {
				return f.Last.Add(backoff(f.Fails, free)).Sub(now)
			}
			w := max(until(c[k.pair], freeFailures), until(c[k.addr], freeFailures))
			if c[k.pair].Fails > 0 {
				w = max(w, until(c[k.account], accountFreeFailures))
			}
			return w
		})
	if err != nil || wait <= 0 {
		return 0, err
	}
	return int((wait + time.Second - 1) / time.Second), nil
}

// loginSucceeded takes back the failure tryLogin counted and clears the
// pair's count.
func (s *Server) loginSucceeded(ctx context.Context, k loginKeys) error {
	return s.store.LoginSucceeded(ctx, []string{k.addr, k.account}, []string{k.pair})
}

func formatSeconds(n int) string {
	if n == 1 {
		return "1 s"
	}
	return fmt.Sprintf("%d s", n)
}
