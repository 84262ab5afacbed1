package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "sub", "secr.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSQLiteFileIsPrivateAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secr.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := s.ServerSecret(context.Background())
	s.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database mode %v, %v", fi.Mode(), err)
	}
	// Migrations are idempotent and data survives a restart.
	s, err = Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again, _ := s.ServerSecret(context.Background())
	if string(again) != string(secret) {
		t.Fatal("server secret changed across restarts")
	}
}

// TestPostgres runs the same suite on PostgreSQL, each test in a schema of
// its own. SECR_TEST_POSTGRES names the database (.ci/run sets it).
func TestPostgres(t *testing.T) {
	dsn := os.Getenv("SECR_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SECR_TEST_POSTGRES is not set; .ci/run sets it to the local PostgreSQL")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Ping(); err != nil {
		t.Fatalf("SECR_TEST_POSTGRES is set but PostgreSQL does not answer: %v", err)
	}
	storetest.Run(t, func(t *testing.T) store.Store {
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

func TestSQLiteSynchronousFull(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Every write goes through the one writer connection: it must have it.
	var mode int
	if err := s.db.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 { // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
		t.Fatalf("writer: synchronous=%d, want 2 (FULL)", mode)
	}
	if n := s.db.Stats().MaxOpenConnections; n != 1 {
		t.Fatalf("writer pool allows %d connections, want 1", n)
	}
	var pages int
	if err := s.db.QueryRowContext(context.Background(), `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != walAutocheckpoint {
		t.Fatalf("writer: wal_autocheckpoint=%d, want %d", pages, walAutocheckpoint)
	}
}

// TestSQLiteReadPool checks that readers are a kept pool of read-only
// connections: a write through one is refused, and they stay open.
func TestSQLiteReadPool(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	conns := make([]*sql.Conn, 4)
	for i := range conns {
		c, err := s.rdb.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	for i, c := range conns {
		if _, err := c.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('x', x'00')`); err == nil {
			t.Fatalf("reader %d accepted a write", i)
		}
		c.Close()
	}
	if st := s.rdb.Stats(); st.Idle < len(conns) {
		t.Fatalf("read pool kept %d idle connections, want %d", st.Idle, len(conns))
	}
}

// BenchmarkAppendRevision measures what synchronous=FULL costs a write
// (one revision, the server's main write) against NORMAL:
//
//	go test -run '^$' -bench AppendRevision ./internal/store/sqlstore
func BenchmarkAppendRevision(b *testing.B) {
	for _, mode := range []string{"NORMAL", "FULL"} {
		b.Run("synchronous="+mode, func(b *testing.B) {
			s, err := open(context.Background(), filepath.Join(b.TempDir(), "secr.db"), mode)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			must := func(err error) {
				if err != nil {
					b.Fatal(err)
				}
			}
			must(s.CreateUser(ctx, store.User{ID: "usr_a", Email: "a@example.com", Salt: []byte("s"), KDF: "{}", AuthHash: []byte("h"),
				PublicKey: "pk", Principal: []byte("p"), SealedKey: []byte("k"), RecoverySealedKey: []byte("r"), RecoveryAuthHash: []byte("rh")}))
			must(s.CreateOrg(ctx, store.Org{ID: "org_1", Name: "acme", Head: []byte("e0"), State: []byte("s0")}, "usr_a"))
			must(s.CreateProject(ctx, store.Project{ID: "prj_1", OrgID: "org_1", Name: "web"},
				[]store.Environment{{ID: "env_1", ProjectID: "prj_1", Name: "development", KeyVersion: 1}}, nil,
				store.ChainAppend{OrgID: "org_1", From: 1, Entries: [][]byte{[]byte("e1")}, State: []byte("s1")}))
			ct := make([]byte, 2048)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				must(s.AppendRevision(ctx, store.Revision{EnvID: "env_1", Revision: int64(i + 1), KeyVersion: 1, Header: []byte("h"), Ciphertext: ct, AuthorID: "usr_a"}, int64(i)))
			}
		})
	}
}

// TestFormat1Refused checks that a database secr v0.1 created (its
// schema_migrations table has rows, its meta no format) is refused with a
// message that says what to do, and left as it was.
func TestFormat1Refused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secr.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`,
		`INSERT INTO schema_migrations (version) VALUES (1), (2)`,
		`CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL)`,
		`INSERT INTO meta (k, v) VALUES ('server_secret', x'00')`,
		`CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(context.Background(), path)
	if err == nil {
		s.Close()
		t.Fatal("a format 1 database was opened")
	}
	if !errors.Is(err, ErrFormat1) || !strings.Contains(err.Error(), "created by secr v0.1 (format 1)") || !strings.Contains(err.Error(), "create a new database") {
		t.Fatalf("error: %v", err)
	}
	// Refusing changed nothing: asking again gives the same answer.
	if _, err := Open(context.Background(), path); !errors.Is(err, ErrFormat1) {
		t.Fatalf("second open: %v", err)
	}
}

