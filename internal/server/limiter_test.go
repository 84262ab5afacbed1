package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/store/sqlstore"
)

// behindProxy trusts the loopback peer (the test client), so each request
// can name its client address in X-Forwarded-For.
func behindProxy(c *Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

const ada = "ada@example.com"

var (
	badLogin  = api.LoginRequest{Email: ada, AuthKey: make([]byte, 32)}
	goodLogin = api.LoginRequest{Email: ada, AuthKey: authKey(ada)}
)

func retryAfter(t *testing.T, body string) int {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.RetryAfter <= 0 {
		t.Fatalf("429 without retry_after: %s", body)
	}
	return e.RetryAfter
}

// Issue 11.2: an attacker's wrong guesses from one address must not delay
// the real user's correct login from another.
func TestLoginLockoutIsPerAddress(t *testing.T) {
	e := newEnvConfig(t, behindProxy)
	e.signup(ada)
	const attacker, home = "203.0.113.9", "198.51.100.1"
	limited := 0
	for i := 0; i < 30; i++ {
		status, _ := e.callFrom(attacker, "", "POST", api.LoginPath, badLogin)
		if status == http.StatusTooManyRequests {
			limited++
		}
		e.clock.add(10 * time.Second)
	}
	if limited == 0 {
		t.Fatal("the attacker's address was never limited")
	}
	// The attacker's address stays limited even with the right password ...
	if status, _ := e.callFrom(attacker, "", "POST", api.LoginPath, goodLogin); status != http.StatusTooManyRequests {
		t.Fatalf("correct password from the guessing address: %d, want 429", status)
	}
	// ... while the real user, from an address with no failures, gets in.
	if status, body := e.callFrom(home, "", "POST", api.LoginPath, goodLogin); status != http.StatusOK {
		t.Fatalf("correct login from another address during the attack: %d %s", status, body)
	}
}

// Issue 11.2: beyond accountFreeFailures failures for one account (from
// any addresses), an address that has itself failed for that account
// waits even below its own limit; a clean address still gets in.
func TestLoginAccountThreshold(t *testing.T) {
	e := newEnvConfig(t, behindProxy)
	e.signup(ada)
	for i := 0; i < accountFreeFailures; i++ {
		if status, body := e.callFrom(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), "", "POST", api.LoginPath, badLogin); status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, status, body)
		}
	}
	// 10.0.0.1 has failed once for ada (its own limit is freeFailures).
	status, body := e.callFrom("10.0.0.1", "", "POST", api.LoginPath, badLogin)
	if status != http.StatusTooManyRequests {
		t.Fatalf("second guess from an address after %d account failures: %d %s", accountFreeFailures, status, body)
	}
	if status, body := e.callFrom("192.0.2.50", "", "POST", api.LoginPath, goodLogin); status != http.StatusOK {
		t.Fatalf("correct login from a clean address: %d %s", status, body)
	}
	// The account's count is not reset by that success: the attacker's
	// addresses still wait.
	if status, _ := e.callFrom("10.0.0.2", "", "POST", api.LoginPath, badLogin); status != http.StatusTooManyRequests {
		t.Fatalf("guessing address after the owner's login: %d", status)
	}
}

// The brute-force figure: as many guesses as the limiter allows, for one
// account from one address, on the injected clock. Issue 11.2 requires at
// least today's slowness: at most 10 guesses in the first minute.
func TestLoginBruteForceFigure(t *testing.T) {
	e := newEnvConfig(t, behindProxy)
	e.signup(ada)
	start := e.clock.now()
	var times []time.Duration
	for {
		elapsed := e.clock.now().Sub(start)
		if elapsed >= time.Hour {
			break
		}
		status, body := e.callFrom("203.0.113.9", "", "POST", api.LoginPath, badLogin)
		switch status {
		case http.StatusUnauthorized:
			times = append(times, elapsed)
		case http.StatusTooManyRequests:
			e.clock.add(time.Duration(retryAfter(t, body)) * time.Second)
		default:
			t.Fatalf("guess: %d %s", status, body)
		}
	}
	minute := 0
	for _, at := range times {
		if at < time.Minute {
			minute++
		}
	}
	t.Logf("guesses for one account from one address: %d in the first minute, %d in the first hour", minute, len(times))
	if minute > 10 || len(times) > 17 {
		t.Fatalf("%d guesses in the first minute (want at most 10), %d in the first hour (want at most 17)", minute, len(times))
	}
}

