package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/trust"
)

// Teams (TRUST.md §3, §5). Who is a member, with which role and access, is
// what the org chain says; every change is an entry this user signs. Keys
// move only from a key holder's client to the principals the chain admits:
// the server stores grants it cannot make and rotations it cannot forge.

// ParseRole parses owner, admin, developer or viewer.
func ParseRole(s string) (trust.Role, error) {
	for r := trust.Owner; r <= trust.Viewer; r++ {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, usageErrorf("unknown role %q: use owner, admin, developer or viewer", s)
}

// DefaultInviteExpiry is how long an invite code stays valid.
const DefaultInviteExpiry = 7 * 24 * time.Hour

// InviteRequest describes an invitation.
type InviteRequest struct {
	Email string
	Role  trust.Role
	// Envs are environment names in Project that the new member gets access
	// to: write for owners, admins and developers, read for viewers.
	Project string
	Envs    []string
	Expires time.Duration
}

// InviteResult is an invite code, to hand over out of band, and the
// inviter's identity for the invitee to compare.
type InviteResult struct {
	Code                string    `json:"code"`
	ExpiresAt           time.Time `json:"expires_at"`
	Email               string    `json:"email"`
	Role                string    `json:"role"`
	InviterSafetyNumber string    `json:"inviter_safety_number"`
}

// requireUser refuses service tokens for commands that change an org.
func (s *Session) requireUser(what string) error {
	if s.login == nil {
		return usageErrorf("a service token cannot %s: unset SECR_TOKEN and log in", what)
	}
	return nil
}

// requireAdmin refuses a user who is not an owner or admin per the chain.
func requireAdmin(st *trust.State, me string, what string) error {
	if r := st.Role(me); r != trust.Owner && r != trust.Admin {
		return WithHint(usageErrorf("only an owner or admin of %q can %s (you are %s)", st.OrgName(), what, roleName(r)),
			"ask an owner or admin of %q", st.OrgName())
	}
	return nil
}

func roleName(r trust.Role) string {
	if r == 0 {
		return "not a member"
	}
	return r.String()
}

// envIDs looks names up in project's environments in the chain.
func envIDs(st *trust.State, project string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	prj, ok := st.LookupProject(project)
	if !ok {
		return nil, usageErrorf("no project %q in org %q: run 'secr projects list'", project, st.OrgName())
	}
	have := projectEnvNames(st, prj)
	var ids []string
	for _, n := range names {
		full, _, err := MatchEnv(n, have)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", st.OrgName(), project, err)
		}
		e, _ := st.LookupEnv(prj, full)
		ids = append(ids, e.ID)
	}
	return ids, nil
}

// accessFor is the access an invited or granted member gets by role.
func accessFor(r trust.Role, write bool) trust.Access {
	if r == trust.Viewer || !write {
		return trust.Read
	}
	return trust.Write
}

func inviteAD(id string) string { return "secr/v2/invite|" + id }

// Invite makes an invitation to org for req.Email. The code holds a
// 128-bit secret the server never sees; the invitee's client proves its
// identity with it, and this user's client checks that proof before it
// signs member.add (CompleteInvites), so the server cannot slip in a key.
func (s *Session) Invite(ctx context.Context, org string, req InviteRequest) (InviteResult, error) {
	if err := s.requireUser("invite members"); err != nil {
		return InviteResult{}, err
	}
	req.Email = normalizeEmail(req.Email)
	if !strings.Contains(req.Email, "@") {
		return InviteResult{}, usageErrorf("invalid email %q", req.Email)
	}
	st, err := s.Chain(ctx, org)
	if err != nil {
		return InviteResult{}, err
	}
	if err := requireAdmin(st, s.me(), "invite members"); err != nil {
		return InviteResult{}, err
	}
	for _, m := range st.Members() {
		if m.Principal.Name() == req.Email {
			return InviteResult{}, usageErrorf("%s is already a member of %q (%s)", req.Email, org, m.Role)
		}
	}
	envs, err := envIDs(st, req.Project, req.Envs)
	if err != nil {
		return InviteResult{}, err
	}
	if req.Expires <= 0 {
		req.Expires = DefaultInviteExpiry
	}
	inv, err := trust.GenerateInvite(st.Anchor())
	if err != nil {
		return InviteResult{}, err
	}
	// What this user asked for is sealed with the code: the server stores
	// the role and environments too, but completing the invite believes
	// only this copy (the server could otherwise raise the role).
	expires := s.opts.now().Add(req.Expires).UTC().Truncate(time.Second)
	payload, err := json.Marshal(sealedInvite{Code: inv.String(), Email: req.Email, Role: req.Role.String(), Envs: envs,
		OrgID: st.OrgID(), Seq: st.Seq(), Expires: expires})
	if err != nil {
		return InviteResult{}, err
	}
	sealed, err := s.identity.SealToSelf(inviteAD(inv.ID()), payload)
	if err != nil {
		return InviteResult{}, err
	}
	if _, err := s.client.CreateInvite(ctx, org, api.CreateInviteRequest{
		ID: inv.ID(), Email: req.Email, Role: req.Role.String(), Envs: envs, ExpiresAt: expires, SealedSecret: sealed,
	}); err != nil {
		return InviteResult{}, Explain(err)
	}
	me, _ := st.Principal(s.me())
	return InviteResult{Code: inv.String(), ExpiresAt: expires, Email: req.Email, Role: req.Role.String(), InviterSafetyNumber: me.SafetyNumber()}, nil
}

