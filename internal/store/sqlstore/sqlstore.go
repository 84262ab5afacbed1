// Package sqlstore implements store.Store on SQLite (the embedded default,
// pure Go via modernc.org/sqlite) and PostgreSQL (via pgx). The two share
// every query; only placeholders, a few column types and error
// classification differ, so one implementation keeps them from drifting.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"           // registers "sqlite"

	"github.com/secr-dev/secr/internal/store"
)

type dialect int

const (
	sqlite dialect = iota
	postgres
)

// Store is a store.Store on a SQL database.
type Store struct {
	// db is where writes and transactions go. On SQLite it is a single
	// connection: SQLite has one writer at a time anyway, and one
	// connection makes every transaction BEGIN IMMEDIATE without lock
	// upgrades or busy waits between this process's own writers.
	db *sql.DB
	// rdb serves reads outside transactions: on SQLite a pool of read-only
	// connections (WAL lets them run beside the writer), on PostgreSQL
	// the same pool as db.
	rdb     *sql.DB
	dialect dialect
	// stmts caches prepared read statements by query text (*sql.Stmt on
	// rdb). database/sql prepares each on a connection the first time it
	// runs there and keeps it while the connection lives, so the pool's
	// connections parse each query once.
	stmts sync.Map
	// audit is AppendAudit's group commit (audit.go).
	audit auditBatch
	// revs remembers the latest revision read through each environment
	// path (revcache.go).
	revs revCache
	// observeAuditTx, when set (by tests), runs at the end of every audit
	// append inside its transaction, to observe the transaction itself.
	observeAuditTx func(ctx context.Context, tx *sql.Tx)
	// observeAuditBatch, when set (by tests), is told the number of
	// requests of every group-commit batch before it commits;
	// onAuditWait, when a batch starts waiting for announced reads; and
	// auditLinger, when not zero, bounds that wait instead of lingerFor.
	observeAuditBatch func(requests int)
	onAuditWait       func()
	auditLinger       time.Duration
	// onDrainStart and onDrainEnd, when set (by tests), are told when a
	// drainAudit goroutine starts and ends; drainLinger, when not zero,
	// is how long it waits for work instead of the constant's.
	onDrainStart, onDrainEnd func()
	drainLinger              time.Duration
}

var _ store.Store = (*Store)(nil)

// IsPostgres reports whether dsn names a PostgreSQL database rather than a
// SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens (creating if needed) and migrates the database at dsn: a
// postgres:// URL, or a SQLite file path.
//
// SQLite runs in WAL mode with synchronous=FULL: a transaction is on disk
// (fsynced) before its commit returns, so an acknowledged write survives
// power loss as well as a killed process. (NORMAL would survive kill -9
// but could lose the last commits on power loss.) The one exception is a
// batch of read and sign-in audit entries alone, which commits with NORMAL
// (appendAuditOnly).
func Open(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, "FULL")
}

// walAutocheckpoint is how many WAL pages the writer lets accumulate
// before it checkpoints them into the database file after a commit
// (SQLite's default is 1,000). A checkpoint fsyncs the WAL and the file,
// about 4.5 ms on this project's machine, and the writer, with every read
// waiting for its audit entry, waits for it: under load at the default
// that was 11 checkpoints a second. The audit log's appends rewrite the
// same few pages, so a longer WAL holds few more distinct pages and a
// checkpoint copies about as much.
const walAutocheckpoint = 10000

