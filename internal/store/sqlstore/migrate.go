package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// format is the database format this server writes: 2 is trust model v2
// (signed org chains, grants and revision headers). Format 1 (secr v0.1)
// was never released, so there is no migration from it.
const format = "2"

// ErrFormat1 refuses a database created by secr v0.1.
var ErrFormat1 = errors.New("this database was created by secr v0.1 (format 1), which trust model v2 cannot use: create a new database (nothing was released, so there is no migration)")

// schema is format 2, created in one transaction on an empty database.
const schema = `CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
	CREATE TABLE users (
		id TEXT PRIMARY KEY,
		email TEXT NOT NULL UNIQUE,
		salt BLOB NOT NULL,
		kdf TEXT NOT NULL,
		auth_hash BLOB NOT NULL,
		public_key TEXT NOT NULL,
		principal BLOB NOT NULL,
		sealed_key BLOB NOT NULL,
		recovery_sealed_key BLOB NOT NULL,
		recovery_auth_hash BLOB NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE sessions (
		token_hash BLOB PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		expires_at BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE orgs (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		head_seq BIGINT NOT NULL,
		head BLOB NOT NULL,
		chain_state BLOB NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE chain_entries (
		org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
		seq BIGINT NOT NULL,
		entry BLOB NOT NULL,
		PRIMARY KEY (org_id, seq)
	);
	CREATE TABLE members (
		org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
		user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		role TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (org_id, user_id)
	);
	CREATE TABLE projects (
		id TEXT PRIMARY KEY,
		org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		UNIQUE (org_id, name)
	);
	CREATE TABLE environments (
		id TEXT PRIMARY KEY,
		project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		key_version INTEGER NOT NULL,
		created_at BIGINT NOT NULL,
		UNIQUE (project_id, name)
	);
	CREATE TABLE grants (
		env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
		principal_id TEXT NOT NULL,
		key_version INTEGER NOT NULL,
		signed_grant BLOB NOT NULL,
		PRIMARY KEY (env_id, principal_id, key_version)
	);
	CREATE INDEX grants_principal ON grants (principal_id);
	CREATE TABLE revisions (
		env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
		revision BIGINT NOT NULL,
		key_version INTEGER NOT NULL,
		header BLOB NOT NULL,
		ciphertext BLOB NOT NULL,
		author_id TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (env_id, revision)
	);
	CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
		env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		auth_hash BLOB NOT NULL,
		read_write INTEGER NOT NULL,
		expires_at BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE login_failures (
		limit_key TEXT PRIMARY KEY,
		fails INTEGER NOT NULL,
		last_at BIGINT NOT NULL
	);
	CREATE INDEX login_failures_last ON login_failures (last_at);
	CREATE TABLE invites (
		id TEXT PRIMARY KEY,
		org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
		email TEXT NOT NULL,
		role TEXT NOT NULL,
		envs TEXT NOT NULL,
		inviter TEXT NOT NULL,
		sealed_secret BLOB NOT NULL,
		status TEXT NOT NULL,
		principal BLOB,
		mac BLOB,
		expires_at BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE INDEX invites_org ON invites (org_id);
	CREATE TABLE pending (
		org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
		env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
		principal_id TEXT NOT NULL,
		key_version INTEGER NOT NULL,
		PRIMARY KEY (env_id, principal_id)
	);
	CREATE INDEX pending_org ON pending (org_id);
	CREATE TABLE audit_log (
		org_id TEXT NOT NULL,
		seq BIGINT NOT NULL,
		at BIGINT NOT NULL,
		principal_id TEXT NOT NULL,
		principal TEXT NOT NULL,
		action TEXT NOT NULL,
		env_id TEXT NOT NULL,
		env TEXT NOT NULL,
		revision BIGINT NOT NULL,
		address TEXT NOT NULL,
		cli_version TEXT NOT NULL,
		command TEXT NOT NULL,
		detail TEXT NOT NULL,
		hash BLOB NOT NULL,
		PRIMARY KEY (org_id, seq)
	);
	CREATE INDEX audit_log_at ON audit_log (at);
	CREATE TABLE audit_checkpoints (
		org_id TEXT PRIMARY KEY,
		seq BIGINT NOT NULL,
		hash BLOB NOT NULL
	)`

// migrate creates the format 2 schema in an empty database, accepts one
// that already has it, and refuses anything else: a format 1 database
// (ErrFormat1) or one of an unknown format.
func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == postgres {
			// Replicas starting together take turns.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7700)`); err != nil {
				return err
			}
		}
		hasMeta, err := s.tableExists(ctx, tx, "meta")
		if err != nil {
			return err
		}
		if hasMeta {
			var v []byte
			err := tx.QueryRowContext(ctx, s.q(`SELECT v FROM meta WHERE k = ?`), "format").Scan(&v)
			switch {
			case err == nil && string(v) == format:
				return s.addAuditTables(ctx, tx)
			case err == nil:
				return fmt.Errorf("this database is in format %q, which this secr does not know (it writes format %s): use the secr that created it", v, format)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		v1, err := s.tableExists(ctx, tx, "schema_migrations")
		if err != nil {
			return err
		}
		if v1 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
				return err
			}
			v1 = n > 0
		}
		if v1 || hasMeta {
			// schema_migrations is how v0.1 tracked its schema; a meta table
			// without a format is v0.1's too.
			return ErrFormat1
		}
		ddl := schema
		if s.dialect == postgres {
			ddl = strings.ReplaceAll(ddl, " BLOB", " BYTEA")
		}
		for _, stmt := range strings.Split(ddl, ";") {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create schema: %w", err)
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO meta (k, v) VALUES (?, ?)`), "format", []byte(format))
		return err
	})
}

// tableExists reports whether the database (on PostgreSQL, the schema on
// the search path) has a table called name.
func (s *Store) tableExists(ctx context.Context, tx *sql.Tx, name string) (bool, error) {
	query := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if s.dialect == postgres {
		query = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	}
	var n int
	err := tx.QueryRowContext(ctx, s.q(query), name).Scan(&n)
	return n > 0, err
}