// Invites lists org's open and accepted invitations.
func (s *Session) Invites(ctx context.Context, org string) ([]api.Invite, error) {
	inv, err := s.client.Invites(ctx, org)
	return inv, Explain(err)
}

// RevokeInvite revokes an open invitation, named by the invitee's email or
// the invite ID.
func (s *Session) RevokeInvite(ctx context.Context, org, emailOrID string) error {
	invites, err := s.client.Invites(ctx, org)
	if err != nil {
		return Explain(err)
	}
	emailOrID = normalizeEmail(emailOrID)
	for _, i := range invites {
		// Own invites are matched on what this user sealed, not on the
		// server's copy, which could point the revocation elsewhere.
		email := i.Email
		if mine, _, err := s.openInvite(i); err == nil {
			email = mine.Email
		} else if i.Inviter == s.me() {
			continue
		}
		if i.ID == emailOrID || email == emailOrID {
			if s.revoked != nil {
				if err := s.revoked.Add(s.api, i.ID); err != nil {
					return err
				}
			}
			return Explain(s.client.RevokeInvite(ctx, org, i.ID))
		}
	}
	return usageErrorf("no open invite for %q in org %q: see 'secr members invites'", emailOrID, org)
}

// AcceptResult is what the invitee checks: the org, pinned from the
// anchor in the code, and who invited them.
type AcceptResult struct {
	Org                 string `json:"org"`
	Anchor              string `json:"anchor"`
	Role                string `json:"role"`
	Inviter             string `json:"inviter"`
	InviterSafetyNumber string `json:"inviter_safety_number"`
	SafetyNumber        string `json:"safety_number"`
}

// AcceptInvite sends this user's identity, with its proof under the
// invite's secret, and verifies the org's chain from the anchor the code
// carries. The inviter's client adds the user when it next runs.
func (s *Session) AcceptInvite(ctx context.Context, code string) (AcceptResult, error) {
	if err := s.requireUser("accept invites"); err != nil {
		return AcceptResult{}, err
	}
	inv, err := trust.ParseInvite(strings.TrimSpace(code))
	if err != nil {
		return AcceptResult{}, usageErrorf("%v", err)
	}
	me, err := s.userPrincipal()
	if err != nil {
		return AcceptResult{}, err
	}
	resp, err := s.client.AcceptInvite(ctx, inv.ID(), api.AcceptInviteRequest{Principal: me.Bytes(), MAC: inv.MAC(me)})
	if err != nil {
		return AcceptResult{}, WithHint(Explain(err), "check the code; invites are for one email and expire (ask for a new one)")
	}
	entries := make([]*trust.Entry, 0, len(resp.Chain))
	for _, b := range resp.Chain {
		e, err := trust.ParseEntry(b)
		if err != nil {
			return AcceptResult{}, chainError(resp.Org, err)
		}
		entries = append(entries, e)
	}
	key := s.chainKey(resp.Org)
	pinned, err := s.pinned(key)
	if err != nil {
		return AcceptResult{}, err
	}
	var st *trust.State
	if pinned != nil {
		st, err = pinned.Extend(entries)
	} else {
		st, err = trust.Verify(entries, inv.Anchor())
	}
	if err == nil && st.OrgName() != resp.Org {
		err = fmt.Errorf("the server answered with the chain of org %q", st.OrgName())
	}
	if err == nil {
		if a := st.Anchor(); !bytes.Equal(inv.Anchor(), a[:len(inv.Anchor())]) {
			err = fmt.Errorf("the invite is for another org than %q", st.OrgName())
		}
	}
	if err != nil {
		return AcceptResult{}, chainError(resp.Org, err)
	}
	s.pin(key, st)
	inviter, ok := st.Principal(resp.Inviter)
	if !ok || st.Role(resp.Inviter) != trust.Owner && st.Role(resp.Inviter) != trust.Admin {
		return AcceptResult{}, integrityErrorf("the inviter %q is not an owner or admin of %q per its org chain", resp.Inviter, resp.Org)
	}
	if s.login.DefaultOrg == "" {
		s.login.DefaultOrg = resp.Org
		if dirs, err := s.opts.dirs(); err == nil {
			_ = s.opts.credentials(dirs).SetDefaultOrg(s.api, resp.Org)
		}
	}
	return AcceptResult{Org: resp.Org, Anchor: Fingerprint32(st.Anchor()), Role: resp.Role, Inviter: inviter.Name(),
		InviterSafetyNumber: inviter.SafetyNumber(), SafetyNumber: me.SafetyNumber()}, nil
}

