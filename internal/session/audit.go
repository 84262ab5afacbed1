package session

import (
	"context"
	"errors"
	"net/http"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/client"
)

// auditHeaders say which secr and which command is asking; the server
// records them in its audit log, as the client's claim.
func (o *Options) auditHeaders() http.Header {
	h := http.Header{}
	v := o.Version
	if v == "" {
		v = "unknown"
	}
	h.Set("User-Agent", api.UserAgentPrefix+v)
	if o.Command != "" {
		h.Set(api.CommandHeader, o.Command)
	}
	return h
}

// AuditLog fetches org's audit log (owners and admins only).
func (s *Session) AuditLog(ctx context.Context, org string, q client.AuditQuery) (api.AuditLog, error) {
	l, err := s.client.AuditLog(ctx, org, q)
	return l, Explain(err)
}

// VerifyAudit fetches org's whole retained audit log and recomputes its
// hash chain here. It returns the number of entries checked, or an error
// matching ErrIntegrity that names the first entry that does not match.
// The log is server-trusted: this finds a row edited or deleted behind the
// server's back, not a server that rewrites the whole chain or leaves
// entries out.
func (s *Session) VerifyAudit(ctx context.Context, org string) (api.AuditLog, error) {
	l, err := s.AuditLog(ctx, org, client.AuditQuery{})
	if err != nil {
		return l, err
	}
	entries := make([]audit.Entry, len(l.Entries))
	for i, e := range l.Entries {
		entries[i] = audit.Entry{
			OrgID: l.OrgID, Seq: e.Seq, At: e.At, PrincipalID: e.PrincipalID, Principal: e.Principal, Action: e.Action,
			EnvID: e.EnvID, Env: e.Env, Revision: e.Revision, Address: e.Address, CLIVersion: e.CLIVersion,
			Command: e.Command, Detail: e.Detail, Hash: e.Hash,
		}
	}
	err = audit.Verify(l.OrgID, audit.Checkpoint{Seq: l.CheckpointSeq, Hash: l.CheckpointHash}, entries)
	var me *audit.MismatchError
	if errors.As(err, &me) {
		return l, integrityErrorf("%v", me)
	}
	return l, err
}