// TestFormatRecorded checks that a new database records format 2 and that
// one claiming an unknown format is refused.
func TestFormatRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secr.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var v []byte
	if err := s.db.QueryRow(`SELECT v FROM meta WHERE k = 'format'`).Scan(&v); err != nil || string(v) != "2" {
		t.Fatalf("format %q, %v", v, err)
	}
	if _, err := s.db.Exec(`UPDATE meta SET v = x'33' WHERE k = 'format'`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), `format "3"`) {
		t.Fatalf("unknown format: %v", err)
	}
}

// TestResolveEnvReplicas: two stores on one database (replicas) each
// remember the revisions they read; a revision written through one is what
// the other answers next, and an environment path that names another
// environment now never gets the old one's bytes.
func TestResolveEnvReplicas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "secr.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	must(a.CreateUser(ctx, store.User{ID: "usr_a", Email: "a@example.com", Salt: []byte("s"), KDF: "{}", AuthHash: []byte("h"), PublicKey: "k", Principal: []byte("p"), SealedKey: []byte("k"), RecoverySealedKey: []byte("k"), RecoveryAuthHash: []byte("h"), CreatedAt: now}))
	must(a.CreateOrg(ctx, store.Org{ID: "org_1", Name: "acme", Head: []byte("e0"), State: []byte("s0"), CreatedAt: now}, "usr_a"))
	must(a.CreateProject(ctx, store.Project{ID: "prj_1", OrgID: "org_1", Name: "web", CreatedAt: now},
		[]store.Environment{{ID: "env_1", ProjectID: "prj_1", Name: "dev", KeyVersion: 1, CreatedAt: now}}, nil,
		store.ChainAppend{OrgID: "org_1", From: 1, Entries: [][]byte{[]byte("e1")}, State: []byte("s1")}))
	rev := func(env string, n int64) store.Revision {
		return store.Revision{EnvID: env, Revision: n, KeyVersion: 1, Header: fmt.Appendf(nil, "%s h%d", env, n),
			Ciphertext: fmt.Appendf(nil, "%s ct%d", env, n), AuthorID: "usr_a", CreatedAt: now}
	}
	check := func(s *Store, env string, n int64) {
		t.Helper()
		for range 2 { // the second from memory, where the store keeps it
			r, err := s.ResolveEnv(ctx, "acme", "web", "dev", "usr_a")
			must(err)
			want := rev(env, n)
			if r.Latest == nil || r.Latest.EnvID != env || r.Latest.Revision != n ||
				string(r.Latest.Header) != string(want.Header) || string(r.Latest.Ciphertext) != string(want.Ciphertext) {
				t.Fatalf("latest %+v, want %s revision %d", r.Latest, env, n)
			}
		}
	}
	must(a.AppendRevision(ctx, rev("env_1", 1), 0))
	check(a, "env_1", 1)
	check(b, "env_1", 1)
	must(b.AppendRevision(ctx, rev("env_1", 2), 1))
	check(a, "env_1", 2)
	check(b, "env_1", 2)
	// The path "acme/web/dev" now names another environment, at the same
	// revision number.
	must(exec(a, `UPDATE environments SET name = 'old' WHERE id = 'env_1'`))
	must(exec(a, `INSERT INTO environments (id, project_id, name, key_version, created_at) VALUES ('env_2', 'prj_1', 'dev', 1, 0)`))
	must(a.AppendRevision(ctx, rev("env_2", 1), 0))
	must(a.AppendRevision(ctx, rev("env_2", 2), 1))
	check(a, "env_2", 2)
	check(b, "env_2", 2)
	// Edited in the database behind the servers' backs (as an attacker
	// with the database could): served as the database holds it, and
	// again once it is put back.
	for _, q := range []string{`UPDATE revisions SET ciphertext = X'00' WHERE env_id = 'env_2' AND revision = 2`,
		`UPDATE revisions SET header = X'00' WHERE env_id = 'env_2' AND revision = 2`} {
		must(exec(a, q))
		for _, s := range []*Store{a, b} {
			r, err := s.ResolveEnv(ctx, "acme", "web", "dev", "usr_a")
			must(err)
			if string(r.Latest.Header) == string(rev("env_2", 2).Header) && string(r.Latest.Ciphertext) == string(rev("env_2", 2).Ciphertext) {
				t.Fatalf("after %s: served the revision as it was", q)
			}
		}
	}
	must(exec(a, `DELETE FROM revisions WHERE env_id = 'env_2' AND revision = 2`))
	r2 := rev("env_2", 2)
	must(a.AppendRevision(ctx, r2, 1))
	check(a, "env_2", 2)
	check(b, "env_2", 2)
}

func exec(s *Store, q string) error {
	_, err := s.db.ExecContext(context.Background(), q)
	return err
}