// SyncResult is what Sync did.
type SyncResult struct {
	// Added are the invitees this user's client checked and added.
	Added []string `json:"added"`
	// Refused are the invitees whose identity did not match their invite
	// (key substitution?), with why; their invites were revoked.
	Refused []string `json:"refused"`
	// Grants is how many pending grants were completed; Rotations how
	// many environments' keys were rotated.
	Grants    int `json:"grants"`
	Rotations int `json:"rotations"`
	// Left is the pending work this machine could not complete (it does
	// not hold those keys).
	Left int `json:"left"`
}

// ErrInviteRefused marks an invite whose accepted identity failed its MAC:
// the server (or someone between) substituted a key.
var ErrInviteRefused = errors.New("refused to add an invitee")

// Sync completes what this user's keys can complete in org: accepted
// invites this user made (checked against the invite's secret, then added
// with the access the invite names), grants the chain calls for but no key
// holder has wrapped yet, and key rotations left pending by someone who did
// not hold the key. Refused invites are revoked and reported with an error
// matching ErrIntegrity after the rest is done.
func (s *Session) Sync(ctx context.Context, org string) (SyncResult, error) {
	var res SyncResult
	if s.login == nil {
		return res, nil
	}
	invites, err := s.client.Invites(ctx, org)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Status == 403 {
		invites, err = nil, nil // not an admin: no invites to complete
	}
	if err != nil {
		return res, Explain(err)
	}
	var refused error
	for _, inv := range invites {
		if inv.Status != api.InviteAccepted || inv.Inviter != s.me() || inv.SealedSecret == nil {
			continue
		}
		if err := s.completeInvite(ctx, org, inv); err != nil {
			if !errors.Is(err, ErrIntegrity) {
				return res, err
			}
			res.Refused = append(res.Refused, inv.Email)
			refused = err
			_ = s.client.RevokeInvite(ctx, org, inv.ID)
			continue
		}
		res.Added = append(res.Added, inv.Email)
	}
	if err := s.completePending(ctx, org, &res); err != nil {
		return res, err
	}
	return res, refused
}

// sealedInvite is the inviter's own record of an invite, sealed for
// themselves and kept by the server.
type sealedInvite struct {
	Code  string   `json:"code"`
	Email string   `json:"email"`
	Role  string   `json:"role"`
	Envs  []string `json:"envs,omitempty"`
	// OrgID, Seq and Expires bind the invite to its org, to the chain as
	// it was when it was made (an identity the chain records after that
	// was added already: the invite was used) and to its expiry on this
	// user's clock: the server's copies of these are not believed.
	OrgID   string    `json:"org_id"`
	Seq     uint64    `json:"seq"`
	Expires time.Time `json:"expires"`
}

// openInvite opens this user's sealed record of an invite.
func (s *Session) openInvite(inv api.Invite) (sealedInvite, *trust.Invite, error) {
	var mine sealedInvite
	raw, err := s.identity.OpenFromSelf(inviteAD(inv.ID), inv.SealedSecret)
	if err != nil {
		return mine, nil, fmt.Errorf("the server's copy of the invite secret did not open with your key")
	}
	if err := json.Unmarshal(raw, &mine); err != nil {
		return mine, nil, fmt.Errorf("your sealed copy of the invite is malformed")
	}
	code, err := trust.ParseInvite(mine.Code)
	if err != nil || code.ID() != inv.ID {
		return mine, nil, fmt.Errorf("the invite secret does not match the invite")
	}
	return mine, code, nil
}

