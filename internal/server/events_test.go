package server

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/kdf"
	"github.com/secr-dev/secr/internal/store/sqlstore"
)

// eventWait bounds every wait for an event (a stream ending, a line
// arriving). It only decides how long a broken build takes to fail: a
// passing run returns as soon as the event happens.
const eventWait = 90 * time.Second

// stream is an open Server-Sent Events response.
type stream struct {
	t      *testing.T
	body   interface{ Close() error }
	sc     *bufio.Scanner
	cancel context.CancelFunc
}

// openStream opens path as auth; it returns the status and, for 200, the
// stream (closed at the end of the test).
func (e *env) openStream(auth, path string) (int, *stream) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventWait)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return resp.StatusCode, nil
	}
	s := &stream{t: e.t, body: resp.Body, sc: bufio.NewScanner(resp.Body), cancel: cancel}
	e.t.Cleanup(s.close)
	return resp.StatusCode, s
}

func (s *stream) close() { s.cancel(); s.body.Close() }

// next returns the next event's name and data (a comment line counts as
// the event "comment"), or ok false when the stream ended.
func (s *stream) next() (event, data string, ok bool) {
	s.t.Helper()
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "" && event != "":
			return event, data, true
		case strings.HasPrefix(line, ":"):
			return "comment", strings.TrimSpace(line[1:]), true
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimSpace(line[len("data:"):])
		}
	}
	if err := s.sc.Err(); err != nil {
		s.t.Fatalf("stream did not end within %s: %v", eventWait, err)
	}
	return "", "", false
}

// revision waits for the revision event rev.
func (s *stream) revision(rev int64) {
	s.t.Helper()
	for {
		event, data, ok := s.next()
		if !ok {
			s.t.Fatalf("stream ended while waiting for revision %d", rev)
		}
		var ev api.RevisionEvent
		if event == "revision" && json.Unmarshal([]byte(data), &ev) == nil && ev.Revision == rev {
			return
		}
	}
}

// end waits for the stream to end and returns the reason it gave; any
// revision event on the way fails the test.
func (s *stream) end() string {
	s.t.Helper()
	reason := ""
	for {
		event, data, ok := s.next()
		if !ok {
			return reason
		}
		switch event {
		case "revision":
			s.t.Fatalf("revision event after access ended: %s", data)
		case "end":
			var v struct{ Reason string }
			json.Unmarshal([]byte(data), &v)
			reason = v.Reason
		}
	}
}

// streamFixture: ada, org acme, project web, one revision in development,
// and a read-only token for development.
type streamFixture struct {
	e        *env
	ada      user
	p        project
	tok, tID string
	envPath  string
}

func newStreamFixture(t *testing.T, e *env) streamFixture {
	f := streamFixture{e: e, ada: e.signup(ada)}
	e.createOrg(f.ada, "acme")
	f.p = e.createProject(f.ada, "acme", "web")
	if status, body := write(e, f.ada.auth, f.p, "development", 0); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	f.tok, f.tID = e.token(f.ada, "acme", "web", f.p, "development", false)
	f.envPath = api.Path(api.EventsRoute, "acme", "web", "development")
	return f
}

func (f streamFixture) open(auth, path string) *stream {
	f.e.t.Helper()
	status, s := f.e.openStream(auth, path)
	if status != http.StatusOK {
		f.e.t.Fatalf("open %s: %d", path, status)
	}
	s.revision(1)
	return s
}

func (f streamFixture) login() string {
	f.e.t.Helper()
	var resp api.SessionResponse
	f.e.must("", "POST", api.LoginPath, goodLogin, &resp, http.StatusOK)
	return "Bearer " + resp.Token
}

