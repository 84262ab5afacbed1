package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/trust"
)

// Teams (TRUST.md §5): invites, members, org changes and the pending work
// they leave. The chain decides who may sign what; the server keeps its
// rows (members, grants, tokens, key versions) in step with what the
// verified entries record, in the same transaction, and refuses what
// every client would refuse anyway.

const (
	// maxInviteTTL bounds an invite's life.
	maxInviteTTL = 30 * 24 * time.Hour
	// maxSealedSecret bounds an invite's sealed copy: the code and what
	// the inviter asked for (email, role, environments), sealed by the
	// inviter for themselves.
	maxSealedSecret = 8 << 10
)

func (s *Server) routesTeams() {
	m := s.mux
	m.HandleFunc("POST "+api.InvitesRoute, s.authed(s.handleCreateInvite))
	m.HandleFunc("GET "+api.InvitesRoute, s.authed(s.handleListInvites))
	m.HandleFunc("DELETE "+api.InviteRoute, s.authed(s.handleRevokeInvite))
	m.HandleFunc("POST "+api.AcceptInviteRoute, s.authed(s.handleAcceptInvite))
	m.HandleFunc("GET "+api.MembersRoute, s.authed(s.handleMembers))
	m.HandleFunc("POST "+api.OrgChangeRoute, s.authed(s.handleOrgChange))
	m.HandleFunc("GET "+api.PendingRoute, s.authed(s.handlePending))
}

// resolveOrgOrToken resolves an org for one of its members or one of its
// service tokens (a token of another org gets the same answer as a
// non-member).
func (s *Server) resolveOrgOrToken(ctx context.Context, p *principal, name string) (scope, error) {
	sc, err := s.resolveOrg(ctx, p, name)
	if err != nil {
		return sc, err
	}
	if p.token != nil {
		proj, err := s.store.ProjectByID(ctx, p.token.ProjectID)
		if err != nil {
			return sc, err
		}
		if proj.OrgID != sc.org.ID {
			return sc, orgNotFound(name)
		}
	}
	return sc, nil
}

// validInviteID reports whether id has the form of trust.Invite.ID: 64
// lower-case hex digits.
func validInviteID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func validRole(r string) bool {
	return r == trust.Owner.String() || r == trust.Admin.String() || r == trust.Developer.String() || r == trust.Viewer.String()
}

func apiInvite(inv store.Invite, caller string) api.Invite {
	a := api.Invite{
		ID: inv.ID, Email: inv.Email, Role: inv.Role, Envs: inv.Envs, Inviter: inv.Inviter, InviterEmail: inv.InviterEmail,
		ExpiresAt: inv.ExpiresAt, CreatedAt: inv.CreatedAt, Status: inv.Status, Principal: inv.Principal, MAC: inv.MAC,
	}
	if inv.Inviter == caller {
		a.SealedSecret = inv.SealedSecret
	}
	return a
}

