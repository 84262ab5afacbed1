package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store/sqlstore"
)

// callAs sends a request as a secr CLI running command would.
func (e *env) callAs(command, auth, method, path string, body any) (int, string) {
	e.t.Helper()
	var r *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, e.url+path, r)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("User-Agent", "secr/1.2.3")
	req.Header.Set(api.CommandHeader, command)
	// Not a trusted proxy's: the address stays the TCP peer.
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	resp, b := e.send(req)
	return resp.StatusCode, string(b)
}

// auditLog fetches org's audit log as auth and checks that its chain
// verifies.
func (e *env) auditLog(auth, org, query string) api.AuditLog {
	e.t.Helper()
	var l api.AuditLog
	e.must(auth, "GET", api.Path(api.AuditRoute, org)+query, nil, &l, http.StatusOK)
	if query == "" {
		if err := verifyLog(l); err != nil {
			e.t.Fatal(err)
		}
	}
	return l
}

func verifyLog(l api.AuditLog) error {
	var es []audit.Entry
	for _, a := range l.Entries {
		es = append(es, audit.Entry{OrgID: l.OrgID, Seq: a.Seq, At: a.At, PrincipalID: a.PrincipalID, Principal: a.Principal,
			Action: a.Action, EnvID: a.EnvID, Env: a.Env, Revision: a.Revision, Address: a.Address, CLIVersion: a.CLIVersion,
			Command: a.Command, Detail: a.Detail, Hash: a.Hash})
	}
	return audit.Verify(l.OrgID, audit.Checkpoint{Seq: l.CheckpointSeq, Hash: l.CheckpointHash}, es)
}

func actions(l api.AuditLog) string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.Action)
	}
	return strings.Join(out, " ")
}

func TestAuditRecordsActions(t *testing.T) { onEachStore(t, testAuditRecordsActions) }

func testAuditRecordsActions(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.signup("bob@example.com") // in no org: his sign-up records nothing
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatal(status, body)
	}
	snap := api.Path(api.SnapshotRoute, "acme", "web", "development")
	if status, body := e.callAs("run", ada.auth, "GET", snap, nil); status != http.StatusOK {
		t.Fatal(status, body)
	}
	if status, body := e.callAs("secrets history", ada.auth, "GET", api.Path(api.RevisionsRoute, "acme", "web", "development"), nil); status != http.StatusOK {
		t.Fatal(status, body)
	}
	// A rollback is a write the client says is one.
	req, h := e.revisionRequest(ada.auth, p, "development", 1)
	if status, body := e.callAs("secrets rollback", ada.auth, "POST", api.Path(api.RevisionsRoute, "acme", "web", "development"), req); status != http.StatusCreated {
		t.Fatal(status, body)
	}
	e.orgs.heads[h.EnvID()][2] = h
	// A client-claimed command is kept printable and short.
	if status, body := e.callAs("secrets get\té"+strings.Repeat("x", 100), ada.auth, "GET", snap, nil); status != http.StatusOK {
		t.Fatal(status, body)
	}
	if status, body := e.callAs("login", "", "POST", api.LoginPath, api.LoginRequest{Email: "ada@example.com", AuthKey: authKey("ada@example.com")}); status != http.StatusOK {
		t.Fatal(status, body)
	}
	tokAuth, tokID := e.token(ada, "acme", "web", p, "development", false)
	if status, body := e.callAs("run", tokAuth, "GET", api.TokenSnapshotPath, nil); status != http.StatusOK {
		t.Fatal(status, body)
	}
	e.revoke(ada, "acme", "web", tokID)

	l := e.auditLog(ada.auth, "acme", "")
	want := "org.create project.create write read read rollback read signin token.create read token.revoke"
	if got := actions(l); got != want {
		t.Fatalf("actions:\n got %s\nwant %s", got, want)
	}
	for i, en := range l.Entries {
		if en.Seq != uint64(i+1) || en.Address != "127.0.0.1" || len(en.Hash) != audit.HashSize {
			t.Errorf("entry %d: %+v", i, en)
		}
	}
	read := l.Entries[3]
	if read.Principal != "ada@example.com" || read.PrincipalID != ada.uid || read.Env != "acme/web/development" || read.EnvID != p.envIDs["development"] ||
		read.Revision != 1 || read.Command != "run" || read.CLIVersion != "secr/1.2.3" {
		t.Errorf("read entry: %+v", read)
	}
	if h := l.Entries[4]; h.Command != "secrets history" || h.Detail != "history" || h.Revision != 1 {
		t.Errorf("history entry: %+v", h)
	}
	if rb := l.Entries[5]; rb.Revision != 2 || rb.Command != "secrets rollback" {
		t.Errorf("rollback entry: %+v", rb)
	}
	if c := l.Entries[6].Command; c != "secrets get??"+strings.Repeat("x", 50) {
		t.Errorf("claimed command kept as %q", c)
	}
	if s := l.Entries[7]; s.Principal != "ada@example.com" || s.Command != "login" || s.Env != "" {
		t.Errorf("signin entry: %+v", s)
	}
	if tr := l.Entries[9]; tr.Principal != "token t" || tr.PrincipalID != tokID || tr.Env != "acme/web/development" || tr.Revision != 2 {
		t.Errorf("token read: %+v", tr)
	}
	if tc := l.Entries[8]; !strings.Contains(tc.Detail, tokID) || tc.Env != "acme/web/development" {
		t.Errorf("token.create: %+v", tc)
	}
	if pc := l.Entries[1]; pc.Env != "acme/web" || pc.Detail != "environments: development, staging, production" {
		t.Errorf("project.create: %+v", pc)
	}

	// Filters.
	if got := actions(e.auditLog(ada.auth, "acme", "?env=web/development")); got != "write read read rollback read token.create read token.revoke" {
		t.Errorf("env filter: %s", got)
	}
	if got := actions(e.auditLog(ada.auth, "acme", "?env=staging")); got != "" {
		t.Errorf("staging: %s", got)
	}
	future := e.clock.now().Add(time.Hour).UTC().Format(time.RFC3339)
	if got := actions(e.auditLog(ada.auth, "acme", "?since="+future)); got != "" {
		t.Errorf("since the future: %s", got)
	}
	status, body := e.call(ada.auth, "GET", api.Path(api.AuditRoute, "acme")+"?since=yesterday", nil)
	e.wantStatus("bad since", status, body, http.StatusBadRequest, "RFC 3339")
}

func TestAuditReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secr.db")
	st, err := sqlstore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := serveStore(t, st, &clock{t: time.Now()}, nil)
	ada := e.signup("ada@example.com")
	bob := e.signup("bob@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	tok, _ := e.token(ada, "acme", "web", p, "development", true)
	auditPath := api.Path(api.AuditRoute, "acme")

	status, body := e.call(bob.auth, "GET", auditPath, nil)
	e.wantStatus("non-member", status, body, http.StatusNotFound, `org "acme" not found, or you are not a member of it`)
	status, body = e.call(tok, "GET", auditPath, nil)
	e.wantStatus("service token", status, body, http.StatusForbidden, "a service token cannot read it")
	status, body = e.call("", "GET", auditPath, nil)
	e.wantStatus("no login", status, body, http.StatusUnauthorized, "not logged in")

	// A plain member (members are added by the members work; here, by hand).
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var orgID string
	if err := db.QueryRow(`SELECT id FROM orgs WHERE name = 'acme'`).Scan(&orgID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO members (org_id, user_id, role, created_at) VALUES (?, ?, 'member', 0)`, orgID, bob.uid); err != nil {
		t.Fatal(err)
	}
	status, body = e.call(bob.auth, "GET", auditPath, nil)
	e.wantStatus("member", status, body, http.StatusForbidden, `the audit log is for the owners and admins of org "acme"; you are member`)
	if _, err := db.Exec(`UPDATE members SET role = 'admin' WHERE user_id = ?`, bob.uid); err != nil {
		t.Fatal(err)
	}
	e.auditLog(bob.auth, "acme", "")
}

// TestAuditFailsClosed: when the entry cannot be written, a read delivers
// nothing and a write changes nothing.
func TestAuditFailsClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secr.db")
	st, err := sqlstore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := serveStore(t, st, &clock{t: time.Now()}, nil)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatal(status, body)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := len(e.auditLog(ada.auth, "acme", "").Entries)
	if _, err := db.Exec(`CREATE TRIGGER audit_fail BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit disk full'); END`); err != nil {
		t.Fatal(err)
	}
	snap := api.Path(api.SnapshotRoute, "acme", "web", "development")
	status, body := e.call(ada.auth, "GET", snap, nil)
	e.wantStatus("read", status, body, http.StatusInternalServerError, "could not record this request in its audit log")
	if strings.Contains(body, "ciphertext") || strings.Contains(body, "grant") {
		t.Errorf("refused read delivered: %s", body)
	}
	status, body = write(e, ada.auth, p, "development", 1)
	e.wantStatus("write", status, body, http.StatusInternalServerError, "could not record this request in its audit log")
	status, body = e.call("", "POST", api.LoginPath, api.LoginRequest{Email: "ada@example.com", AuthKey: authKey("ada@example.com")})
	e.wantStatus("login", status, body, http.StatusInternalServerError, "could not record this request in its audit log")
	req, _, _ := e.projectRequest(ada, "acme", "api")
	status, body = e.call(ada.auth, "POST", api.Path(api.ProjectsRoute, "acme"), req)
	e.wantStatus("project create", status, body, http.StatusInternalServerError, "could not record this request in its audit log")
	if !strings.Contains(e.logs.String(), "audit log write failed") {
		t.Error("the refusal is not logged")
	}

	if _, err := db.Exec(`DROP TRIGGER audit_fail`); err != nil {
		t.Fatal(err)
	}
	var s api.Snapshot
	e.must(ada.auth, "GET", snap, nil, &s, http.StatusOK)
	if s.Environment.LatestRevision != 1 {
		t.Fatalf("the refused write was stored: latest revision %d", s.Environment.LatestRevision)
	}
	var ps []api.Project
	e.must(ada.auth, "GET", api.Path(api.ProjectsRoute, "acme"), nil, &ps, http.StatusOK)
	if len(ps) != 1 {
		t.Fatalf("the refused project was created: %+v", ps)
	}
	if got := len(e.auditLog(ada.auth, "acme", "").Entries); got != before+1 {
		t.Fatalf("%d entries after the refusals, want %d", got, before+1)
	}
}

