package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store"
)

// auditLockKey is the first half of the PostgreSQL advisory lock that
// serialises appends to one org's audit chain (the second is the org ID's
// hashtext).
const auditLockKey = 7701

// appendAuditTx appends entries to their orgs' chains in tx. Each org's
// appends are serialised: on SQLite by the single writer connection and its
// IMMEDIATE transactions, on PostgreSQL by a transaction-scoped advisory
// lock per org, taken in org ID order so two batches cannot deadlock.
//
// With relaxed (a batch of read and sign-in entries only, see
// appendAuditOnly), PostgreSQL commits tx without waiting for its WAL
// flush (synchronous_commit off for tx alone).
func (s *Store) appendAuditTx(ctx context.Context, tx *sql.Tx, entries []audit.Entry, relaxed bool) error {
	if len(entries) == 0 {
		return nil
	}
	if s.observeAuditTx != nil {
		defer s.observeAuditTx(ctx, tx)
	}
	var orgs []string
	for _, e := range entries {
		if e.OrgID == "" {
			return errors.New("audit entry without an org")
		}
		orgs = append(orgs, e.OrgID)
	}
	slices.Sort(orgs)
	orgs = slices.Compact(orgs)
	type head struct {
		seq  uint64
		hash []byte
	}
	heads := make(map[string]*head, len(orgs))
	for i, org := range orgs {
		if s.dialect == postgres {
			lock := `SELECT pg_advisory_xact_lock($1, hashtext($2))`
			if relaxed && i == 0 {
				// SET LOCAL, in the lock's round trip.
				lock = `SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock($1, hashtext($2))`
			}
			if _, err := tx.ExecContext(ctx, lock, auditLockKey, org); err != nil {
				return fmt.Errorf("%w: lock: %v", store.ErrAuditWrite, err)
			}
		}
		seq, hash, err := s.auditHead(ctx, tx, org)
		if err != nil {
			return err
		}
		heads[org] = &head{seq, hash}
	}
	args := make([]any, 0, 14*len(entries))
	for _, e := range entries {
		h := heads[e.OrgID]
		e.Seq = h.seq + 1
		e.At = time.UnixMilli(e.At.UnixMilli()).UTC()
		e.Hash = e.Sum(h.hash)
		args = append(args, e.OrgID, int64(e.Seq), e.At.UnixMilli(), e.PrincipalID, e.Principal, e.Action, e.EnvID, e.Env, e.Revision,
			e.Address, e.CLIVersion, e.Command, e.Detail, e.Hash)
		h.seq, h.hash = e.Seq, e.Hash
	}
	// Not classified: a failed audit write is never a caller's conflict.
	if s.dialect == sqlite {
		// SQLite has no round trips to save, but each statement run costs
		// database/sql's and the driver's overhead: the batch goes in
		// prepared statements of 32, 16, ..., 1 rows (a batch of 13 is
		// 8 + 4 + 1), never parsed again.
		for len(args) > 0 {
			n := 1 << (bits.Len(uint(min(len(args)/14, maxPreparedRows))) - 1)
			ins, err := s.auditStmt(ctx, tx, auditInsertRows(n))
			if err == nil {
				_, err = ins.ExecContext(ctx, args[:14*n]...)
			}
			if err != nil {
				return fmt.Errorf("%w: %v", store.ErrAuditWrite, err)
			}
			args = args[14*n:]
		}
		return nil
	}
	// PostgreSQL: one statement for the batch (one round trip); a single
	// entry, the usual case, through the prepared one.
	var err error
	for len(args) > 0 {
		n := min(len(args)/14, maxAuditRows)
		if n == 1 {
			var ins *sql.Stmt
			if ins, err = s.auditStmt(ctx, tx, auditInsertQuery); err == nil {
				_, err = ins.ExecContext(ctx, args[:14]...)
			}
		} else {
			_, err = tx.ExecContext(ctx, s.q(auditInsertN(n)), args[:14*n]...)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", store.ErrAuditWrite, err)
		}
		args = args[14*n:]
	}
	return nil
}

// auditRow is one row's placeholders; maxAuditRows keeps a PostgreSQL
// statement's parameters within its limit (SQLite's statements have at
// most maxPreparedRows rows).
const (
	auditRow     = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	maxAuditRows = 500
)