// completeInvite checks an accepted invite's identity against the secret
// only this user's client can open, and signs member.add for it with the
// role and access this user asked for (from the same sealed copy).
func (s *Session) completeInvite(ctx context.Context, org string, inv api.Invite) error {
	mine, code, err := s.openInvite(inv)
	if err != nil {
		return integrityErrorf("refused to add %s: %v", inv.Email, err)
	}
	if s.revoked != nil && s.revoked.Has(s.api, inv.ID) {
		return integrityErrorf("refused to add %s: you revoked this invite", inv.Email)
	}
	if s.opts.now().After(mine.Expires) {
		return integrityErrorf("refused to add %s: the invite expired at %s", inv.Email, mine.Expires.Format(time.RFC3339))
	}
	if mine.Email != inv.Email || mine.Role != inv.Role || !slices.Equal(mine.Envs, inv.Envs) {
		return integrityErrorf("refused to add %s: the server's record of the invite (%s, %s, %d environments) is not what you asked for (%s, %s, %d environments)",
			inv.Email, inv.Email, inv.Role, len(inv.Envs), mine.Email, mine.Role, len(mine.Envs))
	}
	inv.Role, inv.Envs = mine.Role, mine.Envs
	p, err := trust.ParsePrincipal(inv.Principal)
	if err == nil {
		err = code.Check(p, inv.MAC)
	}
	if err == nil && (p.Kind() != trust.KindUser || p.Name() != inv.Email) {
		err = fmt.Errorf("it names %q, not %s", p.Name(), inv.Email)
	}
	if err != nil {
		return WithHint(integrityErrorf("refused to add %s: the identity the server sent does not match the invite (key substitution?): %v", inv.Email, err),
			"the invite was revoked; make a new one, hand the code over in person or on a channel you trust, and compare safety numbers with 'secr members verify %s'", inv.Email)
	}
	role, err := ParseRole(inv.Role)
	if err != nil {
		return err
	}
	return s.changeTeam(ctx, org, inv.ID, func(st *trust.State) ([]trust.Op, []wrapTo, error) {
		anchor := st.Anchor()
		switch {
		case !bytes.Equal(code.Anchor(), anchor[:len(code.Anchor())]) || mine.OrgID != st.OrgID():
			return nil, nil, integrityErrorf("refused to add %s: the invite is for another org than %q", inv.Email, st.OrgName())
		case mine.Seq > st.Seq():
			return nil, nil, integrityErrorf("refused to add %s: the org chain is older than the invite", inv.Email)
		}
		if seen, ok := st.FirstSeen(p.ID()); ok && seen > mine.Seq {
			return nil, nil, integrityErrorf("refused to add %s: the org chain added them after this invite was made (entry %d): the invite was used already", inv.Email, seen)
		}
		ops := []trust.Op{trust.AddMember{Member: p, Role: role}}
		var wrap []wrapTo
		if len(inv.Envs) > 0 {
			ops = append(ops, trust.GrantAccess{MemberID: p.ID(), EnvIDs: inv.Envs, Access: accessFor(role, true)})
			for _, e := range inv.Envs {
				wrap = append(wrap, wrapTo{e, p.ID()})
			}
		}
		return ops, wrap, nil
	}, nil)
}

// wrapTo is an environment key to wrap to a principal.
type wrapTo struct{ envID, principalID string }

// changeTeam signs the ops build returns on top of org's chain and sends
// them with the grants build asks for that this user can make (those of
// environments it holds no key of stay pending) and the key rotations
// rotate asks for.
func (s *Session) changeTeam(ctx context.Context, org, inviteID string, build func(*trust.State) ([]trust.Op, []wrapTo, error), rotate func(before, next *trust.State) []string) error {
	var keys keyCache
	return s.changeOrgWith(ctx, org, func(st *trust.State) (*trust.State, api.OrgChange, error) {
		var req api.OrgChange
		req.InviteID = inviteID
		ops, grantTo, err := build(st)
		if err != nil {
			return nil, req, err
		}
		next, raw, err := s.appendOps(st, ops...)
		if err != nil {
			return nil, req, err
		}
		req.Entries = raw
		var rotating []string
		if rotate != nil {
			rotating = rotate(st, next)
		}
		for _, envID := range rotating {
			var g [][]byte
			var rev *api.RotatedRevision
			next, g, rev, err = s.rotateOn(ctx, next, envID, &keys, &req.Entries)
			if err != nil {
				return nil, req, err
			}
			req.Grants = append(req.Grants, g...)
			if rev != nil {
				req.Revisions = append(req.Revisions, *rev)
			}
		}
		for _, w := range grantTo {
			if slices.Contains(rotating, w.envID) || w.principalID == s.me() || s.expiredToken(next, w.principalID) {
				continue // rotated: wrapped to every reader with the new key
			}
			ek, ok := keys.get(ctx, s, next, w.envID)
			if !ok {
				continue // pending: a key holder's client completes it
			}
			g, err := next.MakeGrant(s.sig(), ek, w.principalID)
			if err != nil {
				return nil, req, err
			}
			req.Grants = append(req.Grants, g.Bytes())
		}
		if keys.err != nil {
			return nil, req, keys.err
		}
		if len(req.Entries) == 0 && len(req.Grants) == 0 {
			return nil, req, errNothingToSend
		}
		return next, req, nil
	})
}

