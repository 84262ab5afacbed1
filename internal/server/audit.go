package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store"
)

// The audit log is server-trusted (docs/audit.md): the server records who
// did what, hash-chained per org so that an edited or deleted row shows,
// but nothing stops a lying server from leaving an entry out. Recording
// fails closed: a request whose entry cannot be written is refused, and
// nothing is delivered or changed.

// auditRefused answers a request whose audit entry could not be written.
const auditRefused = "the server could not record this request in its audit log, so it refused it (nothing was read or changed): tell the server's administrator"

// maxClaim bounds the client-claimed header values the log keeps.
const maxClaim = 64

// claim is a client-claimed header value as the log keeps it: printable
// ASCII only (anything else becomes '?'), at most maxClaim bytes.
func claim(v string) string {
	if len(v) > maxClaim {
		v = v[:maxClaim]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, v)
}

// newAudit starts the entry for action in orgID by the principal r
// authenticated as (p), with the client's address, version and command.
func (s *Server) newAudit(r *http.Request, p *principal, orgID, action string) audit.Entry {
	e := audit.Entry{
		OrgID: orgID, At: s.now(), Action: action,
		Address:    s.clientAddr(r),
		CLIVersion: claim(r.Header.Get("User-Agent")),
		Command:    claim(r.Header.Get(api.CommandHeader)),
	}
	switch {
	case p == nil:
	case p.user != nil:
		e.PrincipalID, e.Principal = p.user.ID, p.user.Email
	case p.token != nil:
		e.PrincipalID, e.Principal = p.token.ID, "token "+p.token.Name
	}
	return e
}

// auditEnv names sc's environment in e.
func auditEnv(e audit.Entry, sc scope) audit.Entry {
	e.EnvID, e.Env = sc.env.ID, sc.org.Name+"/"+sc.project.Name+"/"+sc.env.Name
	return e
}

// audit appends entries on their own, before the request is answered: for
// reads and sign-ins, which change nothing to commit them with. A failure
// refuses the request (500).
func (s *Server) audit(ctx context.Context, entries ...audit.Entry) error {
	if err := s.store.AppendAudit(ctx, entries...); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// withAudit returns ctx for the one store call that makes a change, so
// that entries commit in its transaction or not at all (store.WithAudit).
func withAudit(ctx context.Context, entries ...audit.Entry) context.Context {
	return store.WithAudit(ctx, entries...)
}

// auditSignin records a sign-in in every org u is a member of (an account
// in no org records nothing).
func (s *Server) auditSignin(r *http.Request, u store.User) error {
	orgs, err := s.store.OrgsForUser(r.Context(), u.ID)
	if err != nil || len(orgs) == 0 {
		return err
	}
	p := &principal{id: u.ID, user: &u}
	entries := make([]audit.Entry, len(orgs))
	for i, o := range orgs {
		entries[i] = s.newAudit(r, p, o.ID, audit.ActionSignin)
	}
	return s.audit(r.Context(), entries...)
}

// writeAction is how a revision write is recorded: a rollback when the
// client says it is running `secrets rollback`.
func writeAction(r *http.Request) string {
	if r.Header.Get(api.CommandHeader) == "secrets rollback" {
		return audit.ActionRollback
	}
	return audit.ActionWrite
}

func (s *Server) handleAuditLog(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveOrg(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	switch {
	case sc.member == nil:
		return errForbidden("the audit log is for the owners and admins of org %q; a service token cannot read it", sc.org.Name)
	case sc.member.Role != store.RoleOwner && sc.member.Role != store.RoleAdmin:
		return errForbidden("the audit log is for the owners and admins of org %q; you are %s", sc.org.Name, sc.member.Role)
	}
	var q store.AuditQuery
	if v := r.URL.Query().Get(api.AuditSinceParam); v != "" {
		if q.Since, err = time.Parse(time.RFC3339, v); err != nil {
			return errBadRequest("invalid %s %q: want an RFC 3339 time", api.AuditSinceParam, v)
		}
	}
	env := r.URL.Query().Get(api.AuditEnvParam)
	cp, entries, err := s.store.AuditLog(r.Context(), sc.org.ID, q)
	if err != nil {
		return err
	}
	out := api.AuditLog{Org: sc.org.Name, OrgID: sc.org.ID, CheckpointSeq: cp.Seq, CheckpointHash: cp.Hash, Entries: []api.AuditEntry{}}
	for _, e := range entries {
		if env != "" && !envMatches(e.Env, sc.org.Name, env) {
			continue
		}
		out.Entries = append(out.Entries, api.AuditEntry{
			Seq: e.Seq, At: e.At, PrincipalID: e.PrincipalID, Principal: e.Principal, Action: e.Action,
			EnvID: e.EnvID, Env: e.Env, Revision: e.Revision, Address: e.Address, CLIVersion: e.CLIVersion,
			Command: e.Command, Detail: e.Detail, Hash: e.Hash,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// envMatches reports whether path (org/project/env) is what the env
// parameter asks for: "project/env", or "env" in any project.
func envMatches(path, org, want string) bool {
	if strings.Contains(want, "/") {
		return path == org+"/"+want
	}
	return strings.HasPrefix(path, org+"/") && strings.HasSuffix(path, "/"+want) && strings.Count(path, "/") == 2
}

// PruneAudit deletes the audit entries older than the retention
// (Config.AuditRetention; zero keeps everything) by the server's clock.
func (s *Server) PruneAudit(ctx context.Context) error {
	if s.auditRetention <= 0 {
		return nil
	}
	n, err := s.store.PruneAudit(ctx, s.now().Add(-s.auditRetention))
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.InfoContext(ctx, "audit log pruned", "entries", n, "retention", s.auditRetention.String())
	}
	return nil
}

// RetainAudit prunes the audit log now and at every tick (hourly in
// `secr server`) until ctx ends. It does nothing without a retention.
func (s *Server) RetainAudit(ctx context.Context, ticks <-chan time.Time) {
	if s.auditRetention <= 0 {
		return
	}
	for {
		if err := s.PruneAudit(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "audit log pruning failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}