// auditHead is the seq and hash the org's next entry follows: its last
// entry, else its checkpoint, else seq 0 and 32 zero bytes.
func (s *Store) auditHead(ctx context.Context, tx *sql.Tx, orgID string) (uint64, []byte, error) {
	var seq int64
	var hash []byte
	head, err := s.auditStmt(ctx, tx, auditHeadQuery)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: read head: %v", store.ErrAuditWrite, err)
	}
	err = head.QueryRowContext(ctx, orgID).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, s.q(`SELECT seq, hash FROM audit_checkpoints WHERE org_id = ?`), orgID).Scan(&seq, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, make([]byte, audit.HashSize), nil
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: read head: %v", store.ErrAuditWrite, err)
	}
	return uint64(seq), hash, nil
}

// Queries of every audit append, prepared once on the writer by
// prepareAudit and then reused: the append runs on every read, and parsing
// them each time was a large part of its cost on SQLite.
const auditHeadQuery = `SELECT seq, hash FROM audit_log WHERE org_id = ? ORDER BY seq DESC LIMIT 1`

// auditInsertQuery is the one-row INSERT, prepared on both dialects.
var auditInsertQuery = auditInserts[0]

// auditInsertN is the INSERT of n rows.
func auditInsertN(n int) string {
	return `INSERT INTO audit_log (` + auditCols + `) VALUES ` + strings.TrimSuffix(strings.Repeat(auditRow+", ", n), ", ")
}

// maxPreparedRows is the largest of the multi-row INSERTs prepareAudit
// prepares on SQLite (a power of two; auditInsertRows).
const maxPreparedRows = 32

// auditInsertRows is the INSERT of n rows, n a power of two up to
// maxPreparedRows.
func auditInsertRows(n int) string { return auditInserts[bits.Len(uint(n))-1] }

var auditInserts = func() []string {
	var qs []string
	for n := 1; n <= maxPreparedRows; n *= 2 {
		qs = append(qs, auditInsertN(n))
	}
	return qs
}()

// prepareAudit prepares the append's queries. It must run outside a
// transaction: on SQLite the writer is one connection, which a
// transaction holds.
func (s *Store) prepareAudit(ctx context.Context) error {
	s.audit.mu.Lock()
	ready := s.audit.stmts != nil
	s.audit.mu.Unlock()
	if ready {
		return nil
	}
	// Not under the lock: preparing waits for the writer, whose
	// transaction may be appending (and so taking the lock) meanwhile.
	queries := []string{auditHeadQuery, auditInsertQuery}
	if s.dialect == sqlite {
		queries = append([]string{auditHeadQuery}, auditInserts...)
	}
	stmts := map[string]*sql.Stmt{}
	for _, q := range queries {
		st, err := s.db.PrepareContext(ctx, s.q(q))
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return err
		}
		stmts[q] = st
	}
	s.audit.mu.Lock()
	s.audit.stmts = stmts
	s.audit.mu.Unlock()
	return nil
}

// auditStmt returns one of the append's queries for tx: the prepared one
// once prepareAudit has run, else prepared in tx.
func (s *Store) auditStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.audit.mu.Lock()
	st := s.audit.stmts[query]
	s.audit.mu.Unlock()
	if st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, s.q(query))
}

// auditBatch is the group commit of AppendAudit: every call queues its
// entries, and one goroutine at a time writes all that are queued in one
// transaction, so concurrent reads (each `secr run` appends an entry)
// share a commit, and on SQLite an fsync, instead of queueing for one each.
//
// Before it commits, a batch waits for the reads that were announced
// (ExpectAudit) before it started and have not queued yet: they are on
// their way, and a commit costs far more than an entry. It commits as
// soon as the last of them has queued or given up, so a read with no
// other read in flight never waits, and under load the batch holds every
// read that was in flight instead of sleeping a fixed time for company.
type auditBatch struct {
	mu      sync.Mutex
	pending []*auditReq
	running bool // a drainAudit goroutine exists
	// idle is set while that goroutine waits for work (drainIdle);
	// kick wakes it.
	idle  bool
	kick  chan struct{}
	stmts map[string]*sql.Stmt // prepareAudit's, by query

	// Announced reads not yet queued, counted by the epoch they were
	// announced in (every batch that waits starts a new one): newer in
	// the current epoch, older in the epochs since waitFrom, which the
	// waiting batch waits for. Reads from before waitFrom were waited
	// for once, in vain (lingerFor), and are not waited for again.
	epoch, waitFrom uint64
	newer, older    int
	// waiting is set while a batch waits; wake tells it to look again.
	waiting bool
	wake    chan struct{}
}

