package serve

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestRefusesFormat1Database: a database secr v0.1 made stops the server
// at start, with what to do.
func TestRefusesFormat1Database(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secr.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`,
		`INSERT INTO schema_migrations (version) VALUES (1), (2)`,
		`CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	c := NewCommand(func(string) string { return "" })
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs([]string{"--db", path, "--listen", "127.0.0.1:0"})
	err = c.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "this database was created by secr v0.1 (format 1), which trust model v2 cannot use: create a new database") {
		t.Fatalf("server start on a v0.1 database: %v", err)
	}
}