// changeOrgWith is changeOrg for OrgChange requests.
func (s *Session) changeOrgWith(ctx context.Context, org string, build func(*trust.State) (*trust.State, api.OrgChange, error)) error {
	var req api.OrgChange
	return s.changeOrg(ctx, org, func(st *trust.State) (*trust.State, api.ChainWrite, error) {
		next, r, err := build(st)
		req = r
		return next, r.ChainWrite, err
	}, func(w api.ChainWrite) error {
		req.ChainWrite = w
		_, err := s.client.ChangeOrg(ctx, org, req)
		return err
	})
}

// keyCache holds the environment keys this user opened during one change.
type keyCache struct {
	keys map[string]*Env
	// err is the first integrity failure met opening one: the change is
	// then refused, not made as if this user held no key.
	err error
}

// get opens this user's current key of envID (nil, false when this user
// holds none).
func (k *keyCache) get(ctx context.Context, s *Session, st *trust.State, envID string) (*crypto.EnvKey, bool) {
	env, ok := k.env(ctx, s, st, envID)
	if !ok {
		return nil, false
	}
	return env.key, true
}

func (k *keyCache) env(ctx context.Context, s *Session, st *trust.State, envID string) (*Env, bool) {
	if e, ok := k.keys[envID]; ok {
		return e, e != nil
	}
	if k.keys == nil {
		k.keys = map[string]*Env{}
	}
	k.keys[envID] = nil
	e, ok := st.Env(envID)
	if !ok || st.Access(s.me(), envID, st.Seq()) == trust.NoAccess {
		return nil, false
	}
	prj, _ := st.ProjectName(e.ProjectID)
	env, err := s.Load(ctx, Target{API: s.api, Org: st.OrgName(), Project: prj, Env: e.Name, EnvExplicit: true})
	if err != nil {
		if errors.Is(err, ErrIntegrity) && k.err == nil {
			k.err = err
		}
		return nil, false
	}
	k.keys[envID] = env
	return env, true
}

// rotateOn appends a key.rotate of envID to st and returns the new state,
// the new key wrapped to every principal that may read the environment
// afterwards, and the newest revision re-sealed under it.
func (s *Session) rotateOn(ctx context.Context, st *trust.State, envID string, keys *keyCache, entries *[][]byte) (*trust.State, [][]byte, *api.RotatedRevision, error) {
	env, ok := keys.env(ctx, s, st, envID)
	if !ok {
		return nil, nil, nil, fmt.Errorf("cannot rotate environment %s: this user holds no key for it", envID)
	}
	cur, _ := st.Env(envID)
	next, raw, err := s.appendOps(st, trust.RotateKey{EnvID: envID, Version: cur.KeyVersion + 1})
	if err != nil {
		return nil, nil, nil, err
	}
	*entries = append(*entries, raw...)
	ek, err := crypto.GenerateEnvKey(envID, cur.KeyVersion+1)
	if err != nil {
		return nil, nil, nil, err
	}
	var grants [][]byte
	for _, p := range next.Readers(envID) {
		if s.expiredToken(next, p.ID()) {
			continue
		}
		g, err := next.MakeGrant(s.sig(), ek, p.ID())
		if err != nil {
			return nil, nil, nil, err
		}
		grants = append(grants, g.Bytes())
	}
	var rev *api.RotatedRevision
	if env.header != nil {
		h, ct, err := next.SealRevision(s.sig(), ek, env.header, env.doc.Marshal())
		if err != nil {
			return nil, nil, nil, err
		}
		rev = &api.RotatedRevision{EnvID: envID, Header: h.Bytes(), Ciphertext: ct}
	}
	return next, grants, rev, nil
}

// expiredToken reports whether id is a service token past the expiry the
// chain records, on this machine's clock: no key is wrapped to it.
func (s *Session) expiredToken(st *trust.State, id string) bool {
	t, ok := st.Token(id)
	return ok && !t.Expires.IsZero() && s.opts.now().After(t.Expires)
}

