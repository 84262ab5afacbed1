package session

import (
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/envdoc"
	"github.com/secr-dev/secr/internal/trust"
)

// Env is one environment's revision, opened and checked on this machine.
type Env struct {
	Org, Project string
	// Name and ID of the environment.
	Name, ID string
	// Revision is 0 for an environment with no revisions yet.
	Revision int64
	// CanWrite reports whether this principal may write the environment.
	CanWrite bool
	// Unasked reports that the server was not asked: the cached revision
	// it confirmed as the latest ConfirmedAgo ago was used (LoadWithin).
	Unasked      bool
	ConfirmedAgo time.Duration

	snap   api.Snapshot // as the server sent it (still encrypted)
	key    *crypto.EnvKey
	doc    *envdoc.Doc
	state  *trust.State  // the verified org chain the revision was checked on
	header *trust.Header // the revision's signed header; nil with no revision
	// receipt is this principal's receipt for the grant and header on
	// state (nil with no revision); receiptNew says open made it.
	receipt    []byte
	receiptNew bool
}

// Pending reports whether the server says the org has grants or key
// rotations waiting for a key this principal holds (Session.Sync makes
// them). A copy used without asking (Unasked) says nothing: its flag is
// as old as the copy, and the work it named may long be done; the next
// load that asks sees it again.
func (e *Env) Pending() bool { return e.snap.Pending && !e.Unasked }

// Secret is one variable of an environment: Name, Value, and NotSecret
// for plain configuration (listed with its value, never masked).
type Secret = envdoc.Secret

// Values returns the variables as a map from name to value.
func (e *Env) Values() map[string]string { return e.doc.Values() }

// Names returns the variable names in sorted order.
func (e *Env) Names() []string { return e.doc.Names() }

// Secrets returns the variables sorted by name, each name once. The slice
// is the Env's own, not a copy (at 10,000 secrets `secr run` would notice
// the copy): read it, do not change it.
func (e *Env) Secrets() []Secret { return e.doc.Secrets() }

// Lookup returns the variable called name.
func (e *Env) Lookup(name string) (Secret, bool) { return e.doc.Lookup(name) }

// Masked returns the values to hide from output: all but the not-secret
// ones.
func (e *Env) Masked() map[string]string {
	m := map[string]string{}
	for _, sec := range e.doc.Secrets() {
		if !sec.NotSecret {
			m[sec.Name] = sec.Value
		}
	}
	return m
}

// ValidateName checks that name is a valid environment variable name.
func ValidateName(name string) error {
	if err := envdoc.ValidateName(name); err != nil {
		return &usageError{err.Error()}
	}
	return nil
}
