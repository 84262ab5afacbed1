package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
				PublicKey: "pk", SealedKey: []byte("k"), RecoverySealedKey: []byte("r"), RecoveryAuthHash: []byte("rh")}))
			must(s.CreateOrg(ctx, store.Org{ID: "org_1", Name: "acme"}, "usr_a"))
			must(s.CreateProject(ctx, store.Project{ID: "prj_1", OrgID: "org_1", Name: "web"},
				[]store.Environment{{ID: "env_1", ProjectID: "prj_1", Name: "development", KeyVersion: 1}}, nil))
			ct := make([]byte, 2048)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				must(s.AppendRevision(ctx, store.Revision{EnvID: "env_1", Revision: int64(i + 1), KeyVersion: 1, Ciphertext: ct, AuthorID: "usr_a"}, int64(i)))
			}
		})
	}
}