// Issue 11.3: the limiter's state is in the database, so two replicas
// share one budget.
func TestLoginLimiterSharedByReplicas(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secr.db")
		open := func() store.Store {
			st, err := sqlstore.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		testReplicasShareLimit(t, open(), open())
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := postgresSchema(t)
		open := func() store.Store {
			st, err := sqlstore.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		testReplicasShareLimit(t, open(), open())
	})
}

func testReplicasShareLimit(t *testing.T, st1, st2 store.Store) {
	c := &clock{t: time.Now()}
	one, two := serveStore(t, st1, c, nil), serveStore(t, st2, c, nil)
	one.signup(ada)
	for i := 0; i < freeFailures; i++ {
		e := []*env{one, two}[i%2]
		if status, body := e.call("", "POST", api.LoginPath, badLogin); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i, status, body)
		}
	}
	for _, e := range []*env{one, two} {
		if status, body := e.call("", "POST", api.LoginPath, badLogin); status != http.StatusTooManyRequests {
			t.Fatalf("after %d failures spread over two replicas: %d %s", freeFailures, status, body)
		}
	}
}

// postgresSchema returns a DSN for a fresh schema in $SECR_TEST_POSTGRES,
// or skips.
func postgresSchema(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SECR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SECR_TEST_POSTGRES is not set; .ci/run sets it to the local PostgreSQL")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := strings.ReplaceAll(api.NewID("t"), "_", "")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("SECR_TEST_POSTGRES is set but: %v", err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// Issue 11.4: X-Forwarded-For counts only from a trusted proxy, and then
// only its rightmost untrusted entry.
func TestTrustedProxy(t *testing.T) {
	t.Run("untrusted peer", func(t *testing.T) {
		e := newEnv(t, true)
		e.signup(ada)
		// Rotating a forged X-Forwarded-For buys nothing.
		for i := 0; i < freeFailures; i++ {
			e.callFrom(fmt.Sprintf("203.0.113.%d", i+1), "", "POST", api.LoginPath, badLogin)
		}
		if status, _ := e.callFrom("203.0.113.99", "", "POST", api.LoginPath, badLogin); status != http.StatusTooManyRequests {
			t.Fatalf("forged X-Forwarded-For escaped the limit: %d", status)
		}
		if logs := e.logs.String(); strings.Contains(logs, "203.0.113.") || !strings.Contains(logs, "remote=127.0.0.1") {
			t.Fatalf("logged a forged client address:\n%s", logs)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		e := newEnvConfig(t, behindProxy)
		e.signup(ada)
		// The client forges a leftmost entry; the proxy appends the real one.
		for i := 0; i < freeFailures; i++ {
			e.callFrom(fmt.Sprintf("192.0.2.%d, 198.51.100.7", i+1), "", "POST", api.LoginPath, badLogin)
		}
		if status, _ := e.callFrom("192.0.2.99, 198.51.100.7", "", "POST", api.LoginPath, badLogin); status != http.StatusTooManyRequests {
			t.Fatalf("forged leftmost X-Forwarded-For escaped the limit: %d", status)
		}
		// A chain of trusted proxies is skipped.
		if status, _ := e.callFrom("198.51.100.7, 127.0.0.2", "", "POST", api.LoginPath, goodLogin); status != http.StatusTooManyRequests {
			t.Fatalf("through two proxies: %d", status)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "remote=198.51.100.7") || strings.Contains(logs, "remote=192.0.2.") {
			t.Fatalf("client address not taken from the trusted proxy's entry:\n%s", logs)
		}
		// A proxy that writes the port too.
		if status, _ := e.callFrom("198.51.100.7:41000", "", "POST", api.LoginPath, goodLogin); status != http.StatusTooManyRequests {
			t.Fatalf("address with a port: %d", status)
		}
		if status, body := e.callFrom("198.51.100.8", "", "POST", api.LoginPath, goodLogin); status != http.StatusOK {
			t.Fatalf("another client behind the proxy: %d %s", status, body)
		}
	})
}