// readConns is the size of the read pool: enough for every CPU to run a
// query while others wait on the network, kept open (idle connections are
// not closed), so a request never pays for opening a connection and
// reading the schema.
func readConns() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// open is Open with SQLite's synchronous setting (benchmarks compare them).
func open(ctx context.Context, dsn, synchronous string) (*Store, error) {
	var s Store
	var err error
	if IsPostgres(dsn) {
		s.dialect = postgres
		// pgx prepares and caches every statement per connection (the
		// extended protocol's named statements); keeping the connections
		// open keeps those caches.
		s.db, err = sql.Open("pgx", dsn)
		if err == nil {
			n := 2 * readConns()
			s.db.SetMaxOpenConns(n)
			s.db.SetMaxIdleConns(n)
			s.db.SetConnMaxIdleTime(5 * time.Minute)
			s.rdb = s.db
		}
	} else {
		s.dialect = sqlite
		if dir := filepath.Dir(dsn); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create database directory: %w", err)
			}
		}
		// WAL lets readers run beside the single writer; IMMEDIATE
		// transactions take the write lock up front, so two writers queue
		// on busy_timeout instead of deadlocking on a lock upgrade. The
		// pragmas run once per connection, when it opens.
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous("+synchronous+")")
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walAutocheckpoint))
		q.Set("_txlock", "immediate")
		s.db, err = sql.Open("sqlite", "file:"+dsn+"?"+q.Encode())
		if err == nil {
			s.db.SetMaxOpenConns(1)
			s.db.SetMaxIdleConns(1)
			s.db.SetConnMaxLifetime(0)
			s.db.SetConnMaxIdleTime(0)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if s.dialect == sqlite {
		// The database file holds password hashes and ciphertext: keep it private.
		_ = os.Chmod(dsn, 0o600)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		if errors.Is(err, ErrFormat1) {
			return nil, err // says what to do as it is
		}
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	if s.dialect == sqlite {
		// Readers open after the migration, so they never see an old schema.
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "query_only(1)")
		s.rdb, err = sql.Open("sqlite", "file:"+dsn+"?"+q.Encode())
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("open database: %w", err)
		}
		n := readConns()
		s.rdb.SetMaxOpenConns(n)
		s.rdb.SetMaxIdleConns(n)
		s.rdb.SetConnMaxLifetime(0)
		s.rdb.SetConnMaxIdleTime(0)
	}
	return &s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	s.audit.mu.Lock()
	for _, st := range s.audit.stmts {
		st.Close()
	}
	s.audit.mu.Unlock()
	if s.rdb != s.db {
		s.rdb.Close()
	}
	return s.db.Close()
}

// stmt returns the prepared read statement for query (with ? placeholders).
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.rdb.PrepareContext(ctx, s.q(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// readRow runs a one-row read on the read pool through a prepared statement.
func (s *Store) readRow(ctx context.Context, query string, args ...any) rowScanner {
	if s.dialect == sqlite {
		// One short read of a local file, not worth stopping when the
		// client goes: with a context that can end, database/sql and the
		// driver would each start a goroutine per read to watch it.
		ctx = context.WithoutCancel(ctx)
	}
	st, err := s.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// read runs a read on the read pool through a prepared statement.
func (s *Store) read(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// q rewrites ? placeholders to $N for PostgreSQL.
func (s *Store) q(query string) string {
	if s.dialect != postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s *Store) exec(ctx context.Context, ex execer, query string, args ...any) error {
	_, err := ex.ExecContext(ctx, s.q(query), args...)
	return s.classify(err)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// classify maps driver errors to store sentinels.
func (s *Store) classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", store.ErrExists, pgErr.ConstraintName)
	}
	if s.dialect == sqlite && strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return fmt.Errorf("%w: %v", store.ErrExists, err)
	}
	return err
}

func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := s.appendAuditTx(ctx, tx, store.AuditFrom(ctx), false); err != nil {
		tx.Rollback()
		return err
	}
	return s.classify(tx.Commit())
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (s *Store) ServerSecret(ctx context.Context) ([]byte, error) {
	var v []byte
	err := s.readRow(ctx, `SELECT v FROM meta WHERE k = ?`, "server_secret").Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	v = make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	// Two replicas may race here; the loser reads the winner's secret.
	if err := s.exec(ctx, s.db, `INSERT INTO meta (k, v) VALUES (?, ?)`, "server_secret", v); err != nil && !errors.Is(err, store.ErrExists) {
		return nil, err
	}
	err = s.db.QueryRowContext(ctx, s.q(`SELECT v FROM meta WHERE k = ?`), "server_secret").Scan(&v)
	return v, s.classify(err)
}

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return s.exec(ctx, s.db, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Salt, u.KDF, u.AuthHash, u.PublicKey, u.Principal, u.SealedKey, u.RecoverySealedKey, u.RecoveryAuthHash, ms(u.CreatedAt))
}

const userCols = `id, email, salt, kdf, auth_hash, public_key, principal, sealed_key, recovery_sealed_key, recovery_auth_hash, created_at`

func (s *Store) scanUser(row rowScanner) (store.User, error) {
	var u store.User
	var created int64
	err := row.Scan(&u.ID, &u.Email, &u.Salt, &u.KDF, &u.AuthHash, &u.PublicKey, &u.Principal, &u.SealedKey, &u.RecoverySealedKey, &u.RecoveryAuthHash, &created)
	u.CreatedAt = fromMS(created)
	return u, s.classify(err)
}

func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	return s.scanUser(s.readRow(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
}

func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	return s.scanUser(s.readRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

func (s *Store) UpdatePassword(ctx context.Context, userID string, salt []byte, kdf string, authHash, sealedKey []byte) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET salt = ?, kdf = ?, auth_hash = ?, sealed_key = ? WHERE id = ?`),
			salt, kdf, authHash, sealedKey, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if err := s.exec(ctx, tx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
			return err
		}
		return s.notifyAccess(ctx, tx, userID)
	})
}

// accessChannel carries the ID of a principal whose sessions, token or
// grants changed, so that every replica re-checks its event streams.
const accessChannel = "secr_access"

// notifyAccess tells every server sharing a PostgreSQL database, when tx
// commits, that principalID's access changed. On SQLite there is only one
// server process, which tells its own streams.
func (s *Store) notifyAccess(ctx context.Context, tx *sql.Tx, principalID string) error {
	if s.dialect != postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify('`+accessChannel+`', $1)`, principalID)
	return err
}

func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	return s.exec(ctx, s.db, `INSERT INTO sessions (token_hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)`,
		se.TokenHash, se.UserID, ms(se.ExpiresAt), ms(se.CreatedAt))
}