// Issue 11.1: logging out ends that session's streams, and only those.
func TestStreamEndsOnLogout(t *testing.T) {
	f := newStreamFixture(t, newEnv(t, true))
	other := f.login()
	ended := f.open(f.ada.auth, f.envPath)
	kept := f.open(other, f.envPath)
	f.e.must(f.ada.auth, "POST", api.LogoutPath, nil, nil, http.StatusNoContent)
	if reason := ended.end(); reason != "access ended" {
		t.Fatalf("reason %q", reason)
	}
	if status, _ := f.e.openStream(f.ada.auth, f.envPath); status != http.StatusUnauthorized {
		t.Fatalf("reopen after logout: %d", status)
	}
	if status, body := write(f.e, other, f.p, "development", 1); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	kept.revision(2)
}

// Issue 11.1: a password change ends every session's streams.
func TestStreamEndsOnPasswordChange(t *testing.T) {
	f := newStreamFixture(t, newEnv(t, true))
	s := f.open(f.ada.auth, f.envPath)
	tokStream := f.open(f.tok, api.TokenEventsPath)
	var sess api.SessionResponse
	f.e.must("", "PUT", api.PasswordPath, api.ChangePasswordRequest{Email: ada, CurrentAuthKey: authKey(ada),
		Salt: make([]byte, 16), KDF: kdf.Default(), AuthKey: make([]byte, 32), SealedKey: []byte("s2")}, &sess, http.StatusOK)
	s.end()
	// A service token is its own principal: its stream goes on.
	if status, body := write(f.e, "Bearer "+sess.Token, f.p, "development", 1); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	tokStream.revision(2)
}

// Issue 11.1: revoking a token (which deletes its grant) ends its streams,
// on both event routes.
func TestStreamEndsOnTokenRevoke(t *testing.T) {
	f := newStreamFixture(t, newEnv(t, true))
	own := f.open(f.tok, api.TokenEventsPath)
	named := f.open(f.tok, f.envPath)
	f.e.revoke(f.ada, "acme", "web", f.tID)
	own.end()
	named.end()
	if status, _ := f.e.openStream(f.tok, api.TokenEventsPath); status != http.StatusUnauthorized {
		t.Fatalf("reopen after revoke: %d", status)
	}
	// The token could read development, so its key is due for rotation
	// (a key holder's client rotates it): no write under the old key.
	if status, body := write(f.e, f.ada.auth, f.p, "development", 1); status != http.StatusConflict || !strings.Contains(body, "must be rotated") {
		t.Fatalf("write under a key due for rotation: %d %s", status, body)
	}
}

// Issue 11.1: expiry by the server's clock ends a stream, with no request
// or notification to prompt it.
func TestStreamEndsOnExpiry(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) { c.StreamIdle = 365 * 24 * time.Hour })
	f := newStreamFixture(t, e)
	exp := e.clock.now().Add(time.Hour)
	tokAuth, _ := e.tokenExp(f.ada, "acme", "web", f.p, "development", false, &exp)
	expiring := f.open(tokAuth, api.TokenEventsPath)
	session := f.open(f.ada.auth, f.envPath)
	e.clock.add(2 * time.Hour)
	if reason := expiring.end(); reason != "expired" {
		t.Fatalf("token stream reason %q", reason)
	}
	// The session (30 days) outlives the token, then expires too.
	write(e, f.ada.auth, f.p, "development", 1)
	session.revision(2)
	e.clock.add(31 * 24 * time.Hour)
	if reason := session.end(); reason != "expired" {
		t.Fatalf("session stream reason %q", reason)
	}
}