type auditReq struct {
	entries []audit.Entry
	done    chan error
}

// auditTicket is one announced read (ExpectAudit).
type auditTicket struct {
	b     *auditBatch
	epoch uint64
	gone  bool // queued or withdrawn; under b.mu
}

type auditTicketKey struct{}

func (s *Store) ExpectAudit(ctx context.Context) (context.Context, func()) {
	b := &s.audit
	b.mu.Lock()
	t := &auditTicket{b: b, epoch: b.epoch}
	b.newer++
	b.mu.Unlock()
	return context.WithValue(ctx, auditTicketKey{}, t), t.withdraw
}

// withdraw ends an announcement whose read will not queue an entry.
func (t *auditTicket) withdraw() {
	t.b.mu.Lock()
	t.b.settle(t)
	t.b.mu.Unlock()
}

// settle ends t's announcement (once), and wakes a waiting batch when it
// was the last one the batch waited for. b.mu is held.
func (b *auditBatch) settle(t *auditTicket) {
	if t.gone {
		return
	}
	t.gone = true
	switch {
	case t.epoch < b.waitFrom:
	case t.epoch < b.epoch:
		b.older--
		if b.older == 0 {
			b.poke()
		}
	default:
		b.newer--
	}
}

// poke wakes the waiting batch, if any. b.mu is held.
func (b *auditBatch) poke() {
	if !b.waiting {
		return
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (s *Store) AppendAudit(ctx context.Context, entries ...audit.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	req := &auditReq{entries: entries, done: make(chan error, 1)}
	b := &s.audit
	b.mu.Lock()
	b.pending = append(b.pending, req)
	// Queued and no longer expected in one step, so a batch never
	// commits without a read it waits for, nor waits for one it holds.
	if t, ok := ctx.Value(auditTicketKey{}).(*auditTicket); ok && t.b == b {
		b.settle(t)
	}
	if len(b.pending) >= lingerMin {
		b.poke()
	}
	switch {
	case !b.running:
		b.running = true
		go s.drainAudit(b)
	case b.idle:
		b.idle = false
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	// The batch finishes even if ctx ends: the caller answers nothing
	// without the entry, so waiting for the outcome is always right.
	return <-req.done
}

// awaitCompany holds a batch that has begun (some requests pending, b.mu
// held) so that reads already on their way share its commit: first it
// lets every goroutine that is ready to run take its turn (auditYields
// times; handlers run on to queue their entries, and with nothing else
// ready this returns at once), then it waits until every read announced
// before it has queued or withdrawn, the batch has lingerMin requests, or
// lingerFor has passed. Every read still waits for its own entry's
// commit. It returns with b.mu held.
func (s *Store) awaitCompany(b *auditBatch) {
	for range auditYields {
		if len(b.pending) >= lingerMin {
			return
		}
		b.mu.Unlock()
		runtime.Gosched()
		b.mu.Lock()
	}
	b.epoch++
	b.older += b.newer
	b.newer = 0
	if b.older == 0 || len(b.pending) >= lingerMin {
		return
	}
	if s.onAuditWait != nil {
		s.onAuditWait()
	}
	if b.wake == nil {
		b.wake = make(chan struct{}, 1)
	}
	timer := time.NewTimer(s.lingerFor())
	defer timer.Stop()
	for b.older > 0 && len(b.pending) < lingerMin {
		b.waiting = true
		b.mu.Unlock()
		select {
		case <-b.wake:
			b.mu.Lock()
			b.waiting = false
		case <-timer.C:
			b.mu.Lock()
			b.waiting = false
			// Whatever still holds these reads up, later batches do
			// not wait for them again.
			b.waitFrom, b.older = b.epoch, 0
		}
	}
}

// lingerFor is how long a batch waits for announced reads at most.
func (s *Store) lingerFor() time.Duration {
	if s.auditLinger > 0 {
		return s.auditLinger
	}
	return lingerFor
}

// drainAudit writes queued batches until the queue is empty. When a batch
// fails it retries its requests one by one, so one bad entry fails only
// its own request.
func (s *Store) drainAudit(b *auditBatch) {
	if s.onDrainStart != nil {
		s.onDrainStart()
	}
	if s.onDrainEnd != nil {
		defer s.onDrainEnd()
	}
	ctx := context.Background()
	if err := s.prepareAudit(ctx); err != nil {
		b.mu.Lock()
		reqs := b.pending
		b.pending, b.running = nil, false
		b.mu.Unlock()
		for _, r := range reqs {
			r.done <- fmt.Errorf("%w: %v", store.ErrAuditWrite, err)
		}
		return
	}
	var idle *time.Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		b.mu.Lock()
		if len(b.pending) == 0 && !s.drainIdle(b, &idle) {
			b.running = false
			b.mu.Unlock()
			return
		}
		s.awaitCompany(b)
		reqs := b.pending
		b.pending = nil
		b.mu.Unlock()
		if s.observeAuditBatch != nil {
			s.observeAuditBatch(len(reqs))
		}
		var all []audit.Entry
		for _, r := range reqs {
			all = append(all, r.entries...)
		}
		err := s.appendAuditOnly(ctx, all)
		if err == nil || len(reqs) == 1 {
			for _, r := range reqs {
				r.done <- err
			}
			continue
		}
		for _, r := range reqs {
			r.done <- s.appendAuditOnly(ctx, r.entries)
		}
	}
}

// drainIdle waits, with b.mu held and nothing pending, up to drainLinger
// for the next request to queue, and reports whether one did. The drain
// goroutine stays while reads keep coming: a new one starts with a small
// stack and grows it, copying it several times, on its way down
// database/sql and SQLite, once per batch (2-3% of the server's CPU under
// load). It returns with b.mu held.
func (s *Store) drainIdle(b *auditBatch, t **time.Timer) bool {
	if b.kick == nil {
		b.kick = make(chan struct{}, 1)
	}
	select {
	case <-b.kick: // a wake-up that came after a wait had ended
	default:
	}
	d := drainLinger
	if s.drainLinger > 0 {
		d = s.drainLinger
	}
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d)
	}
	b.idle = true
	b.mu.Unlock()
	select {
	case <-b.kick:
	case <-(*t).C:
	}
	b.mu.Lock()
	b.idle = false
	return len(b.pending) > 0
}