func TestAuditRetention(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) { c.AuditRetention = 24 * time.Hour })
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	snap := api.Path(api.SnapshotRoute, "acme", "web", "development")
	e.must(ada.auth, "GET", snap, nil, nil, http.StatusOK)
	e.clock.add(25 * time.Hour)
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatal(status, body)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ticks := make(chan time.Time)
	done := make(chan struct{})
	go func() { e.server.RetainAudit(ctx, ticks); close(done) }()
	ticks <- time.Time{} // received: the first pruning (at start) is done
	l := e.auditLog(ada.auth, "acme", "")
	if l.CheckpointSeq != 3 || len(l.CheckpointHash) != audit.HashSize || actions(l) != "write" {
		t.Fatalf("after pruning: checkpoint %d, %s", l.CheckpointSeq, actions(l))
	}
	e.clock.add(25 * time.Hour)
	e.must(ada.auth, "GET", snap, nil, nil, http.StatusOK)
	ticks <- time.Time{}
	ticks <- time.Time{} // the pruning the first tick started is done
	l = e.auditLog(ada.auth, "acme", "")
	if l.CheckpointSeq != 4 || actions(l) != "read" || l.Entries[0].Seq != 5 {
		t.Fatalf("after the hourly pruning: checkpoint %d, %+v", l.CheckpointSeq, l.Entries)
	}
	cancel()
	<-done
}

// TestAuditConcurrentReads: concurrent snapshot reads, a service token's
// among them, are each answered after their own entry, and reads that fail
// before recording anything (an unknown environment) record no entry.
// (That such a read does not hold up the others' commits is
// TestAuditLoneReadDoesNotWait's, in internal/store/sqlstore.)
func TestAuditConcurrentReads(t *testing.T) { onEachStore(t, testAuditConcurrentReads) }

func testAuditConcurrentReads(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatal(status, body)
	}
	tokAuth, _ := e.token(ada, "acme", "web", p, "development", false)
	before := len(e.auditLog(ada.auth, "acme", "").Entries)

	const workers, each = 12, 5
	snap := e.url + api.Path(api.SnapshotRoute, "acme", "web", "development")
	missing := e.url + api.Path(api.SnapshotRoute, "acme", "web", "no-such-env")
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				url, auth, want := snap, ada.auth, http.StatusOK
				switch {
				case w%4 == 1:
					url, auth = e.url+api.TokenSnapshotPath, tokAuth
				case w%4 == 3 && i%2 == 0:
					url, want = missing, http.StatusNotFound
				}
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", auth)
				req.Header.Set("Accept", api.SnapshotMediaType)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					errs <- fmt.Errorf("GET %s: status %d, want %d", url, resp.StatusCode, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	l := e.auditLog(ada.auth, "acme", "")
	missed := (workers / 4) * ((each + 1) / 2)
	if got, want := len(l.Entries)-before, workers*each-missed; got != want {
		t.Fatalf("%d read entries, want %d (one per answered read)", got, want)
	}
	for _, en := range l.Entries[before:] {
		if en.Action != audit.ActionRead || en.Env != "acme/web/development" || en.Revision != 1 {
			t.Fatalf("entry %+v, want a read of acme/web/development revision 1", en)
		}
	}
}
