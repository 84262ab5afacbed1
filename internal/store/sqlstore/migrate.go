package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations are applied in order, each once, inside a transaction. Append
// only: never edit a migration that has shipped.
var migrations = []string{
	`CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
	CREATE TABLE users (
		id TEXT PRIMARY KEY,
		email TEXT NOT NULL UNIQUE,
		salt BLOB NOT NULL,
		kdf TEXT NOT NULL,
		auth_hash BLOB NOT NULL,
		public_key TEXT NOT NULL,
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
	CREATE TABLE orgs (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL);
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
		wrapped_key BLOB NOT NULL,
		PRIMARY KEY (env_id, principal_id, key_version)
	);
	CREATE INDEX grants_principal ON grants (principal_id);
	CREATE TABLE revisions (
		env_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
		revision BIGINT NOT NULL,
		key_version INTEGER NOT NULL,
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
		public_key TEXT NOT NULL,
		read_write INTEGER NOT NULL,
		expires_at BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);`,
	// 2: failed-login counts, shared by every replica (rate limiting).
	`CREATE TABLE login_failures (
		limit_key TEXT PRIMARY KEY,
		fails INTEGER NOT NULL,
		last_at BIGINT NOT NULL
	);
	CREATE INDEX login_failures_last ON login_failures (last_at);`,
}

func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == postgres {
			// Replicas starting together take turns.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7700)`); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
			return err
		}
		var applied int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
			return err
		}
		for i := applied; i < len(migrations); i++ {
			ddl := migrations[i]
			if s.dialect == postgres {
				ddl = strings.ReplaceAll(ddl, " BLOB", " BYTEA")
			}
			for _, stmt := range strings.Split(ddl, ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d: %w", i+1, err)
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version) VALUES (?)`), i+1); err != nil {
				return err
			}
		}
		return nil
	})
}