// relaxable reports whether entries may commit with relaxed durability:
// they record reads and sign-ins only, never a change.
func relaxable(entries []audit.Entry) bool {
	for _, e := range entries {
		if e.Action != audit.ActionRead && e.Action != audit.ActionSignin {
			return false
		}
	}
	return true
}

// appendAuditOnly appends entries in a transaction of their own (the
// group commit's batch). The transaction commits before the requests are
// answered, as always; a batch of read and sign-in entries alone commits
// with relaxed durability (docs/audit.md): SQLite synchronous=NORMAL on
// the writer connection for this transaction only, PostgreSQL
// synchronous_commit off for it. A process crash loses nothing; an OS
// crash or power loss may lose the last such entries, never a change, and
// because the WAL is written in order, the next durable commit makes every
// earlier entry durable too: the chain on disk never has a hole.
func (s *Store) appendAuditOnly(ctx context.Context, entries []audit.Entry) error {
	relaxed := relaxable(entries)
	if !relaxed || s.dialect == postgres {
		return s.tx(ctx, func(tx *sql.Tx) error { return s.appendAuditTx(ctx, tx, entries, relaxed) })
	}
	// SQLite's synchronous setting belongs to the connection and cannot
	// change inside a transaction: set it around this one on the writer
	// (the only connection of s.db), and back to FULL before anything
	// else can use it.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", store.ErrAuditWrite, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		s.dropIfRelaxed(ctx, conn)
		return fmt.Errorf("%w: %v", store.ErrAuditWrite, err)
	}
	err = func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		if err := s.appendAuditTx(ctx, tx, entries, true); err != nil {
			tx.Rollback()
			return err
		}
		return s.classify(tx.Commit())
	}()
	if _, rerr := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); rerr != nil {
		s.dropIfRelaxed(ctx, conn)
	}
	return err
}

// dropIfRelaxed discards the SQLite writer connection conn unless it is
// known to be back at synchronous=FULL, so that no change ever commits
// with less: the pool opens a new one, whose DSN sets FULL.
func (s *Store) dropIfRelaxed(ctx context.Context, conn *sql.Conn) {
	var level int
	if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err == nil && level == sqliteSynchronousFull {
		return
	}
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}