// Issue 11.1: access removed without a notification (here, a grant
// deleted straight from the database, as a future member removal would)
// is found by the periodic re-check.
func TestStreamEndsWhenGrantIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secr.db")
	st, err := sqlstore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := serveStore(t, st, &clock{t: time.Now()}, func(c *Config) { c.StreamRecheck = 50 * time.Millisecond })
	f := newStreamFixture(t, e)
	s := f.open(f.ada.auth, f.envPath)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM grants WHERE principal_id = ?`, f.ada.uid); err != nil {
		t.Fatal(err)
	}
	if reason := s.end(); reason != "access ended" {
		t.Fatalf("reason %q", reason)
	}
	if status, _ := e.openStream(f.ada.auth, f.envPath); status != http.StatusForbidden {
		t.Fatalf("reopen without a grant: %d", status)
	}
}

// Issue 11.1 across replicas: a token revoked through one server ends its
// stream on another, through PostgreSQL NOTIFY (the periodic re-check is
// set to an hour, so only the notification can end it).
func TestStreamEndsOnOtherReplica(t *testing.T) {
	dsn := postgresSchema(t)
	c := &clock{t: time.Now()}
	var replicas []*env
	for i := 0; i < 2; i++ {
		st, err := sqlstore.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e := serveStore(t, st, c, func(cfg *Config) { cfg.StreamRecheck = time.Hour })
		replicas = append(replicas, e)
		listening := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go st.Listen(ctx, sqlstore.Listener{
			Revision:      e.server.Publish,
			AccessChanged: e.server.AccessChanged,
			Listening: func() {
				select {
				case listening <- struct{}{}:
				default:
				}
			},
		})
		select {
		case <-listening:
		case <-time.After(eventWait):
			t.Fatal("listener did not connect")
		}
	}
	one, two := replicas[0], replicas[1]
	f := newStreamFixture(t, one)
	onTwo := streamFixture{e: two, ada: f.ada, p: f.p, tok: f.tok, tID: f.tID, envPath: f.envPath}
	tokStream := onTwo.open(f.tok, api.TokenEventsPath)
	userStream := onTwo.open(f.ada.auth, f.envPath)
	one.revoke(f.ada, "acme", "web", f.tID)
	if reason := tokStream.end(); reason != "access ended" {
		t.Fatalf("reason %q", reason)
	}
	one.must(f.ada.auth, "POST", api.LogoutPath, nil, nil, http.StatusNoContent)
	if reason := userStream.end(); reason != "access ended" {
		t.Fatalf("reason %q", reason)
	}
}

// Issue 11.5: a principal may hold only so many streams; others are not
// affected, and a closed stream frees its place.
func TestStreamCapPerPrincipal(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) { c.MaxStreamsPerPrincipal = 3 })
	f := newStreamFixture(t, e)
	var open []*stream
	for i := 0; i < 3; i++ {
		open = append(open, f.open(f.ada.auth, f.envPath))
	}
	status, _ := e.openStream(f.ada.auth, f.envPath)
	if status != http.StatusTooManyRequests {
		t.Fatalf("fourth stream: %d, want 429", status)
	}
	// Another session of the same user is the same principal.
	if status, _ := e.openStream(f.login(), f.envPath); status != http.StatusTooManyRequests {
		t.Fatalf("fourth stream from a second session: %d, want 429", status)
	}
	// A token is a principal of its own.
	f.open(f.tok, api.TokenEventsPath)
	// Closing a stream frees a place once the server sees the disconnect.
	open[0].close()
	deadline := time.Now().Add(eventWait)
	for {
		status, s := e.openStream(f.ada.auth, f.envPath)
		if status == http.StatusOK {
			s.revision(1)
			break
		}
		if status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after closing a stream: %d", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Issue 11.5: streams carry heartbeats, and end after the idle limit (by
// the server's clock) unless revisions keep coming.
func TestStreamHeartbeatAndIdleLimit(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) {
		c.StreamHeartbeat = 20 * time.Millisecond
		c.StreamIdle = time.Hour
	})
	f := newStreamFixture(t, e)
	s := f.open(f.ada.auth, f.envPath)
	if event, data, ok := s.next(); !ok || event != "comment" || data != "ping" {
		t.Fatalf("want a heartbeat, got %q %q %v", event, data, ok)
	}
	e.clock.add(40 * time.Minute)
	write(e, f.ada.auth, f.p, "development", 1)
	s.revision(2)
	e.clock.add(40 * time.Minute) // 80 minutes open, 40 since the last revision
	write(e, f.ada.auth, f.p, "development", 2)
	s.revision(3)
	e.clock.add(61 * time.Minute)
	if reason := s.end(); reason != "idle" {
		t.Fatalf("reason %q", reason)
	}
}
