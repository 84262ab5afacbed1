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