func (s *Store) SessionUser(ctx context.Context, hash []byte) (store.Session, store.User, error) {
	var se store.Session
	var u store.User
	var exp, created, uCreated int64
	err := s.readRow(ctx, `SELECT s.token_hash, s.user_id, s.expires_at, s.created_at,
		u.id, u.email, u.salt, u.kdf, u.auth_hash, u.public_key, u.principal, u.sealed_key, u.recovery_sealed_key, u.recovery_auth_hash, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, hash).
		Scan(&se.TokenHash, &se.UserID, &exp, &created,
			&u.ID, &u.Email, &u.Salt, &u.KDF, &u.AuthHash, &u.PublicKey, &u.Principal, &u.SealedKey, &u.RecoverySealedKey, &u.RecoveryAuthHash, &uCreated)
	se.ExpiresAt, se.CreatedAt, u.CreatedAt = fromMS(exp), fromMS(created), fromMS(uCreated)
	return se, u, s.classify(err)
}

func (s *Store) ResolveEnv(ctx context.Context, org, project, env, principalID string) (store.EnvAccess, error) {
	return s.resolveEnv(ctx, revCacheKey(org, project, env), resolveByNames, principalID, []any{project, env}, org)
}

func (s *Store) ResolveEnvByID(ctx context.Context, envID, principalID string) (store.EnvAccess, error) {
	return s.resolveEnv(ctx, "\x00"+envID, resolveByID, principalID, nil, envID)
}

// resolveEnvQuery is the query of ResolveEnv and ResolveEnvByID: from
// (which joins orgs o, members m for the principal, projects p and
// environments e, with placeholders for the principal and then the
// caller's) and where (one placeholder) pick the environment; the rest is
// the same. Built once: it is long, and it is the key of its prepared
// statement.
func resolveEnvQuery(from, where string) string {
	return `SELECT o.id, o.name, o.head_seq, o.head, m.role,
			p.id, p.name, e.id, e.name, e.key_version,
			g.signed_grant, r.revision, r.key_version,
			CASE WHEN r.header = ? THEN NULL ELSE r.header END,
			CASE WHEN r.ciphertext = ? THEN NULL ELSE r.ciphertext END,
			r.author_id, r.created_at,
			` + pendingForHolder + `
		` + from + `
		LEFT JOIN grants g ON g.env_id = e.id AND g.principal_id = ? AND g.key_version = e.key_version
		LEFT JOIN revisions r ON r.env_id = e.id AND r.revision = (SELECT MAX(revision) FROM revisions WHERE env_id = e.id)
		WHERE ` + where
}

var (
	resolveByNames = resolveEnvQuery(`FROM orgs o
		LEFT JOIN members m ON m.org_id = o.id AND m.user_id = ?
		LEFT JOIN projects p ON p.org_id = o.id AND p.name = ?
		LEFT JOIN environments e ON e.project_id = p.id AND e.name = ?`, `o.name = ?`)
	resolveByID = resolveEnvQuery(`FROM environments e
		JOIN projects p ON p.id = e.project_id
		JOIN orgs o ON o.id = p.org_id
		LEFT JOIN members m ON m.org_id = o.id AND m.user_id = ?`, `e.id = ?`)
)

// resolveRow is resolveEnv's row, scanned into one allocation rather than
// one per column. It has no creation times of the org, project and
// environment: nothing on a read's path uses them, and every column costs
// the driver a few calls per read.
type resolveRow struct {
	headSeq                                  int64
	role, pID, pName, eID, eName, rAuthor    sql.NullString
	eKeyVersion, rRev, rKeyVersion, rCreated sql.NullInt64
	signed, rHeader, rCT                     []byte
}

// resolveEnv runs query (resolveEnvQuery's) with the principal and
// fromArgs, then whereArg; key names the environment in s.revs.
func (s *Store) resolveEnv(ctx context.Context, key, query, principalID string, fromArgs []any, whereArg any) (store.EnvAccess, error) {
	var a store.EnvAccess
	row := new(resolveRow)
	// The revision this server last read here, if any: the query compares
	// the latest revision's header and ciphertext with its bytes in the
	// database and returns NULL instead of a column that is the same (both
	// are NOT NULL), which then comes from memory. What is served is always
	// what the database holds now, but an unchanged revision is neither
	// copied out of it nor allocated again.
	known := s.revs.get(key)
	var knownHeader, knownCT any // NULL: compares as unknown, so the column is read
	if known != nil {
		knownHeader, knownCT = known.Header, known.Ciphertext
	}
	args := make([]any, 0, 8)
	args = append(args, knownHeader, knownCT, principalID, principalID)
	args = append(args, fromArgs...)
	args = append(args, principalID, whereArg)
	err := s.readRow(ctx, query, args...).
		Scan(&a.Org.ID, &a.Org.Name, &row.headSeq, &a.Org.Head, &row.role,
			&row.pID, &row.pName, &row.eID, &row.eName, &row.eKeyVersion,
			&row.signed, &row.rRev, &row.rKeyVersion, &row.rHeader, &row.rCT, &row.rAuthor, &row.rCreated, &a.Pending)
	if err != nil {
		return a, s.classify(err)
	}
	a.Org.HeadSeq, a.MemberRole = uint64(row.headSeq), row.role.String
	if row.pID.Valid {
		a.Project = &store.Project{ID: row.pID.String, OrgID: a.Org.ID, Name: row.pName.String}
	}
	if row.eID.Valid {
		a.Env = &store.Environment{ID: row.eID.String, ProjectID: row.pID.String, Name: row.eName.String, KeyVersion: int(row.eKeyVersion.Int64)}
	}
	if row.signed != nil {
		a.Grant = &store.Grant{EnvID: row.eID.String, PrincipalID: principalID, KeyVersion: int(row.eKeyVersion.Int64), Signed: row.signed}
	}
	if row.rRev.Valid {
		r := &store.Revision{EnvID: row.eID.String, Revision: row.rRev.Int64, KeyVersion: int(row.rKeyVersion.Int64), Header: row.rHeader, Ciphertext: row.rCT, AuthorID: row.rAuthor.String, CreatedAt: fromMS(row.rCreated.Int64)}
		fresh := r.Header != nil || r.Ciphertext != nil
		if (r.Header == nil || r.Ciphertext == nil) && known == nil {
			return a, fmt.Errorf("env %s revision %d: header or ciphertext is NULL", r.EnvID, r.Revision)
		}
		if r.Header == nil {
			r.Header = known.Header
		}
		if r.Ciphertext == nil {
			r.Ciphertext = known.Ciphertext
		}
		if fresh || known.EnvID != r.EnvID || known.Revision != r.Revision {
			c := *r
			s.revs.put(key, &c)
		}
		a.Latest = r
	}
	return a, nil
}

func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var userID string
		err := tx.QueryRowContext(ctx, s.q(`SELECT user_id FROM sessions WHERE token_hash = ?`), hash).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.exec(ctx, tx, `DELETE FROM sessions WHERE token_hash = ?`, hash); err != nil {
			return err
		}
		return s.notifyAccess(ctx, tx, userID)
	})
}

func (s *Store) CreateOrg(ctx context.Context, org store.Org, ownerID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if org.HeadSeq != 0 || len(org.Head) == 0 || len(org.State) == 0 {
			return fmt.Errorf("create org %q: its chain must be exactly the root", org.ID)
		}
		if err := s.exec(ctx, tx, `INSERT INTO orgs (id, name, head_seq, head, chain_state, created_at) VALUES (?, ?, 0, ?, ?, ?)`,
			org.ID, org.Name, org.Head, org.State, ms(org.CreatedAt)); err != nil {
			return err
		}
		if err := s.exec(ctx, tx, `INSERT INTO chain_entries (org_id, seq, entry) VALUES (?, 0, ?)`, org.ID, org.Head); err != nil {
			return err
		}
		return s.exec(ctx, tx, `INSERT INTO members (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
			org.ID, ownerID, store.RoleOwner, ms(org.CreatedAt))
	})
}

