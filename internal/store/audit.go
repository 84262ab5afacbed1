package store

import (
	"context"
	"errors"
	"time"

	"github.com/secr-dev/secr/internal/audit"
)

// AuditQuery selects entries of one org's audit log.
type AuditQuery struct {
	// Since: entries at or after this time (zero: all retained).
	Since time.Time
}

// ErrAuditWrite: an audit entry could not be written, so the change it
// records was not made either (the server refuses the request).
var ErrAuditWrite = errors.New("audit log write failed")

type auditKey struct{}

// WithAudit returns ctx carrying audit entries that the store appends,
// in the same transaction, to whatever change the next mutating call made
// with this ctx commits: the entry is written exactly when the change is.
// (A context value rather than a parameter, so every mutating method can
// record itself without growing a parameter.) Pass it to exactly one
// mutating call.
func WithAudit(ctx context.Context, entries ...audit.Entry) context.Context {
	return context.WithValue(ctx, auditKey{}, entries)
}

// AuditFrom returns the entries WithAudit put in ctx.
func AuditFrom(ctx context.Context) []audit.Entry {
	e, _ := ctx.Value(auditKey{}).([]audit.Entry)
	return e
}

// AuditStore is the audit log's part of Store: one hash chain per org (see
// package audit). Entries are also appended by any mutating call whose
// ctx carries them (WithAudit), in that call's transaction.
type AuditStore interface {
	// AppendAudit appends entries (each to its OrgID's chain, assigning
	// Seq and Hash) and returns only once they are committed. Entries of
	// reads and sign-ins alone commit with relaxed durability (an OS crash
	// may lose the last of them, never a change: docs/audit.md); any other
	// entry commits fully durable. Appends to one org are serialised across
	// every server sharing the database.
	AppendAudit(ctx context.Context, entries ...audit.Entry) error
	// ExpectAudit announces a read that will call AppendAudit with the
	// returned ctx once it is authorised: a group commit that starts
	// meanwhile may wait for its entry instead of committing without it
	// (and leaving it a commit of its own). AppendAudit with that ctx
	// withdraws the announcement; done withdraws it if the read ends
	// without appending, and may be called again after that.
	ExpectAudit(ctx context.Context) (_ context.Context, done func())
	// AuditLog returns the org's retained entries matching q, oldest
	// first, and the checkpoint the retained chain starts from.
	AuditLog(ctx context.Context, orgID string, q AuditQuery) (audit.Checkpoint, []audit.Entry, error)
	// PruneAudit deletes every org's entries from before cut, keeping the
	// last deleted entry's seq and hash as the org's checkpoint, and
	// returns how many it deleted.
	PruneAudit(ctx context.Context, cut time.Time) (int64, error)
}