// completePending makes the grants and rotations the server lists as
// pending that this user's keys can make.
func (s *Session) completePending(ctx context.Context, org string, res *SyncResult) error {
	p, err := s.client.Pending(ctx, org)
	if err != nil {
		return Explain(err)
	}
	owed := false
	if st, err := s.Chain(ctx, org); err == nil {
		for _, e := range st.Envs() {
			owed = owed || st.RotationOwed(e.ID) && st.Access(s.me(), e.ID, st.Seq()) != trust.NoAccess
		}
	}
	if len(p.Grants) == 0 && len(p.Rotations) == 0 && !owed {
		return nil
	}
	var rotations []string
	for _, r := range p.Rotations {
		rotations = append(rotations, r.EnvID)
	}
	err = s.changeTeam(ctx, org, "", func(st *trust.State) ([]trust.Op, []wrapTo, error) {
		var wrap []wrapTo
		for _, g := range p.Grants {
			// Only what the chain still calls for: MakeGrant checks it too.
			if st.Access(g.PrincipalID, g.EnvID, st.Seq()) != trust.NoAccess {
				wrap = append(wrap, wrapTo{g.EnvID, g.PrincipalID})
			}
		}
		return nil, wrap, nil
	}, func(_, st *trust.State) []string {
		var mine []string
		for _, e := range st.Envs() {
			// The chain says which rotations are owed; the server's list
			// only says where to look first.
			if (slices.Contains(rotations, e.ID) || st.RotationOwed(e.ID)) && st.Access(s.me(), e.ID, st.Seq()) != trust.NoAccess {
				mine = append(mine, e.ID)
			}
		}
		return mine
	})
	if errors.Is(err, errNothingToSend) {
		err = nil
	}
	if err != nil {
		return err
	}
	after, err := s.client.Pending(ctx, org)
	if err != nil {
		return Explain(err)
	}
	res.Grants += max(0, len(p.Grants)-len(after.Grants))
	res.Rotations += max(0, len(p.Rotations)-len(after.Rotations))
	res.Left = len(after.Grants) + len(after.Rotations)
	return nil
}

// errNothingToSend stops a change that turned out to have nothing in it.
var errNothingToSend = errors.New("nothing to send")

// Member is one member of an org, as the verified chain records them.
type TeamMember struct {
	ID           string            `json:"id"`
	Email        string            `json:"email"`
	Role         string            `json:"role"`
	SafetyNumber string            `json:"safety_number"`
	Confirmed    bool              `json:"confirmed"`
	Access       map[string]string `json:"access"` // environment path -> read or write
}

// Members lists org's members from its verified chain.
func (s *Session) Members(ctx context.Context, org string) ([]TeamMember, error) {
	st, err := s.Chain(ctx, org)
	if err != nil {
		return nil, err
	}
	confirmed := s.confirmedIn(st)
	var out []TeamMember
	for _, m := range st.Members() {
		p := m.Principal
		tm := TeamMember{ID: p.ID(), Email: p.Name(), Role: m.Role.String(), SafetyNumber: p.SafetyNumber(), Access: map[string]string{}}
		if fp, ok := confirmed[p.ID()]; ok && fp == p.Fingerprint() {
			tm.Confirmed = true
		}
		for _, e := range st.Envs() {
			if a := st.Access(p.ID(), e.ID, st.Seq()); a != trust.NoAccess {
				prj, _ := st.ProjectName(e.ProjectID)
				tm.Access[prj+"/"+e.Name] = a.String()
			}
		}
		out = append(out, tm)
	}
	return out, nil
}

// member finds the current member with email in st.
func member(st *trust.State, email string) (trust.Member, error) {
	email = normalizeEmail(email)
	for _, m := range st.Members() {
		if m.Principal.Name() == email {
			return m, nil
		}
	}
	return trust.Member{}, usageErrorf("%s is not a member of %q: see 'secr members list'", email, st.OrgName())
}

// SetRole changes a member's role.
func (s *Session) SetRole(ctx context.Context, org, email string, role trust.Role) error {
	if err := s.requireUser("change roles"); err != nil {
		return err
	}
	return s.changeTeam(ctx, org, "", func(st *trust.State) ([]trust.Op, []wrapTo, error) {
		m, err := member(st, email)
		if err != nil {
			return nil, nil, err
		}
		if m.Role == role {
			return nil, nil, usageErrorf("%s is already %s", email, role)
		}
		return []trust.Op{trust.SetRole{MemberID: m.Principal.ID(), Role: role}}, nil, nil
	}, nil)
}

