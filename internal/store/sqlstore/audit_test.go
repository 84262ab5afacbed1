package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/store/storetest"
)

func TestAuditSQLite(t *testing.T) {
	storetest.RunAudit(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestAuditPostgres(t *testing.T) {
	dsn := os.Getenv("SECR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SECR_TEST_POSTGRES is not set")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Ping(); err != nil {
		t.Fatalf("SECR_TEST_POSTGRES is set but PostgreSQL does not answer: %v", err)
	}
	storetest.RunAudit(t, func(t *testing.T) store.Store {
		schema := strings.ReplaceAll(api.NewID("t"), "_", "")
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		s, err := Open(context.Background(), fmt.Sprintf("%s%ssearch_path=%s", dsn, sep, schema))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestAuditTablesAdded: a format 2 database from before the audit log
// gets its tables when opened.
func TestAuditTablesAdded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secr.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`DROP TABLE audit_log; DROP TABLE audit_checkpoints`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AppendAudit(context.Background(), audit.Entry{OrgID: "org_1", Action: "read"}); err != nil {
		t.Fatal(err)
	}
}

// auditDurability records, for every audit append, the durability its
// transaction committed with, read by the database itself inside that
// transaction: SQLite's PRAGMA synchronous (1 NORMAL, 2 FULL), PostgreSQL's
// synchronous_commit.
func auditDurability(s *Store) func() []string {
	var mu sync.Mutex
	var seen []string
	s.observeAuditTx = func(ctx context.Context, tx *sql.Tx) {
		q := `SHOW synchronous_commit`
		if s.dialect == sqlite {
			q = `PRAGMA synchronous`
		}
		var v string
		if err := tx.QueryRowContext(ctx, q).Scan(&v); err != nil {
			v = "error: " + err.Error()
		}
		mu.Lock()
		seen = append(seen, v)
		mu.Unlock()
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := seen
		seen = nil
		return out
	}
}

// checkAuditDurability: reads and sign-ins alone commit relaxed (want
// relaxed), anything holding a change's entry, and every change with its
// entries, commits at full durability (want full).
func checkAuditDurability(t *testing.T, s *Store, relaxed, full string) {
	ctx := context.Background()
	seen := auditDurability(s)
	now := time.Now()
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"a read", func() error {
			return s.AppendAudit(ctx, audit.Entry{OrgID: "org_1", Action: audit.ActionRead, At: now})
		}, relaxed},
		{"sign-ins", func() error {
			return s.AppendAudit(ctx, audit.Entry{OrgID: "org_1", Action: audit.ActionSignin, At: now}, audit.Entry{OrgID: "org_2", Action: audit.ActionSignin, At: now})
		}, relaxed},
		{"a batch with a write's entry", func() error {
			return s.AppendAudit(ctx, audit.Entry{OrgID: "org_1", Action: audit.ActionRead, At: now}, audit.Entry{OrgID: "org_1", Action: audit.ActionWrite, At: now})
		}, full},
		{"a change with its entry", func() error {
			return s.DeleteSession(store.WithAudit(ctx, audit.Entry{OrgID: "org_1", Action: audit.ActionTokenRevoke, At: now}), []byte("no such session"))
		}, full},
		{"a read after them", func() error {
			return s.AppendAudit(ctx, audit.Entry{OrgID: "org_1", Action: audit.ActionRead, At: now})
		}, relaxed},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := seen(); len(got) != 1 || got[0] != st.want {
			t.Errorf("%s committed with %q, want [%s]", st.name, got, st.want)
		}
		if s.dialect == sqlite {
			// The writer is one connection: whatever used it last, it is
			// back at FULL for the next change.
			var mode int
			if err := s.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if mode != sqliteSynchronousFull {
				t.Errorf("after %s the writer connection is at synchronous=%d, want 2 (FULL)", st.name, mode)
			}
		}
	}
	if _, entries, err := s.AuditLog(ctx, "org_1", store.AuditQuery{}); err != nil || len(entries) != 6 {
		t.Fatalf("org_1's log: %d entries, %v; want 6", len(entries), err)
	}
}

// TestAuditReadsRelaxedSQLite: the product decision of docs/audit.md
// ("Durability").
func TestAuditReadsRelaxedSQLite(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkAuditDurability(t, s, "1", "2")
}

func TestAuditReadsRelaxedPostgres(t *testing.T) {
	dsn := os.Getenv("SECR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SECR_TEST_POSTGRES is not set")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := strings.ReplaceAll(api.NewID("t"), "_", "")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	s, err := Open(context.Background(), fmt.Sprintf("%s%ssearch_path=%s", dsn, sep, schema))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var def string
	if err := s.db.QueryRow(`SHOW synchronous_commit`).Scan(&def); err != nil || def != "on" {
		t.Skipf("the server's synchronous_commit is %q (%v), not on: nothing to relax", def, err)
	}
	checkAuditDurability(t, s, "off", "on")
}

// auditBatches records the size of every group-commit batch of s and
// counts the batches that waited for announced reads.
func auditBatches(s *Store) (sizes func() []int, waits func() int) {
	var mu sync.Mutex
	var seen []int
	n := 0
	s.observeAuditBatch = func(requests int) {
		mu.Lock()
		seen = append(seen, requests)
		mu.Unlock()
	}
	s.onAuditWait = func() {
		mu.Lock()
		n++
		mu.Unlock()
	}
	return func() []int {
			mu.Lock()
			defer mu.Unlock()
			return append([]int(nil), seen...)
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			return n
		}
}

// TestAuditBatchWaitsForAnnouncedReads: a batch that starts while other
// announced reads are on their way commits only once every one of them has
// queued its entry or withdrawn, so they share one commit, and each is
// answered after it.
func TestAuditBatchWaitsForAnnouncedReads(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.auditLinger = time.Hour // only the reads can end the wait
	sizes, _ := auditBatches(s)
	waiting := make(chan struct{})
	s.onAuditWait = func() { close(waiting) } // once: the test has one wait

	const reads = 8
	ctxs := make([]context.Context, reads)
	dones := make([]func(), reads)
	for i := range ctxs {
		ctxs[i], dones[i] = s.ExpectAudit(context.Background())
	}
	results := make(chan error, reads)
	read := func(i int) {
		defer dones[i]()
		results <- s.AppendAudit(ctxs[i], audit.Entry{OrgID: "org_1", Action: audit.ActionRead, At: time.Now(), Detail: fmt.Sprint(i)})
	}
	go read(0)
	select {
	case <-waiting:
	case err := <-results:
		t.Fatalf("the first read's batch committed (%v) while %d announced reads were on their way", err, reads-1)
	}
	for i := 1; i < reads-1; i++ {
		go read(i)
	}
	dones[reads-1]() // a read that failed before its entry
	dones[reads-1]() // withdrawing twice is harmless
	for range reads - 1 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if got := sizes(); len(got) != 1 || got[0] != reads-1 {
		t.Fatalf("batches %v, want one of %d requests", got, reads-1)
	}
	if _, entries, err := s.AuditLog(context.Background(), "org_1", store.AuditQuery{}); err != nil || len(entries) != reads-1 {
		t.Fatalf("log: %d entries, %v; want %d", len(entries), err, reads-1)
	}
}

// TestAuditLoneReadDoesNotWait: a read with no other read announced (or
// only ones that withdrew) commits without waiting for company, even
// right after a batch of concurrent reads.
func TestAuditLoneReadDoesNotWait(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.auditLinger = time.Hour // a wait would not end by itself
	_, waits := auditBatches(s)
	ctx := context.Background()
	entry := audit.Entry{OrgID: "org_1", Action: audit.ActionRead, At: time.Now()}

	// Concurrent reads that were not announced: nothing to wait for.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.AppendAudit(ctx, entry); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A read that was announced and gave up, then lone announced reads.
	_, gaveUp := s.ExpectAudit(ctx)
	gaveUp()
	for range 3 {
		rctx, done := s.ExpectAudit(ctx)
		if err := s.AppendAudit(rctx, entry); err != nil {
			t.Fatal(err)
		}
		done()
	}
	if n := waits(); n != 0 {
		t.Fatalf("%d batches waited for company with no other read on its way", n)
	}
	if _, entries, err := s.AuditLog(ctx, "org_1", store.AuditQuery{}); err != nil || len(entries) != 11 {
		t.Fatalf("log: %d entries, %v; want 11", len(entries), err)
	}
}

// TestAuditWaitBounded: a batch waits at most lingerFor for an announced
// read that does not come, and later batches do not wait for it again.
func TestAuditWaitBounded(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, waits := auditBatches(s)
	ctx := context.Background()
	_, stuck := s.ExpectAudit(ctx) // announced, and held up until the end
	defer stuck()
	entry := audit.Entry{OrgID: "org_1", Action: audit.ActionRead, At: time.Now()}
	for range 3 {
		if err := s.AppendAudit(ctx, entry); err != nil {
			t.Fatal(err)
		}
	}
	if n := waits(); n != 1 {
		t.Fatalf("%d batches waited for the held-up read, want the first one only", n)
	}
}

// TestAuditDrainStays: one drain goroutine writes batch after batch while
// they keep coming (a new one per batch spent CPU growing its stack), ends
// after drainLinger without work, and the next entry starts another.
func TestAuditDrainStays(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	starts := 0
	ended := make(chan struct{}, 1)
	s.onDrainStart = func() { mu.Lock(); starts++; mu.Unlock() }
	s.onDrainEnd = func() { ended <- struct{}{} }
	s.drainLinger = time.Hour // stays until the test lets it go
	ctx := context.Background()
	entry := audit.Entry{OrgID: "org_1", Action: audit.ActionRead, At: time.Now()}
	for range 5 { // one after the other: the queue empties between them
		if err := s.AppendAudit(ctx, entry); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	n := starts
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d drain goroutines for 5 batches in a row, want 1", n)
	}

	// Without work it ends; the next entry starts another, and commits.
	s.audit.mu.Lock()
	s.drainLinger = time.Nanosecond
	s.audit.mu.Unlock()
	if err := s.AppendAudit(ctx, entry); err != nil { // its wait now ends at once
		t.Fatal(err)
	}
	<-ended
	if err := s.AppendAudit(ctx, entry); err != nil {
		t.Fatal(err)
	}
	<-ended
	mu.Lock()
	n = starts
	mu.Unlock()
	if n != 2 {
		t.Fatalf("%d drain goroutines, want 2", n)
	}
	if _, entries, err := s.AuditLog(ctx, "org_1", store.AuditQuery{}); err != nil || len(entries) != 7 {
		t.Fatalf("log: %d entries, %v; want 7", len(entries), err)
	}
}

// TestAuditBatchRows: whatever split of multi-row INSERTs a batch takes
// (32, 16, ..., 1 rows), the entries of every size of batch up to 70 are
// all written and chain in order.
func TestAuditBatchRows(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	total := 0
	for n := 1; n <= 70; n++ {
		entries := make([]audit.Entry, n)
		for i := range entries {
			entries[i] = audit.Entry{OrgID: "org_1", Action: audit.ActionRead, At: time.Now(), Detail: fmt.Sprint(total + i)}
		}
		if err := s.AppendAudit(ctx, entries...); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	cp, entries, err := s.AuditLog(ctx, "org_1", store.AuditQuery{})
	if err != nil || len(entries) != total {
		t.Fatalf("log: %d entries, %v; want %d", len(entries), err, total)
	}
	for i, e := range entries {
		if e.Detail != fmt.Sprint(i) || e.Seq != uint64(i+1) {
			t.Fatalf("entry %d is %q, seq %d", i, e.Detail, e.Seq)
		}
	}
	if err := audit.Verify("org_1", cp, entries); err != nil {
		t.Fatal(err)
	}
}
