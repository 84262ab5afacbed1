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