// RemoveResult says what a removal or revocation did.
type RemoveResult struct {
	// Rotated are the environments whose keys were rotated; Pending those
	// a key holder's client must rotate (this user holds no key).
	Rotated []string `json:"rotated"`
	Pending []string `json:"pending"`
	// Names are the secret names the removed principal could read, per
	// environment: rotate their values at their source.
	Names map[string][]string `json:"names"`
	// Tokens are the service tokens of the removed member that were
	// revoked.
	Tokens []string `json:"tokens"`
}

// RemoveMember removes a member from org, revokes the service tokens they
// made, rotates the key of every environment they could read that this
// user holds (re-sealing its newest revision and wrapping the new key to
// everyone who may still read it) and leaves the others pending.
func (s *Session) RemoveMember(ctx context.Context, org, email string) (RemoveResult, error) {
	if err := s.requireUser("remove members"); err != nil {
		return RemoveResult{}, err
	}
	var res RemoveResult
	err := s.changeTeam(ctx, org, "", func(st *trust.State) ([]trust.Op, []wrapTo, error) {
		m, err := member(st, email)
		if err != nil {
			return nil, nil, err
		}
		if m.Principal.ID() == s.me() {
			return nil, nil, usageErrorf("you cannot remove yourself; ask another owner or admin")
		}
		ops := []trust.Op{trust.RemoveMember{MemberID: m.Principal.ID()}}
		res = RemoveResult{Names: map[string][]string{}}
		// Their tokens, as the chain records who made each: a server that
		// left one out of a list would otherwise keep it reading.
		for _, t := range st.Tokens() {
			if t.Creator == m.Principal.ID() && !t.Revoked {
				ops = append(ops, trust.RevokeToken{TokenID: t.Principal.ID()})
				res.Tokens = append(res.Tokens, t.Principal.ID())
			}
		}
		return ops, nil, nil
	}, func(before, next *trust.State) []string {
		return s.lostAccess(ctx, before, next, &res)
	})
	return res, err
}

// lostAccess lists the environments in which some principal that could
// read them before the change (before) cannot after it (next), records
// their secret names, and returns those whose key this user can rotate;
// the rest go in res.Pending (a key holder's client rotates them).
func (s *Session) lostAccess(ctx context.Context, before, next *trust.State, res *RemoveResult) []string {
	var keys keyCache
	var rotate []string
	res.Rotated, res.Pending = nil, nil
	for _, e := range next.Envs() {
		lost := false
		for _, p := range before.Readers(e.ID) {
			if next.Access(p.ID(), e.ID, next.Seq()) == trust.NoAccess {
				lost = true
			}
		}
		if !lost {
			continue
		}
		prj, _ := next.ProjectName(e.ProjectID)
		path := next.OrgName() + "/" + prj + "/" + e.Name
		if env, ok := keys.env(ctx, s, next, e.ID); ok {
			res.Names[path] = env.Names()
			rotate = append(rotate, e.ID)
			res.Rotated = append(res.Rotated, path)
		} else {
			res.Pending = append(res.Pending, path)
		}
	}
	return rotate
}

// memberAndEnv looks up the member with email and t's environment in st.
func memberAndEnv(st *trust.State, t Target, email string) (trust.Member, []string, error) {
	m, err := member(st, email)
	if err != nil {
		return m, nil, err
	}
	ids, err := envIDs(st, t.Project, []string{t.Env})
	return m, ids, err
}

// GrantAccess gives a member read (or write) access to t's environment and
// wraps its key to them when this user holds it (else it stays pending
// until a key holder's client completes it).
func (s *Session) GrantAccess(ctx context.Context, t Target, email string, write bool) (pending bool, err error) {
	if err := s.requireUser("grant access"); err != nil {
		return false, err
	}
	err = s.changeTeam(ctx, t.Org, "", func(st *trust.State) ([]trust.Op, []wrapTo, error) {
		m, ids, err := memberAndEnv(st, t, email)
		if err != nil {
			return nil, nil, err
		}
		pending = st.Access(s.me(), ids[0], st.Seq()) == trust.NoAccess
		return []trust.Op{trust.GrantAccess{MemberID: m.Principal.ID(), EnvIDs: ids, Access: accessFor(m.Role, write)}}, []wrapTo{{ids[0], m.Principal.ID()}}, nil
	}, nil)
	return pending, err
}