func (s *Server) handleCreateInvite(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	sc, err := s.resolveOrgOrToken(ctx, p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := sc.requireAdmin(); err != nil {
		return err
	}
	var req api.CreateInviteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	now := s.now()
	switch {
	case !validInviteID(req.ID):
		return errBadRequest("malformed invite ID: want 64 lower-case hex digits (trust.Invite.ID)")
	case !validRole(req.Role):
		return errBadRequest("invalid role %q: want owner, admin, developer or viewer", req.Role)
	case req.Role == store.RoleOwner && sc.member.Role != store.RoleOwner:
		return errForbidden("only an owner may invite an owner; you are %s in org %q", sc.member.Role, sc.org.Name)
	case !req.ExpiresAt.After(now):
		return errBadRequest("invite expiry %s is in the past", req.ExpiresAt.Format("2006-01-02 15:04 MST"))
	case req.ExpiresAt.After(now.Add(maxInviteTTL)):
		return errBadRequest("an invite lasts at most 30 days")
	case len(req.SealedSecret) == 0:
		return errBadRequest("the invite's sealed secret is missing")
	case len(req.SealedSecret) > maxSealedSecret:
		return errBadRequest("the invite's sealed secret is longer than %d bytes", maxSealedSecret)
	case len(req.Envs) > maxChainWrite:
		return errBadRequest("at most %d environments per invite", maxChainWrite)
	}
	envs, err := s.store.OrgEnvironments(ctx, sc.org.ID)
	if err != nil {
		return err
	}
	var envIDs []string
	for _, id := range req.Envs {
		if !slices.ContainsFunc(envs, func(e store.Environment) bool { return e.ID == id }) {
			return errBadRequest("no environment %q in org %q", id, sc.org.Name)
		}
		if !slices.Contains(envIDs, id) {
			envIDs = append(envIDs, id)
		}
	}
	if u, err := s.store.UserByEmail(ctx, email); err == nil {
		if _, err := s.store.Member(ctx, sc.org.ID, u.ID); err == nil {
			return errConflict("%s is already a member of org %q", email, sc.org.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	inv := store.Invite{
		ID: req.ID, OrgID: sc.org.ID, Email: email, Role: req.Role, Envs: envIDs, Inviter: p.user.ID, InviterEmail: p.user.Email,
		SealedSecret: req.SealedSecret, Status: store.InviteOpen, ExpiresAt: req.ExpiresAt.Truncate(time.Millisecond), CreatedAt: now,
	}
	if err := s.store.CreateInvite(ctx, inv); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("an invite with this ID already exists: make a new invite code")
		}
		return err
	}
	s.log.InfoContext(ctx, "invite created", "org", sc.org.ID, "by", p.id)
	writeJSON(w, http.StatusCreated, apiInvite(inv, p.id))
	return nil
}

func (s *Server) handleListInvites(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveOrgOrToken(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := sc.requireAdmin(); err != nil {
		return err
	}
	invs, err := s.store.Invites(r.Context(), sc.org.ID, s.now())
	if err != nil {
		return err
	}
	out := []api.Invite{}
	for _, inv := range invs {
		out = append(out, apiInvite(inv, p.id))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleRevokeInvite(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveOrgOrToken(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := sc.requireAdmin(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := s.store.DeleteInvite(r.Context(), sc.org.ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("no invite %q in org %q", id, sc.org.Name)
		}
		return err
	}
	s.log.InfoContext(r.Context(), "invite revoked", "org", sc.org.ID, "by", p.id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// inviteNotFound is the one answer for an invite that does not exist, has
// expired, was revoked or was used.
func inviteNotFound() error {
	return errNotFound("invite not found: it may have expired, been revoked or been used; ask for a new one")
}

func (s *Server) handleAcceptInvite(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.requireUser(); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	var req api.AcceptInviteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	inv, err := s.store.InviteByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return inviteNotFound()
	}
	if err != nil {
		return err
	}
	now := s.now()
	mine := inv.Email == p.user.Email
	retry := inv.Status == store.InviteAccepted && mine && bytes.Equal(inv.Principal, req.Principal) && bytes.Equal(inv.MAC, req.MAC)
	if !inv.ExpiresAt.After(now) || (inv.Status != store.InviteOpen && !retry) {
		return inviteNotFound()
	}
	if !mine {
		return errForbidden("this invite is for another email address, not %s: log in as the invited account", p.user.Email)
	}
	if _, err := trust.ParsePrincipal(req.Principal); err != nil {
		return errBadRequest("identity refused: %v", err)
	}
	switch {
	case !bytes.Equal(req.Principal, p.user.Principal):
		return errBadRequest("identity refused: it is not your identity (the one you signed up with)")
	case len(req.MAC) != 32:
		return errBadRequest("the invite MAC must be 32 bytes")
	}
	if !retry {
		if err := s.store.AcceptInvite(ctx, id, req.Principal, req.MAC, now); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return inviteNotFound()
			}
			return err
		}
	}
	org, err := s.store.OrgByID(ctx, inv.OrgID)
	if err != nil {
		return err
	}
	chain, err := s.store.Chain(ctx, org.ID, 0)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "invite accepted", "org", org.ID, "by", p.id)
	writeJSON(w, http.StatusOK, api.AcceptInviteResponse{Org: org.Name, OrgID: org.ID, Role: inv.Role, Inviter: inv.Inviter, Chain: chain})
	return nil
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.requireUser(); err != nil {
		return err
	}
	sc, err := s.resolveOrg(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	ms, err := s.store.Members(r.Context(), sc.org.ID)
	if err != nil {
		return err
	}
	out := []api.Member{}
	for _, m := range ms {
		out = append(out, api.Member{ID: m.UserID, Email: m.Email, Role: m.Role, CreatedAt: m.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handlePending(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc, err := s.resolveOrgOrToken(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	work, err := s.store.Pending(r.Context(), sc.org.ID)
	if err != nil {
		return err
	}
	out := api.Pending{Grants: []api.PendingGrant{}, Rotations: []api.PendingRotation{}}
	for _, pw := range work {
		if pw.PrincipalID == "" {
			out.Rotations = append(out.Rotations, api.PendingRotation{EnvID: pw.EnvID, KeyVersion: pw.KeyVersion})
		} else {
			out.Grants = append(out.Grants, api.PendingGrant{EnvID: pw.EnvID, PrincipalID: pw.PrincipalID, KeyVersion: pw.KeyVersion})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// requireMember requires a logged-in member of the org (any role).
func (sc scope) requireMember() error {
	if sc.member == nil {
		return errForbidden("this needs a logged-in org member; a service token cannot do it")
	}
	return nil
}

// readerIDs returns the IDs of who may read env per st.
func readerIDs(st *trust.State, env string) []string {
	var out []string
	for _, p := range st.Readers(env) {
		out = append(out, p.ID())
	}
	return out
}

// readerSet returns who may read each of envs per st.
func readerSet(st *trust.State, envs []store.Environment) map[string][]string {
	out := map[string][]string{}
	for _, e := range envs {
		out[e.ID] = readerIDs(st, e.ID)
	}
	return out
}

// orgChange is an OrgChange request being checked.
type orgChange struct {
	s       *Server
	p       *principal
	org     store.Org
	req     api.OrgChange
	before  *trust.State
	after   *trust.State
	c       *chainWrite // nil: grants only
	envs    []store.Environment
	byID    map[string]store.Environment
	rotated map[string]int // environment ID → new key version
	out     store.OrgChange
	revs    []store.Revision // appended by rotations, for event streams
}

func (s *Server) handleOrgChange(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	sc, err := s.resolveOrgOrToken(ctx, p, r.PathValue("org"))
	if err != nil {
		return err
	}
	oc := &orgChange{s: s, p: p, org: sc.org, rotated: map[string]int{}, byID: map[string]store.Environment{}}
	if err := decode(r, &oc.req); err != nil {
		return err
	}
	req := &oc.req
	switch {
	case len(req.Entries) == 0 && len(req.Grants) == 0:
		return errBadRequest("an org change needs org chain entries, grants, or both")
	case len(req.Grants) > maxChainWrite:
		return errBadRequest("at most %d grants per request", maxChainWrite)
	case len(req.Revisions) > maxChainWrite:
		return errBadRequest("at most %d revisions per request", maxChainWrite)
	}
	if oc.before, err = trust.ParseState(sc.org.State); err != nil {
		return fmt.Errorf("org %s: stored chain state: %w", sc.org.ID, err)
	}
	oc.after = oc.before
	if len(req.Entries) > 0 {
		if oc.c, err = s.verifyChainWrite(ctx, p, sc.org, req.Entries); err != nil {
			return err
		}
		oc.after = oc.c.state
	}
	if oc.envs, err = s.store.OrgEnvironments(ctx, sc.org.ID); err != nil {
		return err
	}
	for _, e := range oc.envs {
		oc.byID[e.ID] = e
	}
	oc.out = store.OrgChange{OrgID: sc.org.ID, HeadSeq: sc.org.HeadSeq}
	if oc.c != nil {
		oc.out.Chain = &oc.c.append
	}
	affected := map[string]bool{}
	if err := oc.entries(ctx, affected); err != nil {
		return err
	}
	if err := oc.revisions(ctx); err != nil {
		return err
	}
	if err := oc.grants(affected); err != nil {
		return err
	}
	readers := readerSet(oc.after, oc.envs)
	oc.out.Readers = map[string][]string{}
	for env := range affected {
		oc.out.Readers[env] = readers[env]
	}
	if err := s.store.ApplyOrgChange(withAudit(ctx, s.orgChangeAudit(r, p, sc, oc, len(req.Grants))...), oc.out); err != nil {
		switch {
		case errors.Is(err, store.ErrChainMoved) && oc.c != nil:
			return chainErr(oc.c, err)
		case errors.Is(err, store.ErrChainMoved):
			return errConflict("the org chain changed while you were making these grants: fetch it and try again")
		case errors.Is(err, store.ErrNotFound):
			return errConflict("invite %q is no longer accepted (revoked or used meanwhile)", req.InviteID)
		case errors.Is(err, store.ErrConflict):
			return errConflict("an environment's key version or latest revision changed meanwhile: fetch and try again")
		case errors.Is(err, store.ErrExists):
			return errConflict("this change collides with one made meanwhile: fetch and try again")
		}
		return err
	}
	for _, id := range oc.out.Notify {
		s.events.recheck(id)
	}
	for _, rev := range oc.revs {
		s.events.publish(rev.EnvID, rev.Revision)
	}
	s.log.InfoContext(ctx, "org changed", "org", sc.org.ID, "head", oc.after.Seq(), "grants", len(oc.out.Grants), "by", p.id)
	writeJSON(w, http.StatusOK, api.ChainWriteResponse{HeadSeq: oc.after.Seq()})
	return nil
}

// entries turns the verified entries into rows to change, entry by entry,
// and notes which environments' readers changed (affected) and where a
// principal lost read access without a later key.rotate of the
// environment in the same request (a pending rotation).
func (oc *orgChange) entries(ctx context.Context, affected map[string]bool) error {
	if oc.c == nil {
		if oc.req.InviteID != "" || len(oc.req.Revisions) > 0 {
			return errBadRequest("an invite or revisions come with the org chain entries they belong to")
		}
		return nil
	}
	now := oc.s.now()
	st := oc.before
	prev := readerSet(st, oc.envs)
	lostAt, rotatedAt := map[string]int{}, map[string]int{}
	notify := map[string]bool{}
	added := false
	for i, e := range oc.c.entries {
		next, err := st.Extend([]*trust.Entry{e})
		if err != nil {
			return fmt.Errorf("org %s: re-verifying entry %d: %w", oc.org.ID, e.Seq(), err)
		}
		switch op := e.Op().(type) {
		case trust.AddMember:
			if added {
				return errBadRequest("org chain entries refused: one member.add per request, with its invite")
			}
			added = true
			if err := oc.checkInvite(ctx, op); err != nil {
				return err
			}
			oc.out.Invite = oc.req.InviteID
			oc.out.AddMembers = append(oc.out.AddMembers, store.Member{OrgID: oc.org.ID, UserID: op.Member.ID(), Role: op.Role.String(), CreatedAt: now})
		case trust.SetRole:
			oc.out.SetRoles = append(oc.out.SetRoles, store.Member{OrgID: oc.org.ID, UserID: op.MemberID, Role: op.Role.String()})
			notify[op.MemberID] = true
		case trust.RemoveMember:
			oc.out.RemoveMembers = append(oc.out.RemoveMembers, op.MemberID)
			notify[op.MemberID] = true
		case trust.GrantAccess:
		case trust.RevokeAccess:
			for _, env := range op.EnvIDs {
				oc.out.RevokeGrants = append(oc.out.RevokeGrants, store.Grant{EnvID: env, PrincipalID: op.MemberID})
			}
			notify[op.MemberID] = true
		case trust.RevokeToken:
			oc.out.RevokeTokens = append(oc.out.RevokeTokens, op.TokenID)
			notify[op.TokenID] = true
		case trust.RotateKey:
			env, ok := oc.byID[op.EnvID]
			switch {
			case !ok:
				return errBadRequest("key.rotate refused: no environment %q in org %q", op.EnvID, oc.org.Name)
			case oc.rotated[op.EnvID] != 0:
				return errBadRequest("key.rotate refused: one rotation of environment %q per request", op.EnvID)
			case op.Version != env.KeyVersion+1:
				return errConflict("environment %q is on key version %d, so key.rotate to %d does not follow it: fetch and try again", op.EnvID, env.KeyVersion, op.Version)
			}
			oc.rotated[op.EnvID] = op.Version
			rotatedAt[op.EnvID] = i
			affected[op.EnvID] = true
			// Whoever held the old key keeps it (for old revisions) but
			// no longer the current one: their streams re-check.
			for _, id := range prev[op.EnvID] {
				notify[id] = true
			}
		default:
			return errBadRequest("org chain entries refused: %s has its own endpoint; an org change takes member.add, member.role, member.remove, access.grant, access.revoke, key.rotate and token.revoke", op.Type())
		}
		cur := readerSet(next, oc.envs)
		for _, env := range oc.envs {
			if !slices.Equal(prev[env.ID], cur[env.ID]) {
				affected[env.ID] = true
			}
			for _, id := range prev[env.ID] {
				if !slices.Contains(cur[env.ID], id) {
					lostAt[env.ID] = i
				}
			}
		}
		st, prev = next, cur
	}
	if oc.req.InviteID != "" && !added {
		return errBadRequest("invite %q comes with the member.add that completes it", oc.req.InviteID)
	}
	for env, i := range lostAt {
		if r, ok := rotatedAt[env]; !ok || r < i {
			oc.out.NewRotations = append(oc.out.NewRotations, env)
		}
	}
	slices.Sort(oc.out.NewRotations)
	for id := range notify {
		oc.out.Notify = append(oc.out.Notify, id)
	}
	slices.Sort(oc.out.Notify)
	return nil
}

// checkInvite checks that op adds the identity that accepted the invite
// the request names, with the invite's role.
func (oc *orgChange) checkInvite(ctx context.Context, op trust.AddMember) error {
	id := oc.req.InviteID
	if id == "" {
		return errBadRequest("member.add refused: it needs the accepted invite it completes (invite_id)")
	}
	inv, err := oc.s.store.InviteByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && inv.OrgID != oc.org.ID) {
		return errBadRequest("member.add refused: no invite %q in org %q", id, oc.org.Name)
	}
	if err != nil {
		return err
	}
	switch {
	case !inv.ExpiresAt.After(oc.s.now()):
		return errBadRequest("member.add refused: invite %q has expired", id)
	case inv.Status != store.InviteAccepted:
		return errBadRequest("member.add refused: invite %q has not been accepted yet", id)
	case !bytes.Equal(inv.Principal, op.Member.Bytes()):
		return errBadRequest("member.add refused: it adds %q with an identity other than the one that accepted invite %q", op.Member.ID(), id)
	case inv.Role != op.Role.String():
		return errBadRequest("member.add refused: it gives the role %s, but invite %q is for %s", op.Role, id, inv.Role)
	}
	if _, err := oc.s.store.UserByID(ctx, op.Member.ID()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errBadRequest("member.add refused: no account %q", op.Member.ID())
		}
		return err
	}
	return nil
}

// revisions checks the re-sealed newest revision of every rotated
// environment that has revisions.
func (oc *orgChange) revisions(ctx context.Context) error {
	byEnv := map[string]api.RotatedRevision{}
	for i, rr := range oc.req.Revisions {
		if oc.rotated[rr.EnvID] == 0 {
			return errBadRequest("revision %d refused: it is for environment %q, which this change does not rotate", i, rr.EnvID)
		}
		if _, dup := byEnv[rr.EnvID]; dup {
			return errBadRequest("revision %d refused: environment %q has one already", i, rr.EnvID)
		}
		byEnv[rr.EnvID] = rr
	}
	for _, env := range slices.Sorted(maps.Keys(oc.rotated)) {
		v := oc.rotated[env]
		rot := store.Rotation{EnvID: env, Version: v}
		latest, err := oc.s.store.LatestRevision(ctx, env)
		has := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rr, sent := byEnv[env]
		switch {
		case has && !sent:
			return errBadRequest("key.rotate of %q refused: it needs the newest revision (%d) re-sealed under key version %d", env, latest.Revision, v)
		case !has && sent:
			return errBadRequest("revision refused: environment %q has no revisions to re-seal", env)
		}
		if has {
			rev, err := oc.checkRotatedRevision(latest, rr, v)
			if err != nil {
				return err
			}
			rot.Revision = &rev
			oc.revs = append(oc.revs, rev)
		}
		oc.out.Rotations = append(oc.out.Rotations, rot)
	}
	return nil
}

// checkRotatedRevision checks rr, the newest revision of its environment
// re-sealed under key version v, as the write path checks a revision: on
// top of latest, signed by the caller, verified on the chain after the
// change.
func (oc *orgChange) checkRotatedRevision(latest store.Revision, rr api.RotatedRevision, v int) (store.Revision, error) {
	env := rr.EnvID
	hdr, err := trust.ParseHeader(rr.Header)
	if err != nil {
		return store.Revision{}, errBadRequest("revision of %q refused: %v", env, err)
	}
	switch {
	case len(rr.Ciphertext) == 0:
		return store.Revision{}, errBadRequest("revision of %q refused: ciphertext is empty", env)
	case len(rr.Ciphertext) > maxCiphertext:
		return store.Revision{}, &httpError{http.StatusRequestEntityTooLarge, api.CodeBadRequest,
			fmt.Sprintf("revision of %q is %s sealed, more than this server's limit of %s per environment",
				env, api.FormatSize(len(rr.Ciphertext)), api.FormatSize(maxCiphertext)), 0}
	case hdr.EnvID() != env:
		return store.Revision{}, errBadRequest("revision of %q refused: its header is for environment %q", env, hdr.EnvID())
	case hdr.KeyVersion() != v:
		return store.Revision{}, errBadRequest("revision of %q refused: it is under key version %d, not the new %d", env, hdr.KeyVersion(), v)
	case hdr.Revision() != latest.Revision+1:
		return store.Revision{}, errBadRequest("revision of %q refused: it is revision %d, not %d (latest + 1)", env, hdr.Revision(), latest.Revision+1)
	case hdr.Author() != oc.p.id:
		return store.Revision{}, errBadRequest("revision of %q refused: its author is %q, not you (%s)", env, hdr.Author(), oc.p.id)
	}
	prev, err := trust.ParseHeader(latest.Header)
	if err != nil {
		return store.Revision{}, fmt.Errorf("env %s revision %d: stored header: %w", env, latest.Revision, err)
	}
	if err := trust.CheckLinks(prev.Position(), []*trust.Header{hdr}); err != nil {
		return store.Revision{}, errBadRequest("revision of %q refused: %v", env, err)
	}
	if err := oc.after.VerifyHeader(hdr); err != nil {
		return store.Revision{}, errBadRequest("revision of %q refused: %v", env, err)
	}
	return store.Revision{
		EnvID: env, Revision: hdr.Revision(), KeyVersion: v, Header: hdr.Bytes(), Ciphertext: rr.Ciphertext,
		AuthorID: oc.p.id, CreatedAt: oc.s.now(),
	}, nil
}

// grants checks the request's grants against the chain after the change:
// each is for an environment of the org at its current key version, made
// by the caller, to a principal that may read it now, and once.
func (oc *orgChange) grants(affected map[string]bool) error {
	seen := map[[2]string]bool{}
	for i, b := range oc.req.Grants {
		g, err := trust.ParseGrant(b)
		if err != nil {
			return errBadRequest("grant %d refused: %v", i, err)
		}
		stored, inOrg := oc.byID[g.EnvID()]
		env, inChain := oc.after.Env(g.EnvID())
		if !inOrg || !inChain {
			return errBadRequest("grant %d refused: no environment %q in org %q", i, g.EnvID(), oc.org.Name)
		}
		want := stored.KeyVersion
		if v := oc.rotated[env.ID]; v != 0 {
			want = v
		}
		if env.KeyVersion != want {
			return errConflict("environment %q changed key version meanwhile: fetch and try again", env.ID)
		}
		key := [2]string{g.EnvID(), g.Recipient()}
		switch {
		case g.KeyVersion() != env.KeyVersion:
			return errBadRequest("grant %d refused: it is for key version %d of %q, not the current %d", i, g.KeyVersion(), env.ID, env.KeyVersion)
		case g.Granter() != oc.p.id:
			return errBadRequest("grant %d refused: it is made by %q, not by you (%s)", i, g.Granter(), oc.p.id)
		case oc.after.Access(g.Recipient(), env.ID, oc.after.Seq()) == trust.NoAccess:
			return errBadRequest("grant %d refused: per the org chain, %q may not read environment %q", i, g.Recipient(), env.ID)
		case seen[key]:
			return errBadRequest("grant %d refused: %q gets a key of %q twice", i, g.Recipient(), env.ID)
		}
		if err := oc.after.CheckGrant(g); err != nil {
			return errBadRequest("grant %d refused: %v", i, err)
		}
		seen[key] = true
		affected[env.ID] = true
		oc.out.Grants = append(oc.out.Grants, store.Grant{EnvID: env.ID, PrincipalID: g.Recipient(), KeyVersion: g.KeyVersion(), Signed: g.Bytes()})
	}
	return nil
}

// orgChangeAudit describes an org change for the audit log: one entry per
// chain entry (member, access, key and token changes), or one for a
// request that only completes grants.
func (s *Server) orgChangeAudit(r *http.Request, p *principal, sc scope, oc *orgChange, grants int) []audit.Entry {
	var out []audit.Entry
	if oc.c != nil {
		for _, op := range oc.c.ops() {
			e := s.newAudit(r, p, sc.org.ID, op.Type())
			e.Detail = opDetail(oc.after, op)
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		e := s.newAudit(r, p, sc.org.ID, "access.sync")
		e.Detail = fmt.Sprintf("%d key grant(s)", grants)
		out = append(out, e)
	}
	return out
}

// opDetail names who and what a chain entry is about, from the chain.
func opDetail(st *trust.State, op trust.Op) string {
	who := func(id string) string {
		if p, ok := st.Principal(id); ok {
			return p.Name() + " (" + id + ")"
		}
		return id
	}
	envs := func(ids []string) string {
		var names []string
		for _, id := range ids {
			if e, ok := st.Env(id); ok {
				prj, _ := st.ProjectName(e.ProjectID)
				names = append(names, prj+"/"+e.Name)
			} else {
				names = append(names, id)
			}
		}
		return strings.Join(names, ", ")
	}
	switch o := op.(type) {
	case trust.AddMember:
		return who(o.Member.ID()) + " as " + o.Role.String()
	case trust.SetRole:
		return who(o.MemberID) + " to " + o.Role.String()
	case trust.RemoveMember:
		return who(o.MemberID)
	case trust.GrantAccess:
		return who(o.MemberID) + " " + o.Access.String() + " " + envs(o.EnvIDs)
	case trust.RevokeAccess:
		return who(o.MemberID) + " " + envs(o.EnvIDs)
	case trust.RevokeToken:
		return who(o.TokenID)
	case trust.RotateKey:
		return envs([]string{o.EnvID}) + fmt.Sprintf(" to key version %d", o.Version)
	}
	return ""
}