// sqliteSynchronousFull is PRAGMA synchronous's answer for FULL.
const sqliteSynchronousFull = 2

const auditCols = `org_id, seq, at, principal_id, principal, action, env_id, env, revision, address, cli_version, command, detail, hash`

func (s *Store) AuditLog(ctx context.Context, orgID string, q store.AuditQuery) (audit.Checkpoint, []audit.Entry, error) {
	var cp audit.Checkpoint
	var seq int64
	err := s.readRow(ctx, `SELECT seq, hash FROM audit_checkpoints WHERE org_id = ?`, orgID).Scan(&seq, &cp.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return cp, nil, err
	}
	cp.Seq = uint64(seq)
	rows, err := s.read(ctx, `SELECT `+auditCols+` FROM audit_log WHERE org_id = ? AND at >= ? ORDER BY seq`, orgID, ms(q.Since))
	if err != nil {
		return cp, nil, err
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var seq, at int64
		if err := rows.Scan(&e.OrgID, &seq, &at, &e.PrincipalID, &e.Principal, &e.Action, &e.EnvID, &e.Env, &e.Revision,
			&e.Address, &e.CLIVersion, &e.Command, &e.Detail, &e.Hash); err != nil {
			return cp, nil, err
		}
		e.Seq, e.At = uint64(seq), time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return cp, out, rows.Err()
}

func (s *Store) PruneAudit(ctx context.Context, cut time.Time) (int64, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT org_id FROM audit_log WHERE at < ?`), cut.UnixMilli())
	if err != nil {
		return 0, err
	}
	var orgs []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			rows.Close()
			return 0, err
		}
		orgs = append(orgs, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var total int64
	for _, org := range orgs {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if s.dialect == postgres {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, auditLockKey, org); err != nil {
					return err
				}
			}
			// The cut is by seq, so the retained chain has no holes even
			// if the clock once went backwards.
			var seq int64
			var hash []byte
			err := tx.QueryRowContext(ctx, s.q(`SELECT seq, hash FROM audit_log WHERE org_id = ? AND seq = (SELECT MAX(seq) FROM audit_log WHERE org_id = ? AND at < ?)`),
				org, org, cut.UnixMilli()).Scan(&seq, &hash)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := s.exec(ctx, tx, `INSERT INTO audit_checkpoints (org_id, seq, hash) VALUES (?, ?, ?)
				ON CONFLICT (org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, org, seq, hash); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, s.q(`DELETE FROM audit_log WHERE org_id = ? AND seq <= ?`), org, seq)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			total += n
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune audit log of org %s: %w", org, err)
		}
	}
	return total, nil
}

// addAuditTables adds the audit log's tables (the end of the format 2
// schema) to a format 2 database created before they were part of it.
func (s *Store) addAuditTables(ctx context.Context, tx *sql.Tx) error {
	ok, err := s.tableExists(ctx, tx, "audit_checkpoints")
	if err != nil || ok {
		return err
	}
	i := strings.Index(schema, "CREATE TABLE audit_log")
	ddl := schema[i:]
	if s.dialect == postgres {
		ddl = strings.ReplaceAll(ddl, " BLOB", " BYTEA")
	}
	for _, stmt := range strings.Split(ddl, ";") {
		stmt = strings.Replace(stmt, "CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
		stmt = strings.Replace(stmt, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("add the audit log's tables: %w", err)
		}
	}
	return nil
}

// The group commit's wait for company (awaitCompany): a batch of fewer
// than lingerMin requests yields auditYields times, then waits at most
// lingerFor for the reads announced before it. The bound is for a read
// held up on its way (a slow query): it costs the batch no more than the
// fixed wait that came before (1 ms after any batch of 2 or more). That
// wait rarely began on a 2-core machine (batches of 1 or 2 alternated:
// 1.5 requests a batch at 16 connections, 3.7 at 64); now they hold 6-8
// and 17-20 there, and a commit costs several entries' CPU.
//
// drainLinger is how long the drain goroutine waits for more work before
// it ends (drainIdle).
const (
	drainLinger = 100 * time.Millisecond
	auditYields = 2
	lingerMin   = 32
	lingerFor   = time.Millisecond
)