func (s *Store) OrgByName(ctx context.Context, name string) (store.Org, error) {
	return s.org(ctx, `name`, name)
}

func (s *Store) OrgByID(ctx context.Context, id string) (store.Org, error) {
	return s.org(ctx, `id`, id)
}

func (s *Store) org(ctx context.Context, col, v string) (store.Org, error) {
	var o store.Org
	var created, headSeq int64
	err := s.readRow(ctx, `SELECT id, name, created_at, head_seq, head, chain_state FROM orgs WHERE `+col+` = ?`, v).
		Scan(&o.ID, &o.Name, &created, &headSeq, &o.Head, &o.State)
	o.CreatedAt, o.HeadSeq = fromMS(created), uint64(headSeq)
	return o, s.classify(err)
}

func (s *Store) Chain(ctx context.Context, orgID string, from uint64) ([][]byte, error) {
	rows, err := s.read(ctx, `SELECT entry FROM chain_entries WHERE org_id = ? AND seq >= ? ORDER BY seq`, orgID, int64(min(from, 1<<62)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var e []byte
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// appendChain appends c in tx, first moving the org's head, which is
// conditional on the head being where c starts: concurrent appends
// serialise on the org row and all but the first get ErrChainMoved.
func (s *Store) appendChain(ctx context.Context, tx *sql.Tx, c store.ChainAppend) error {
	if len(c.Entries) == 0 || c.From == 0 || len(c.State) == 0 {
		return fmt.Errorf("org chain append to %q: no entries or state", c.OrgID)
	}
	last := c.From + uint64(len(c.Entries)) - 1
	res, err := tx.ExecContext(ctx, s.q(`UPDATE orgs SET head_seq = ?, head = ?, chain_state = ? WHERE id = ? AND head_seq = ?`),
		int64(last), c.Entries[len(c.Entries)-1], c.State, c.OrgID, int64(c.From-1))
	if err != nil {
		return s.classify(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return store.ErrChainMoved
	}
	for i, e := range c.Entries {
		err := s.exec(ctx, tx, `INSERT INTO chain_entries (org_id, seq, entry) VALUES (?, ?, ?)`, c.OrgID, int64(c.From)+int64(i), e)
		if errors.Is(err, store.ErrExists) {
			return store.ErrChainMoved
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) OrgsForUser(ctx context.Context, userID string) ([]store.OrgMembership, error) {
	rows, err := s.read(ctx, `SELECT o.id, o.name, o.created_at, m.role FROM orgs o
		JOIN members m ON m.org_id = o.id WHERE m.user_id = ? ORDER BY o.name`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.OrgMembership
	for rows.Next() {
		var m store.OrgMembership
		var created int64
		if err := rows.Scan(&m.ID, &m.Name, &created, &m.Role); err != nil {
			return nil, err
		}
		m.CreatedAt = fromMS(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *Store) Member(ctx context.Context, orgID, userID string) (store.Member, error) {
	var m store.Member
	var created int64
	err := s.readRow(ctx, `SELECT org_id, user_id, role, created_at FROM members WHERE org_id = ? AND user_id = ?`, orgID, userID).
		Scan(&m.OrgID, &m.UserID, &m.Role, &created)
	m.CreatedAt = fromMS(created)
	return m, s.classify(err)
}

func (s *Store) insertEnv(ctx context.Context, tx *sql.Tx, e store.Environment, grants []store.Grant) error {
	if err := s.exec(ctx, tx, `INSERT INTO environments (id, project_id, name, key_version, created_at) VALUES (?, ?, ?, ?, ?)`,
		e.ID, e.ProjectID, e.Name, e.KeyVersion, ms(e.CreatedAt)); err != nil {
		return err
	}
	return s.insertGrants(ctx, tx, grants, e.ID)
}

func (s *Store) insertGrants(ctx context.Context, tx *sql.Tx, grants []store.Grant, envID string) error {
	for _, g := range grants {
		if g.EnvID != envID {
			continue
		}
		if err := s.exec(ctx, tx, `INSERT INTO grants (env_id, principal_id, key_version, signed_grant) VALUES (?, ?, ?, ?)`,
			g.EnvID, g.PrincipalID, g.KeyVersion, g.Signed); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) CreateProject(ctx context.Context, p store.Project, envs []store.Environment, grants []store.Grant, c store.ChainAppend) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.appendChain(ctx, tx, c); err != nil {
			return err
		}
		if err := s.exec(ctx, tx, `INSERT INTO projects (id, org_id, name, created_at) VALUES (?, ?, ?, ?)`,
			p.ID, p.OrgID, p.Name, ms(p.CreatedAt)); err != nil {
			return err
		}
		for _, e := range envs {
			if err := s.insertEnv(ctx, tx, e, grants); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) scanProjects(rows *sql.Rows, err error) ([]store.Project, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Project
	for rows.Next() {
		var p store.Project
		var created int64
		if err := rows.Scan(&p.ID, &p.OrgID, &p.Name, &created); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMS(created)
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Store) oneProject(ps []store.Project, err error) (store.Project, error) {
	if err != nil {
		return store.Project{}, err
	}
	if len(ps) == 0 {
		return store.Project{}, store.ErrNotFound
	}
	return ps[0], nil
}

func (s *Store) ProjectByName(ctx context.Context, orgID, name string) (store.Project, error) {
	return s.oneProject(s.scanProjects(s.read(ctx, `SELECT id, org_id, name, created_at FROM projects WHERE org_id = ? AND name = ?`, orgID, name)))
}

func (s *Store) ProjectByID(ctx context.Context, id string) (store.Project, error) {
	return s.oneProject(s.scanProjects(s.read(ctx, `SELECT id, org_id, name, created_at FROM projects WHERE id = ?`, id)))
}

func (s *Store) Projects(ctx context.Context, orgID string) ([]store.Project, error) {
	return s.scanProjects(s.read(ctx, `SELECT id, org_id, name, created_at FROM projects WHERE org_id = ? ORDER BY name`, orgID))
}

func (s *Store) CreateEnvironment(ctx context.Context, e store.Environment, grants []store.Grant, c store.ChainAppend) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.appendChain(ctx, tx, c); err != nil {
			return err
		}
		return s.insertEnv(ctx, tx, e, grants)
	})
}

func (s *Store) scanEnvs(rows *sql.Rows, err error) ([]store.Environment, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Environment
	for rows.Next() {
		var e store.Environment
		var created int64
		if err := rows.Scan(&e.ID, &e.ProjectID, &e.Name, &e.KeyVersion, &created); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMS(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

func oneEnv(es []store.Environment, err error) (store.Environment, error) {
	if err != nil {
		return store.Environment{}, err
	}
	if len(es) == 0 {
		return store.Environment{}, store.ErrNotFound
	}
	return es[0], nil
}

const envCols = `id, project_id, name, key_version, created_at`

func (s *Store) EnvironmentByName(ctx context.Context, projectID, name string) (store.Environment, error) {
	return oneEnv(s.scanEnvs(s.read(ctx, `SELECT `+envCols+` FROM environments WHERE project_id = ? AND name = ?`, projectID, name)))
}

func (s *Store) EnvironmentByID(ctx context.Context, id string) (store.Environment, error) {
	return oneEnv(s.scanEnvs(s.read(ctx, `SELECT `+envCols+` FROM environments WHERE id = ?`, id)))
}

func (s *Store) Environments(ctx context.Context, projectID string) ([]store.Environment, error) {
	return s.scanEnvs(s.read(ctx, `SELECT `+envCols+` FROM environments WHERE project_id = ? ORDER BY created_at, name`, projectID))
}

func (s *Store) Grants(ctx context.Context, envID, principalID string) ([]store.Grant, error) {
	rows, err := s.read(ctx, `SELECT env_id, principal_id, key_version, signed_grant FROM grants
		WHERE env_id = ? AND principal_id = ? ORDER BY key_version`, envID, principalID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		var g store.Grant
		if err := rows.Scan(&g.EnvID, &g.PrincipalID, &g.KeyVersion, &g.Signed); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

const revCols = `env_id, revision, key_version, header, ciphertext, author_id, created_at`

func (s *Store) scanRevs(rows *sql.Rows, err error) ([]store.Revision, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Revision
	for rows.Next() {
		var r store.Revision
		var created int64
		if err := rows.Scan(&r.EnvID, &r.Revision, &r.KeyVersion, &r.Header, &r.Ciphertext, &r.AuthorID, &created); err != nil {
			return nil, err
		}
		r.CreatedAt = fromMS(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) LatestRevision(ctx context.Context, envID string) (store.Revision, error) {
	rs, err := s.scanRevs(s.read(ctx, `SELECT `+revCols+` FROM revisions WHERE env_id = ? ORDER BY revision DESC LIMIT 1`, envID))
	if err != nil {
		return store.Revision{}, err
	}
	if len(rs) == 0 {
		return store.Revision{}, store.ErrNotFound
	}
	return rs[0], nil
}

func (s *Store) Revisions(ctx context.Context, envID string) ([]store.Revision, error) {
	return s.scanRevs(s.read(ctx, `SELECT `+revCols+` FROM revisions WHERE env_id = ? ORDER BY revision`, envID))
}

func (s *Store) RevisionHeaders(ctx context.Context, envID string, since int64) ([][]byte, error) {
	rows, err := s.read(ctx, `SELECT header FROM revisions WHERE env_id = ? AND revision >= ? ORDER BY revision`, envID, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func (s *Store) AppendRevision(ctx context.Context, r store.Revision, base int64) error {
	if r.Revision != base+1 {
		return fmt.Errorf("revision %d does not follow base %d", r.Revision, base)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var latest int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(revision), 0) FROM revisions WHERE env_id = ?`), r.EnvID).Scan(&latest); err != nil {
			return err
		}
		if latest != base {
			return store.ErrConflict
		}
		// The primary key (env_id, revision) also rejects a concurrent
		// writer that read the same base under weaker isolation.
		if err := s.exec(ctx, tx, `INSERT INTO revisions (`+revCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.EnvID, r.Revision, r.KeyVersion, r.Header, r.Ciphertext, r.AuthorID, ms(r.CreatedAt)); err != nil {
			return err
		}
		if s.dialect == postgres {
			// Delivered to every replica's listener when the transaction commits.
			_, err := tx.ExecContext(ctx, `SELECT pg_notify('secr_revisions', $1)`, fmt.Sprintf("%s:%d", r.EnvID, r.Revision))
			return err
		}
		return nil
	})
	if errors.Is(err, store.ErrExists) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) CreateToken(ctx context.Context, t store.Token, g store.Grant, c store.ChainAppend) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.appendChain(ctx, tx, c); err != nil {
			return err
		}
		if err := s.exec(ctx, tx, `INSERT INTO tokens (`+tokenCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.ProjectID, t.EnvID, t.Name, t.AuthHash, boolInt(t.ReadWrite), ms(t.ExpiresAt), t.CreatedBy, ms(t.CreatedAt)); err != nil {
			return err
		}
		return s.insertGrants(ctx, tx, []store.Grant{g}, t.EnvID)
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const tokenCols = `id, project_id, env_id, name, auth_hash, read_write, expires_at, created_by, created_at`

func (s *Store) scanTokens(rows *sql.Rows, err error) ([]store.Token, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var t store.Token
		var rw int
		var exp, created int64
		if err := rows.Scan(&t.ID, &t.ProjectID, &t.EnvID, &t.Name, &t.AuthHash, &rw, &exp, &t.CreatedBy, &created); err != nil {
			return nil, err
		}
		t.ReadWrite, t.ExpiresAt, t.CreatedAt = rw == 1, fromMS(exp), fromMS(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) TokenByID(ctx context.Context, id string) (store.Token, error) {
	ts, err := s.scanTokens(s.read(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
	if err != nil {
		return store.Token{}, err
	}
	if len(ts) == 0 {
		return store.Token{}, store.ErrNotFound
	}
	return ts[0], nil
}

func (s *Store) Tokens(ctx context.Context, projectID string) ([]store.Token, error) {
	return s.scanTokens(s.read(ctx, `SELECT `+tokenCols+` FROM tokens WHERE project_id = ? ORDER BY created_at, id`, projectID))
}

func (s *Store) DeleteToken(ctx context.Context, id string, c store.ChainAppend) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.appendChain(ctx, tx, c); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM tokens WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if err := s.exec(ctx, tx, `DELETE FROM grants WHERE principal_id = ?`, id); err != nil {
			return err
		}
		return s.notifyAccess(ctx, tx, id)
	})
}

// in returns "(?, ?, ...)" for n values.
func in(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

func (s *Store) TryLogin(ctx context.Context, keys []string, now, forgetBefore time.Time, wait func(map[string]store.LoginFailures) time.Duration) (time.Duration, error) {
	keys = slices.Clone(keys)
	slices.Sort(keys) // one lock order for every caller
	keys = slices.Compact(keys)
	if err := s.exec(ctx, s.db, `DELETE FROM login_failures WHERE last_at < ?`, ms(forgetBefore)); err != nil {
		return 0, fmt.Errorf("forget old login failures: %w", err)
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	var d time.Duration
	err := s.tx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if s.dialect == postgres {
			// SQLite's IMMEDIATE transaction already holds the write lock;
			// PostgreSQL locks the rows, which must exist to be locked.
			for _, k := range keys {
				if err := s.exec(ctx, tx, `INSERT INTO login_failures (limit_key, fails, last_at) VALUES (?, 0, ?) ON CONFLICT (limit_key) DO NOTHING`, k, ms(now)); err != nil {
					return err
				}
			}
			lock = " ORDER BY limit_key FOR UPDATE"
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT limit_key, fails, last_at FROM login_failures WHERE limit_key IN `+in(len(keys))+lock), args...)
		if err != nil {
			return err
		}
		counts := map[string]store.LoginFailures{}
		for rows.Next() {
			var k string
			var f store.LoginFailures
			var last int64
			if err := rows.Scan(&k, &f.Fails, &last); err != nil {
				rows.Close()
				return err
			}
			f.Last = fromMS(last)
			counts[k] = f
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if d = wait(counts); d > 0 {
			return nil
		}
		for _, k := range keys {
			if err := s.exec(ctx, tx, `INSERT INTO login_failures (limit_key, fails, last_at) VALUES (?, 1, ?)
				ON CONFLICT (limit_key) DO UPDATE SET fails = login_failures.fails + 1, last_at = excluded.last_at`, k, ms(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("login limiter: %w", err)
	}
	return d, nil
}

func (s *Store) LoginSucceeded(ctx context.Context, undo, clear []string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range undo {
			if err := s.exec(ctx, tx, `UPDATE login_failures SET fails = fails - 1 WHERE limit_key = ? AND fails > 0`, k); err != nil {
				return err
			}
		}
		for _, k := range clear {
			if err := s.exec(ctx, tx, `DELETE FROM login_failures WHERE limit_key = ?`, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("login limiter: %w", err)
	}
	return nil
}

// Listener receives what other servers sharing a PostgreSQL database
// change. Every field is optional.
type Listener struct {
	// Revision: a revision was appended to envID.
	Revision func(envID string, rev int64)
	// AccessChanged: principalID's sessions, token or grants changed.
	AccessChanged func(principalID string)
	// Listening: the listener is (again) connected. Notifications sent
	// while it was not are lost, so this is the moment to re-check.
	Listening func()
	// Error: the connection failed; Listen reconnects with backoff.
	Error func(error)
}

// Listen delivers to l the notifications of every server sharing this
// PostgreSQL database (its own included) until ctx ends, reconnecting
// after errors. On SQLite there is only one server process and it returns
// at once.
func (s *Store) Listen(ctx context.Context, l Listener) {
	if s.dialect != postgres {
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, l)
		if ctx.Err() != nil {
			return
		}
		if l.Error != nil {
			l.Error(err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, l Listener) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		if _, err := pc.Exec(ctx, "LISTEN secr_revisions; LISTEN "+accessChannel); err != nil {
			return err
		}
		if l.Listening != nil {
			l.Listening()
		}
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return err
			}
			switch n.Channel {
			case "secr_revisions":
				env, revText, ok := strings.Cut(n.Payload, ":")
				if rev, err := strconv.ParseInt(revText, 10, 64); ok && err == nil && l.Revision != nil {
					l.Revision(env, rev)
				}
			case accessChannel:
				if l.AccessChanged != nil {
					l.AccessChanged(n.Payload)
				}
			}
		}
	})
}
