// Package audit is the hash chain of the server's audit log: the entry
// every recorded action becomes, the hash that links it to the one before,
// and Verify, which recomputes a chain and names the first entry that does
// not match.
//
// The audit log is server-trusted. The chain makes an after-the-fact edit
// or deletion of a row detectable by anyone who fetches the log, but a
// server that lies can leave entries out, or rewrite and rehash the whole
// chain, and no client can tell. Pair it with the signed org chain and
// revision headers (package trust) for what must not rest on the server.
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Actions recorded in the audit log.
const (
	ActionSignin        = "signin"
	ActionRead          = "read"
	ActionWrite         = "write"
	ActionRollback      = "rollback"
	ActionOrgCreate     = "org.create"
	ActionProjectCreate = "project.create"
	ActionEnvCreate     = "env.create"
	ActionTokenCreate   = "token.create"
	ActionTokenRevoke   = "token.revoke"
)

// HashSize is the size of an entry's hash.
const HashSize = sha256.Size

// Entry is one row of an org's audit log. Seq and Hash are assigned by the
// store when the entry is appended.
type Entry struct {
	OrgID string
	// Seq numbers an org's entries 1, 2, ... without gaps.
	Seq uint64
	// At has millisecond resolution, the stores' (and the hash's).
	At time.Time
	// PrincipalID is the user's or service token's ID; Principal is who
	// that was at the time: an email, or "token NAME".
	PrincipalID string
	Principal   string
	Action      string
	// EnvID and Env (org/project/env) name the environment, when there is
	// one; Revision is the revision read or written (0: none).
	EnvID    string
	Env      string
	Revision int64
	// Address is the client's address as the server saw it; CLIVersion and
	// Command are what the client said it was and was running (User-Agent
	// and Secr-Command headers): client-claimed, recorded as given.
	Address    string
	CLIVersion string
	Command    string
	// Detail is free text: a token's name, a project's environments.
	Detail string
	Hash   []byte
}

// domain separates these hashes from any other SHA-256 use.
const domain = "secr/v1/audit"

// Sum returns the hash of e following prev (the previous entry's hash, or
// the checkpoint's, or 32 zero bytes for seq 1): SHA-256 over prev and a
// length-prefixed encoding of every field but Hash.
func (e *Entry) Sum(prev []byte) []byte {
	h := sha256.New()
	var buf []byte
	str := func(s string) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	str(domain)
	str(string(prev))
	str(e.OrgID)
	buf = binary.BigEndian.AppendUint64(buf, e.Seq)
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.At.UnixMilli()))
	str(e.PrincipalID)
	str(e.Principal)
	str(e.Action)
	str(e.EnvID)
	str(e.Env)
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.Revision))
	str(e.Address)
	str(e.CLIVersion)
	str(e.Command)
	str(e.Detail)
	h.Write(buf)
	return h.Sum(nil)
}

// Checkpoint is where an org's retained chain starts: the seq and hash of
// the last entry pruned (zero and nil when nothing was).
type Checkpoint struct {
	Seq  uint64
	Hash []byte
}

// Prev is the hash the entry after the checkpoint follows.
func (c Checkpoint) Prev() []byte {
	if c.Seq == 0 {
		return make([]byte, HashSize)
	}
	return c.Hash
}

// MismatchError is an entry that does not match its hash: its row was
// edited, or an entry before it was deleted.
type MismatchError struct {
	Seq uint64
	// Reason says what did not match, for the detail.
	Reason string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("audit entry %d does not match its hash: the row was edited or an entry before it was deleted (%s)", e.Seq, e.Reason)
}

// Verify recomputes the chain of entries (oldest first, all of one org's
// retained log) from the checkpoint, and returns a *MismatchError for the
// first entry whose seq or hash is not what the chain says it must be.
// A deleted last entry cannot be told from one never written.
func Verify(orgID string, cp Checkpoint, entries []Entry) error {
	prev, seq := cp.Prev(), cp.Seq
	if len(prev) != HashSize {
		return &MismatchError{Seq: seq, Reason: "the checkpoint's hash is malformed"}
	}
	for i := range entries {
		e := &entries[i]
		seq++
		switch {
		case e.Seq != seq:
			if e.Seq > seq {
				return &MismatchError{Seq: e.Seq, Reason: fmt.Sprintf("entries %d to %d are missing", seq, e.Seq-1)}
			}
			return &MismatchError{Seq: e.Seq, Reason: fmt.Sprintf("it is out of order after entry %d", seq-1)}
		case e.OrgID != orgID:
			return &MismatchError{Seq: e.Seq, Reason: fmt.Sprintf("it belongs to org %q", e.OrgID)}
		}
		if sum := e.Sum(prev); !bytes.Equal(sum, e.Hash) {
			return &MismatchError{Seq: e.Seq, Reason: "its stored hash is not the hash of its fields and the entry before"}
		}
		prev = e.Hash
	}
	return nil
}