// RevokeAccess takes a member's access to t's environment away and rotates
// its key (or leaves the rotation pending when this user holds no key).
func (s *Session) RevokeAccess(ctx context.Context, t Target, email string) (RemoveResult, error) {
	if err := s.requireUser("revoke access"); err != nil {
		return RemoveResult{}, err
	}
	var res RemoveResult
	err := s.changeTeam(ctx, t.Org, "", func(st *trust.State) ([]trust.Op, []wrapTo, error) {
		m, ids, err := memberAndEnv(st, t, email)
		if err != nil {
			return nil, nil, err
		}
		res = RemoveResult{Names: map[string][]string{}}
		return []trust.Op{trust.RevokeAccess{MemberID: m.Principal.ID(), EnvIDs: ids}}, nil, nil
	}, func(before, next *trust.State) []string {
		return s.lostAccess(ctx, before, next, &res)
	})
	return res, err
}

// AccessEntry is one principal's access to one environment.
type AccessEntry struct {
	Env     string `json:"environment"`
	Who     string `json:"who"`
	Kind    string `json:"kind"` // user or token
	Access  string `json:"access"`
	Pending bool   `json:"pending"` // the chain gives access; no key holder has wrapped the key yet
}

// AccessList lists who may read t's project's environments (only t.Env
// when envOnly), and the pending work.
func (s *Session) AccessList(ctx context.Context, t Target, envOnly bool) ([]AccessEntry, []string, error) {
	st, prj, err := s.chainProject(ctx, t.Org, t.Project)
	if err != nil {
		return nil, nil, err
	}
	var only string
	if envOnly {
		if only, _, err = MatchEnv(t.Env, projectEnvNames(st, prj)); err != nil {
			return nil, nil, err
		}
	}
	pend, err := s.client.Pending(ctx, t.Org)
	if err != nil {
		return nil, nil, Explain(err)
	}
	isPending := map[string]bool{}
	for _, g := range pend.Grants {
		isPending[g.EnvID+"|"+g.PrincipalID] = true
	}
	var out []AccessEntry
	var rotations []string
	for _, e := range st.Envs() {
		if e.ProjectID != prj || envOnly && e.Name != only {
			continue
		}
		for _, p := range st.Readers(e.ID) {
			out = append(out, AccessEntry{Env: e.Name, Who: p.Name(), Kind: p.Kind().String(),
				Access: st.Access(p.ID(), e.ID, st.Seq()).String(), Pending: isPending[e.ID+"|"+p.ID()]})
		}
		for _, r := range pend.Rotations {
			if r.EnvID == e.ID {
				rotations = append(rotations, e.Name)
			}
		}
	}
	return out, rotations, nil
}

// MemberIdentity is what 'secr members verify' shows.
type MemberIdentity struct {
	Email        string `json:"email"`
	ID           string `json:"id"`
	SafetyNumber string `json:"safety_number"`
	Confirmed    bool   `json:"confirmed"`
}

// VerifyMember shows a member's safety number from the verified chain and,
// with confirm, records it as checked out of band: from then on a change of
// that member's keys fails as an integrity error.
func (s *Session) VerifyMember(ctx context.Context, org, email string, confirm bool) (MemberIdentity, error) {
	st, err := s.Chain(ctx, org)
	if err != nil {
		return MemberIdentity{}, err
	}
	m, err := member(st, email)
	if err != nil {
		return MemberIdentity{}, err
	}
	p := m.Principal
	out := MemberIdentity{Email: p.Name(), ID: p.ID(), SafetyNumber: p.SafetyNumber()}
	if fp, ok := s.confirmedIn(st)[p.ID()]; ok && fp == p.Fingerprint() {
		out.Confirmed = true
	}
	if confirm {
		if s.confirmed == nil {
			return out, fmt.Errorf("no state directory to record the confirmation in: set HOME or XDG_STATE_HOME")
		}
		if err := s.confirmed.Confirm(s.api, st.OrgID(), p.ID(), p.Fingerprint()); err != nil {
			return out, err
		}
		out.Confirmed = true
	}
	return out, nil
}

// confirmedIn returns the fingerprints this user confirmed in st's org.
func (s *Session) confirmedIn(st *trust.State) map[string][32]byte {
	if s.confirmed == nil {
		return nil
	}
	m, err := s.confirmed.Org(s.api, st.OrgID())
	if err != nil {
		s.opts.warnf("%v", err)
	}
	return m
}

// checkConfirmed fails when a member this user confirmed now has other
// keys in the chain.
func (s *Session) checkConfirmed(st *trust.State) error {
	for id, fp := range s.confirmedIn(st) {
		p, ok := st.Principal(id)
		if ok && p.Fingerprint() != fp {
			return WithHint(integrityErrorf("the keys of %s changed since you confirmed them with 'secr members verify --confirm'", p.Name()),
				"compare safety numbers with %s again, out of band, before trusting anything they sign", p.Name())
		}
	}
	return nil
}
