package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/trust"
)

// signupKeyed is signup that also returns the user's signing key, so a
// test can sign what a well-behaved client's Append would refuse to.
func (e *env) signupKeyed(email string) (user, *trust.SigningKey) {
	e.t.Helper()
	id, _ := crypto.GenerateIdentity()
	key, _ := trust.GenerateSigningKey()
	uid := api.NewID("usr")
	p, err := trust.NewUser(uid, email, id.Recipient(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	u := user{id: id, uid: uid, signer: trust.NewSigner(uid, key), principal: p}
	var resp api.SessionResponse
	e.must("", "POST", api.SignupPath, signupRequest(u, email), &resp, http.StatusCreated)
	u.auth = "Bearer " + resp.Token
	e.addSigner(u.signer)
	return u, key
}

// forge re-signs entry b (signed by someone allowed to) as signerID with
// key: what a hostile or broken client that skips Append's checks sends.
func forge(t *testing.T, orgID string, b []byte, signerID string, key *trust.SigningKey) []byte {
	t.Helper()
	en, err := trust.ParseEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := bytes.Clone(b[:len(b)-ed25519.SignatureSize])
	unsigned = unsigned[:len(unsigned)-4-len(en.Signer())] // the signer is the last field
	unsigned = binary.BigEndian.AppendUint32(unsigned, uint32(len(signerID)))
	unsigned = append(unsigned, signerID...)
	msg := []byte("secr/v2/org-chain")
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(orgID)))
	msg = append(append(msg, orgID...), unsigned...)
	seed, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key.String(), "SECR-SIGNING-KEY-"))
	if err != nil {
		t.Fatal(err)
	}
	return append(unsigned, ed25519.Sign(ed25519.NewKeyFromSeed(seed), msg)...)
}

// inviteRequest makes an invite to org as admin, without sending it.
func (e *env) inviteRequest(admin user, org, email, role string, envs ...string) (api.CreateInviteRequest, *trust.Invite) {
	e.t.Helper()
	inv, err := trust.GenerateInvite(e.orgState(org).Anchor())
	if err != nil {
		e.t.Fatal(err)
	}
	sealed, err := admin.id.SealToSelf(inv.ID(), []byte(inv.String()))
	if err != nil {
		e.t.Fatal(err)
	}
	return api.CreateInviteRequest{ID: inv.ID(), Email: email, Role: role, Envs: envs, ExpiresAt: e.clock.now().Add(7 * 24 * time.Hour), SealedSecret: sealed}, inv
}

func (e *env) invite(admin user, org, email, role string, envs ...string) *trust.Invite {
	e.t.Helper()
	req, inv := e.inviteRequest(admin, org, email, role, envs...)
	var out api.Invite
	e.must(admin.auth, "POST", api.Path(api.InvitesRoute, org), req, &out, http.StatusCreated)
	if out.ID != inv.ID() || out.Status != api.InviteOpen || !bytes.Equal(out.SealedSecret, req.SealedSecret) {
		e.t.Fatalf("created invite %+v", out)
	}
	return inv
}

func (e *env) accept(u user, inv *trust.Invite) api.AcceptInviteResponse {
	e.t.Helper()
	var out api.AcceptInviteResponse
	req := api.AcceptInviteRequest{Principal: u.principal.Bytes(), MAC: inv.MAC(u.principal)}
	e.must(u.auth, "POST", api.Path(api.AcceptInviteRoute, inv.ID()), req, &out, http.StatusOK)
	return out
}

// change posts an org change as u: ops signed by u on org's chain, and the
// grants grants makes on the chain after them.
func (e *env) change(u user, org string, ops []trust.Op, grants func(st *trust.State) [][]byte, edit func(*api.OrgChange)) (int, string, *trust.State) {
	e.t.Helper()
	var req api.OrgChange
	st := e.orgState(org)
	if len(ops) > 0 {
		req.Entries, st = e.sign(u.signer, org, ops...)
	}
	if grants != nil {
		req.Grants = grants(st)
	}
	if edit != nil {
		edit(&req)
	}
	status, body := e.call(u.auth, "POST", api.Path(api.OrgChangeRoute, org), req)
	if status == http.StatusOK {
		e.setOrgState(org, st)
	}
	return status, body, st
}

// mustChange is change that must succeed.
func (e *env) mustChange(u user, org string, ops []trust.Op, grants func(st *trust.State) [][]byte, edit func(*api.OrgChange)) *trust.State {
	e.t.Helper()
	status, body, st := e.change(u, org, ops, grants, edit)
	if status != http.StatusOK {
		e.t.Fatalf("org change %v: %d %s", opTypes(ops), status, body)
	}
	var resp api.ChainWriteResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.HeadSeq != st.Seq() {
		e.t.Fatalf("org change: head %d (%v), want %d", resp.HeadSeq, err, st.Seq())
	}
	return st
}

// grantsTo returns a grants func: granter wraps p's keys of envNames to id.
func grantsTo(t *testing.T, granter user, p project, id string, envNames ...string) func(st *trust.State) [][]byte {
	return func(st *trust.State) [][]byte {
		var out [][]byte
		for _, n := range envNames {
			out = append(out, grantBytes(t, st, granter.signer, p.keys[n], id))
		}
		return out
	}
}

// addMember invites u to org with role, has u accept, and adds u with
// write access to envNames of p, granting their keys as admin when grant.
func (e *env) addMember(admin user, org string, u user, role trust.Role, p project, grant bool, envNames ...string) {
	e.t.Helper()
	var ids []string
	for _, n := range envNames {
		ids = append(ids, p.envIDs[n])
	}
	inv := e.invite(admin, org, strings.ToLower(u.principal.Name()), role.String(), ids...)
	e.accept(u, inv)
	ops := []trust.Op{trust.AddMember{Member: u.principal, Role: role}}
	if len(ids) > 0 {
		ops = append(ops, trust.GrantAccess{MemberID: u.uid, EnvIDs: ids, Access: trust.Write})
	}
	var grants func(st *trust.State) [][]byte
	if grant && len(envNames) > 0 {
		grants = grantsTo(e.t, admin, p, u.uid, envNames...)
	}
	e.mustChange(admin, org, ops, grants, func(r *api.OrgChange) { r.InviteID = inv.ID() })
}

func (e *env) pending(auth, org string) api.Pending {
	e.t.Helper()
	var out api.Pending
	e.must(auth, "GET", api.Path(api.PendingRoute, org), nil, &out, http.StatusOK)
	return out
}

func (e *env) snapshotPending(auth, org, env string) bool {
	e.t.Helper()
	var s api.Snapshot
	e.must(auth, "GET", api.Path(api.SnapshotRoute, org, "web", env), nil, &s, http.StatusOK)
	return s.Pending
}

func TestInvites(t *testing.T) { onEachStore(t, testInvites) }

func testInvites(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	carl, dev, vic := e.signup("carl@example.com"), e.signup("dev@example.com"), e.signup("vic@example.com")
	e.addMember(ada, "acme", carl, trust.Admin, p, false)
	e.addMember(ada, "acme", dev, trust.Developer, p, true, "development")
	e.addMember(ada, "acme", vic, trust.Viewer, p, true, "development")
	tok, _ := e.token(ada, "acme", "web", p, "development", false)
	invites := api.Path(api.InvitesRoute, "acme")

	// Outsiders learn nothing; members who are not owners or admins, and
	// tokens, may not.
	bob := e.signup("bob@example.com")
	e.createOrg(bob, "bobco")
	req, inv := e.inviteRequest(ada, "acme", "new@example.com", "developer", p.envIDs["development"])
	for _, c := range []struct{ method, path string }{
		{"POST", invites}, {"GET", invites}, {"DELETE", api.Path(api.InviteRoute, "acme", inv.ID())},
	} {
		status, body := e.call(bob.auth, c.method, c.path, req)
		gStatus, gBody := e.call(bob.auth, c.method, strings.Replace(c.path, "acme", "ghost", 1), req)
		if status != http.StatusNotFound || gStatus != status || strings.ReplaceAll(gBody, "ghost", "acme") != body {
			t.Errorf("bob %s %s: %d %s (ghost: %d %s)", c.method, c.path, status, body, gStatus, gBody)
		}
		for who, auth := range map[string]string{"developer": dev.auth, "viewer": vic.auth, "token": tok} {
			status, body := e.call(auth, c.method, c.path, req)
			e.wantStatus(who+" "+c.method+" invites", status, body, http.StatusForbidden, "")
		}
	}

	// What an invite must be.
	expiry := e.clock.now().Add(time.Hour)
	for _, c := range []struct {
		name   string
		edit   func(r *api.CreateInviteRequest)
		status int
		want   string
	}{
		{"a malformed ID", func(r *api.CreateInviteRequest) { r.ID = "inv_x" }, http.StatusBadRequest, "malformed invite ID"},
		{"an upper-case ID", func(r *api.CreateInviteRequest) { r.ID = strings.ToUpper(r.ID) }, http.StatusBadRequest, "malformed invite ID"},
		{"a bad email", func(r *api.CreateInviteRequest) { r.Email = "not an email" }, http.StatusBadRequest, "invalid email"},
		{"an unknown role", func(r *api.CreateInviteRequest) { r.Role = "member" }, http.StatusBadRequest, "invalid role"},
		{"another org's environment", func(r *api.CreateInviteRequest) { r.Envs = []string{api.NewID("env")} }, http.StatusBadRequest, "no environment"},
		{"a past expiry", func(r *api.CreateInviteRequest) { r.ExpiresAt = expiry.Add(-2 * time.Hour) }, http.StatusBadRequest, "in the past"},
		{"a 31-day expiry", func(r *api.CreateInviteRequest) { r.ExpiresAt = expiry.Add(31 * 24 * time.Hour) }, http.StatusBadRequest, "at most 30 days"},
		{"no sealed secret", func(r *api.CreateInviteRequest) { r.SealedSecret = nil }, http.StatusBadRequest, "sealed secret is missing"},
		{"a huge sealed secret", func(r *api.CreateInviteRequest) { r.SealedSecret = make([]byte, 8<<10+1) }, http.StatusBadRequest, "longer than"},
		{"a member's email", func(r *api.CreateInviteRequest) { r.Email = "dev@example.com" }, http.StatusConflict, "already a member"},
	} {
		r := req
		c.edit(&r)
		status, body := e.call(ada.auth, "POST", invites, r)
		e.wantStatus("invite with "+c.name, status, body, c.status, c.want)
	}
	// Only an owner invites an owner.
	ownerReq, _ := e.inviteRequest(carl, "acme", "boss@example.com", "owner")
	status, body := e.call(carl.auth, "POST", invites, ownerReq)
	e.wantStatus("admin invites an owner", status, body, http.StatusForbidden, "only an owner may invite an owner")
	e.must(ada.auth, "POST", invites, ownerReq, nil, http.StatusCreated)
	status, body = e.call(ada.auth, "POST", invites, ownerReq)
	e.wantStatus("the same ID again", status, body, http.StatusConflict, "already exists")

	// Listing: every open invite, the sealed secret only to its inviter.
	newInv := e.invite(carl, "acme", "new@example.com", "developer", p.envIDs["development"])
	var list []api.Invite
	e.must(ada.auth, "GET", invites, nil, &list, http.StatusOK)
	if len(list) != 2 {
		t.Fatalf("invites %+v", list)
	}
	for _, i := range list {
		mine := i.Inviter == ada.uid
		if mine != (len(i.SealedSecret) > 0) || (i.ID == newInv.ID()) != (i.Inviter == carl.uid) || i.InviterEmail == "" {
			t.Errorf("ada lists %+v", i)
		}
	}

	// Accepting: the invited email only, with the caller's own identity.
	newbie, eve := e.signup("new@example.com"), e.signup("eve@example.com")
	accept := api.Path(api.AcceptInviteRoute, newInv.ID())
	good := api.AcceptInviteRequest{Principal: newbie.principal.Bytes(), MAC: newInv.MAC(newbie.principal)}
	status, body = e.call(eve.auth, "POST", accept, api.AcceptInviteRequest{Principal: eve.principal.Bytes(), MAC: newInv.MAC(eve.principal)})
	e.wantStatus("eve accepts new@'s invite", status, body, http.StatusForbidden, "this invite is for another email address")
	if strings.Contains(body, "new@example.com") || strings.Contains(body, "acme") {
		t.Errorf("wrong account learns about the invite: %s", body)
	}
	status, body = e.call(tok, "POST", accept, good)
	e.wantStatus("a token accepts", status, body, http.StatusForbidden, "logged-in user")
	status, body = e.call(newbie.auth, "POST", accept, api.AcceptInviteRequest{Principal: eve.principal.Bytes(), MAC: newInv.MAC(eve.principal)})
	e.wantStatus("accept with eve's identity", status, body, http.StatusBadRequest, "not your identity")
	status, body = e.call(newbie.auth, "POST", accept, api.AcceptInviteRequest{Principal: []byte("junk"), MAC: good.MAC})
	e.wantStatus("accept with a junk identity", status, body, http.StatusBadRequest, "identity refused")
	status, body = e.call(newbie.auth, "POST", accept, api.AcceptInviteRequest{Principal: good.Principal, MAC: good.MAC[:31]})
	e.wantStatus("accept with a short MAC", status, body, http.StatusBadRequest, "32 bytes")
	notFound := "invite not found"
	status, body = e.call(newbie.auth, "POST", api.Path(api.AcceptInviteRoute, strings.Repeat("ab", 32)), good)
	e.wantStatus("accept an unknown invite", status, body, http.StatusNotFound, notFound)

	var resp api.AcceptInviteResponse
	e.must(newbie.auth, "POST", accept, good, &resp, http.StatusOK)
	st := e.orgState("acme")
	got, err := trust.Verify(parseEntries(t, resp.Chain), newInv.Anchor())
	if err != nil || got.Head() != st.Head() || resp.Org != "acme" || resp.OrgID != st.OrgID() || resp.Role != "developer" || resp.Inviter != carl.uid {
		t.Fatalf("accept: %+v (%v)", resp, err)
	}
	e.must(newbie.auth, "POST", accept, good, nil, http.StatusOK) // a retry
	other := good
	other.MAC = bytes.Repeat([]byte{1}, 32)
	status, body = e.call(newbie.auth, "POST", accept, other)
	e.wantStatus("accept again with another MAC", status, body, http.StatusNotFound, notFound)
	e.must(carl.auth, "GET", invites, nil, &list, http.StatusOK)
	for _, i := range list {
		if i.ID == newInv.ID() && (i.Status != api.InviteAccepted || !bytes.Equal(i.Principal, good.Principal) || !bytes.Equal(i.MAC, good.MAC) || len(i.SealedSecret) == 0) {
			t.Errorf("carl lists the accepted invite as %+v", i)
		}
	}
	// The invitee is not a member yet: the chain is all they get.
	status, _ = e.call(newbie.auth, "GET", api.Path(api.ChainRoute, "acme"), nil)
	if status != http.StatusNotFound {
		t.Errorf("invitee reads the chain: %d", status)
	}

	// Revoked and expired invites are not found.
	revoked := e.invite(ada, "acme", "eve@example.com", "viewer")
	status, body = e.call(ada.auth, "DELETE", api.Path(api.InviteRoute, "acme", strings.Repeat("cd", 32)), nil)
	e.wantStatus("revoke an unknown invite", status, body, http.StatusNotFound, "no invite")
	e.must(carl.auth, "DELETE", api.Path(api.InviteRoute, "acme", revoked.ID()), nil, nil, http.StatusNoContent)
	status, body = e.call(eve.auth, "POST", api.Path(api.AcceptInviteRoute, revoked.ID()), api.AcceptInviteRequest{Principal: eve.principal.Bytes(), MAC: revoked.MAC(eve.principal)})
	e.wantStatus("accept a revoked invite", status, body, http.StatusNotFound, notFound)
	expired := e.invite(ada, "acme", "eve@example.com", "viewer")
	e.clock.add(8 * 24 * time.Hour)
	status, body = e.call(eve.auth, "POST", api.Path(api.AcceptInviteRoute, expired.ID()), api.AcceptInviteRequest{Principal: eve.principal.Bytes(), MAC: expired.MAC(eve.principal)})
	e.wantStatus("accept an expired invite", status, body, http.StatusNotFound, notFound)
	e.must(ada.auth, "GET", invites, nil, &list, http.StatusOK)
	if len(list) != 0 {
		t.Errorf("expired invites listed: %+v", list)
	}
}

func TestMemberAdd(t *testing.T) { onEachStore(t, testMemberAdd) }

func testMemberAdd(t *testing.T, e *env) {
	ada, adaKey := e.signupKeyed("ada@example.com")
	st := e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	dave, daveKey := e.signupKeyed("dave@example.com")
	eve := e.signup("eve@example.com")
	devID := p.envIDs["development"]
	withInvite := func(id string) func(*api.OrgChange) { return func(r *api.OrgChange) { r.InviteID = id } }
	refused := func(what string, u user, ops []trust.Op, edit func(*api.OrgChange), want string) {
		t.Helper()
		status, body, _ := e.change(u, "acme", ops, nil, edit)
		e.wantStatus(what, status, body, http.StatusBadRequest, want)
	}
	add := func(u user, role trust.Role) []trust.Op {
		return []trust.Op{trust.AddMember{Member: u.principal, Role: role}, trust.GrantAccess{MemberID: u.uid, EnvIDs: []string{devID}, Access: trust.Write}}
	}

	inv := e.invite(ada, "acme", "dave@example.com", "developer", devID)
	refused("member.add without an invite", ada, add(dave, trust.Developer), nil, "needs the accepted invite")
	refused("member.add with an open invite", ada, add(dave, trust.Developer), withInvite(inv.ID()), "has not been accepted")
	refused("member.add with an unknown invite", ada, add(dave, trust.Developer), withInvite(strings.Repeat("ef", 32)), "no invite")
	e.accept(dave, inv)
	refused("member.add with another role", ada, add(dave, trust.Viewer), withInvite(inv.ID()), "is for developer")
	refused("member.add of eve with dave's invite", ada, add(eve, trust.Developer), withInvite(inv.ID()), "identity other than the one that accepted")
	refused("an invite without its member.add", ada, []trust.Op{trust.CreateProject{ProjectID: api.NewID("prj"), Name: "x"}}, withInvite(inv.ID()), "has its own endpoint")
	refused("two member.adds", ada, append(add(dave, trust.Developer), trust.AddMember{Member: eve.principal, Role: trust.Viewer}), withInvite(inv.ID()), "one member.add per request")
	// An invite of another org does not add anyone here.
	bob := e.signup("bob@example.com")
	e.createOrg(bob, "bobco")
	bobInv := e.invite(bob, "bobco", "eve@example.com", "developer")
	e.accept(eve, bobInv)
	refused("member.add with another org's invite", ada, []trust.Op{trust.AddMember{Member: eve.principal, Role: trust.Developer}}, withInvite(bobInv.ID()), "no invite")
	// Outsiders cannot post changes at all.
	status, body, _ := e.change(bob, "acme", nil, func(*trust.State) [][]byte { return [][]byte{[]byte("junk")} }, nil)
	e.wantStatus("bob posts to acme", status, body, http.StatusNotFound, "not found")

	// The right one: dave becomes a developer with access to development,
	// whose key ada does not hand over yet: a pending grant.
	e.mustChange(ada, "acme", add(dave, trust.Developer), nil, withInvite(inv.ID()))
	var ms []api.Member
	e.must(dave.auth, "GET", api.Path(api.MembersRoute, "acme"), nil, &ms, http.StatusOK)
	if len(ms) != 2 || ms[1].ID != dave.uid || ms[1].Role != "developer" || ms[1].Email != "dave@example.com" {
		t.Fatalf("members %+v", ms)
	}
	status, _ = e.call(bob.auth, "GET", api.Path(api.MembersRoute, "acme"), nil)
	if status != http.StatusNotFound {
		t.Errorf("bob lists acme's members: %d", status)
	}
	refused("the used invite again", ada, nil, func(r *api.OrgChange) {
		r.Entries, _ = e.sign(ada.signer, "acme", trust.SetRole{MemberID: dave.uid, Role: trust.Viewer})
		r.InviteID = inv.ID()
	}, "comes with the member.add")
	pend := e.pending(dave.auth, "acme")
	if len(pend.Grants) != 1 || pend.Grants[0] != (api.PendingGrant{EnvID: devID, PrincipalID: dave.uid, KeyVersion: 1}) || len(pend.Rotations) != 0 {
		t.Fatalf("pending %+v", pend)
	}
	if !e.snapshotPending(ada.auth, "acme", "development") {
		t.Error("ada's snapshot does not say there is pending work")
	}
	if status, _ := e.call(dave.auth, "GET", api.Path(api.SnapshotRoute, "acme", "web", "development"), nil); status != http.StatusForbidden {
		t.Errorf("dave's snapshot without a key: %d", status)
	}

	// Grants that may not be stored.
	grantRefused := func(what string, u user, g func(st *trust.State) [][]byte, want string) {
		t.Helper()
		status, body, _ := e.change(u, "acme", nil, g, nil)
		e.wantStatus(what, status, body, http.StatusBadRequest, want)
	}
	forEve := func(st *trust.State) [][]byte {
		// A grant as MakeGrant would make it, were eve allowed: the
		// chain in which she is a member is a fork only the test sees.
		fork, _ := st.Extend(parseEntries(t, func() [][]byte {
			b, _ := e.sign(ada.signer, "acme", trust.AddMember{Member: eve.principal, Role: trust.Developer}, trust.GrantAccess{MemberID: eve.uid, EnvIDs: []string{devID}, Access: trust.Read})
			return b
		}()))
		return [][]byte{grantBytes(t, fork, ada.signer, p.keys["development"], eve.uid)}
	}
	grantRefused("a grant to a non-member", ada, forEve, "may not read")
	grantRefused("a junk grant", ada, func(st *trust.State) [][]byte {
		return [][]byte{grantBytes(t, st, ada.signer, p.keys["development"], ada.uid)[:10]}
	}, "grant 0 refused")
	status, body, _ = e.change(ada, "acme", nil, nil, nil)
	e.wantStatus("an empty change", status, body, http.StatusBadRequest, "needs org chain entries, grants, or both")
	grantRefused("a grant to dave twice", ada, func(st *trust.State) [][]byte {
		g := grantBytes(t, st, ada.signer, p.keys["development"], dave.uid)
		return [][]byte{g, g}
	}, "twice")

	// Ada completes it: the pending grant is gone, and dave reads.
	e.mustChange(ada, "acme", nil, grantsTo(t, ada, p, dave.uid, "development"), nil)
	if pend := e.pending(ada.auth, "acme"); len(pend.Grants)+len(pend.Rotations) != 0 {
		t.Fatalf("pending after the grant: %+v", pend)
	}
	if e.snapshotPending(ada.auth, "acme", "development") || e.snapshotPending(dave.auth, "acme", "development") {
		t.Error("snapshots say there is pending work after it was done")
	}
	// A grant dave made, posted by ada; a grant to dave of a key dave made
	// for himself: only the granter posts its grants.
	grantRefused("ada posts dave's grant", ada, func(st *trust.State) [][]byte {
		return [][]byte{grantBytes(t, st, dave.signer, p.keys["development"], dave.uid)}
	}, "not by you")
	grantRefused("dave grants staging, which he cannot read", dave, func(st *trust.State) [][]byte {
		if _, err := st.MakeGrant(dave.signer, p.keys["staging"], ada.uid); err == nil {
			t.Fatal("dave made a grant of staging")
		}
		return [][]byte{grantBytes(t, st, ada.signer, p.keys["staging"], ada.uid)}
	}, "not by you")

	// A developer may not do what owners and admins do: the chain refuses
	// it even when a client signs it regardless.
	for _, op := range []trust.Op{
		trust.AddMember{Member: eve.principal, Role: trust.Developer},
		trust.GrantAccess{MemberID: dave.uid, EnvIDs: []string{p.envIDs["production"]}, Access: trust.Write},
		trust.SetRole{MemberID: dave.uid, Role: trust.Admin},
		trust.RemoveMember{MemberID: dave.uid},
	} {
		entries, _ := e.sign(ada.signer, "acme", op)
		req := api.OrgChange{ChainWrite: api.ChainWrite{Entries: [][]byte{forge(t, st.OrgID(), entries[0], dave.uid, daveKey)}}}
		status, body := e.call(dave.auth, "POST", api.Path(api.OrgChangeRoute, "acme"), req)
		e.wantStatus("developer signs "+op.Type(), status, body, http.StatusBadRequest, "may not sign")
	}
	// The forgery itself is sound: re-signed as ada, it is accepted.
	entries, after := e.sign(ada.signer, "acme", trust.SetRole{MemberID: dave.uid, Role: trust.Viewer})
	req := api.OrgChange{ChainWrite: api.ChainWrite{Entries: [][]byte{forge(t, st.OrgID(), entries[0], ada.uid, adaKey)}}}
	e.must(ada.auth, "POST", api.Path(api.OrgChangeRoute, "acme"), req, nil, http.StatusOK)
	e.setOrgState("acme", after)
	e.must(ada.auth, "GET", api.Path(api.MembersRoute, "acme"), nil, &ms, http.StatusOK)
	if ms[1].Role != "viewer" {
		t.Fatalf("members after member.role %+v", ms)
	}
	// Ops with endpoints of their own are not org changes.
	refused("an env.create", ada, []trust.Op{trust.CreateEnv{EnvID: api.NewID("env"), ProjectID: p.id, Name: "preview"}}, nil, "has its own endpoint")
}

func TestRotation(t *testing.T) { onEachStore(t, testRotation) }

func testRotation(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	devID := p.envIDs["development"]
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	dave, vic := e.signup("dave@example.com"), e.signup("vic@example.com")
	e.addMember(ada, "acme", dave, trust.Developer, p, true, "development", "staging")
	e.addMember(ada, "acme", vic, trust.Viewer, p, true, "development")
	tok, tokID := e.token(dave, "acme", "web", p, "development", false) // developers make tokens
	var toks []api.TokenInfo
	e.must(vic.auth, "GET", api.Path(api.TokensRoute, "acme", "web"), nil, &toks, http.StatusOK)
	if len(toks) != 1 || toks[0].ID != tokID {
		t.Fatalf("vic lists tokens %+v", toks)
	}
	e.must(vic.auth, "GET", api.Path(api.PendingRoute, "acme"), nil, nil, http.StatusOK)
	e.must(tok, "GET", api.Path(api.PendingRoute, "acme"), nil, nil, http.StatusOK)

	// Removing dave without rotating leaves a rotation pending.
	e.mustChange(ada, "acme", []trust.Op{trust.RemoveMember{MemberID: dave.uid}}, nil, nil)
	pend := e.pending(ada.auth, "acme")
	want := []api.PendingRotation{{EnvID: devID, KeyVersion: 1}, {EnvID: p.envIDs["staging"], KeyVersion: 1}}
	if len(pend.Rotations) != 2 || len(pend.Grants) != 0 || !samePending(pend.Rotations, want) {
		t.Fatalf("pending after member.remove %+v", pend)
	}
	if status, _ := e.call(dave.auth, "GET", api.Path(api.SnapshotRoute, "acme", "web", "development"), nil); status != http.StatusNotFound {
		t.Errorf("removed member's snapshot: %d", status)
	}
	if !e.snapshotPending(vic.auth, "acme", "development") {
		t.Error("vic's snapshot does not say a rotation is pending")
	}

	// Rotating development: key version 2, the newest revision re-sealed.
	k2, _ := crypto.GenerateEnvKey(devID, 2)
	e.orgs.mu.Lock()
	latest := e.orgs.heads[devID][1]
	e.orgs.mu.Unlock()
	rotate := []trust.Op{trust.RotateKey{EnvID: devID, Version: 2}}
	reseal := func(st *trust.State, k *crypto.EnvKey) api.RotatedRevision {
		h, ct, err := st.SealRevision(ada.signer, k, latest, []byte(`{"v":1,"secrets":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		return api.RotatedRevision{EnvID: devID, Header: h.Bytes(), Ciphertext: ct}
	}
	grantsV2 := func(st *trust.State) [][]byte {
		var out [][]byte
		for _, r := range st.Readers(devID) {
			out = append(out, grantBytes(t, st, ada.signer, k2, r.ID()))
		}
		return out
	}
	refusedRotation := func(what string, edit func(st *trust.State, r *api.OrgChange), want string) {
		t.Helper()
		status, body, _ := e.change(ada, "acme", rotate, grantsV2, func(r *api.OrgChange) {
			_, st := e.sign(ada.signer, "acme", rotate...)
			edit(st, r)
		})
		e.wantStatus(what, status, body, http.StatusBadRequest, want)
	}
	refusedRotation("key.rotate without its revision", func(*trust.State, *api.OrgChange) {}, "needs the newest revision")
	refusedRotation("a revision under the old key version", func(_ *trust.State, r *api.OrgChange) {
		r.Revisions = []api.RotatedRevision{reseal(e.orgState("acme"), p.keys["development"])}
	}, "not the new 2")
	refusedRotation("a revision of an environment not rotated", func(st *trust.State, r *api.OrgChange) {
		rr := reseal(st, k2)
		rr.EnvID = p.envIDs["staging"]
		r.Revisions = []api.RotatedRevision{rr}
	}, "does not rotate")
	refusedRotation("a revision with a tampered ciphertext link", func(st *trust.State, r *api.OrgChange) {
		rr := reseal(st, k2)
		rr.Header = bytes.Clone(rr.Header)
		rr.Header[len(rr.Header)-1] ^= 1
		r.Revisions = []api.RotatedRevision{rr}
	}, "refused")
	refusedRotation("grants of the old key version", func(st *trust.State, r *api.OrgChange) {
		r.Revisions = []api.RotatedRevision{reseal(st, k2)}
		r.Grants = [][]byte{grantBytes(t, st, ada.signer, p.keys["development"], vic.uid)}
	}, "not the current 2")
	// A viewer may rotate (the chain allows anyone with access) but cannot
	// sign the re-sealed revision.
	{
		entries, st := e.sign(vic.signer, "acme", rotate...)
		h, _, err := st.SealRevision(vic.signer, k2, latest, []byte(`{}`))
		if err == nil {
			t.Fatalf("a viewer sealed revision %d", h.Revision())
		}
		req := api.OrgChange{ChainWrite: api.ChainWrite{Entries: entries}, Revisions: []api.RotatedRevision{reseal(st, k2)}}
		status, body := e.call(vic.auth, "POST", api.Path(api.OrgChangeRoute, "acme"), req)
		e.wantStatus("vic rotates with ada's revision", status, body, http.StatusBadRequest, "not you")
	}

	// The rotation, with grants to all but the token: its grant is pending.
	st := e.mustChange(ada, "acme", rotate, func(st *trust.State) [][]byte {
		return [][]byte{grantBytes(t, st, ada.signer, k2, ada.uid), grantBytes(t, st, ada.signer, k2, vic.uid)}
	}, func(r *api.OrgChange) {
		_, st := e.sign(ada.signer, "acme", rotate...)
		r.Revisions = []api.RotatedRevision{reseal(st, k2)}
	})
	pend = e.pending(ada.auth, "acme")
	if len(pend.Rotations) != 1 || pend.Rotations[0].EnvID != p.envIDs["staging"] ||
		len(pend.Grants) != 1 || pend.Grants[0] != (api.PendingGrant{EnvID: devID, PrincipalID: tokID, KeyVersion: 2}) {
		t.Fatalf("pending after the rotation %+v", pend)
	}
	var snap api.Snapshot
	e.must(vic.auth, "GET", api.Path(api.SnapshotRoute, "acme", "web", "development"), nil, &snap, http.StatusOK)
	if snap.Environment.KeyVersion != 2 || snap.Revision == nil || snap.Revision.Revision != 2 || snap.Revision.KeyVersion != 2 {
		t.Fatalf("snapshot after the rotation %+v", snap.Environment)
	}
	h, err := trust.ParseHeader(snap.Revision.Header)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.OpenLatest(devID, h, snap.Revision.Ciphertext, k2); err != nil {
		t.Fatalf("the re-sealed revision: %v", err)
	}
	// The token, without a grant of version 2, cannot read; the server
	// refuses writes under version 1.
	if status, _ := e.call(tok, "GET", api.TokenSnapshotPath, nil); status != http.StatusForbidden {
		t.Errorf("token snapshot without a current grant: %d", status)
	}
	old := api.WriteRevisionRequest{BaseRevision: 2, KeyVersion: 1, Header: []byte("h"), Ciphertext: []byte("c")}
	status, body := e.call(ada.auth, "POST", api.Path(api.RevisionsRoute, "acme", "web", "development"), old)
	e.wantStatus("a write under the old key version", status, body, http.StatusConflict, "now on key version 2")
	// Staging has no revisions: its rotation is the entry and the grants.
	staging := p.envIDs["staging"]
	ks2, _ := crypto.GenerateEnvKey(staging, 2)
	status, body, _ = e.change(ada, "acme", []trust.Op{trust.RotateKey{EnvID: staging, Version: 2}}, nil, func(r *api.OrgChange) {
		r.Revisions = []api.RotatedRevision{{EnvID: staging, Header: []byte("h"), Ciphertext: []byte("c")}}
	})
	e.wantStatus("a revision for an environment without any", status, body, http.StatusBadRequest, "no revisions to re-seal")
	e.mustChange(ada, "acme", []trust.Op{trust.RotateKey{EnvID: staging, Version: 2}}, func(st *trust.State) [][]byte {
		return [][]byte{grantBytes(t, st, ada.signer, ks2, ada.uid)}
	}, nil)
	if pend := e.pending(ada.auth, "acme"); len(pend.Rotations) != 0 || len(pend.Grants) != 1 {
		t.Fatalf("pending after rotating staging %+v", pend)
	}

	// Revoking the token: its pending grant goes, a rotation is pending,
	// and it no longer authenticates.
	e.mustChange(ada, "acme", []trust.Op{trust.RevokeToken{TokenID: tokID}}, nil, nil)
	pend = e.pending(ada.auth, "acme")
	if len(pend.Grants) != 0 || len(pend.Rotations) != 1 || pend.Rotations[0] != (api.PendingRotation{EnvID: devID, KeyVersion: 2}) {
		t.Fatalf("pending after token.revoke %+v", pend)
	}
	if e.whoID(tok) != "" {
		t.Error("the revoked token still authenticates")
	}

	// Revoking vic's access and rotating in one request: nothing pending.
	k3, _ := crypto.GenerateEnvKey(devID, 3)
	latest, _ = trust.ParseHeader(snap.Revision.Header)
	revokeRotate := []trust.Op{trust.RevokeAccess{MemberID: vic.uid, EnvIDs: []string{devID}}, trust.RotateKey{EnvID: devID, Version: 3}}
	e.mustChange(ada, "acme", revokeRotate, func(st *trust.State) [][]byte {
		return [][]byte{grantBytes(t, st, ada.signer, k3, ada.uid)}
	}, func(r *api.OrgChange) {
		_, st := e.sign(ada.signer, "acme", revokeRotate...)
		r.Revisions = []api.RotatedRevision{reseal(st, k3)}
	})
	if pend := e.pending(ada.auth, "acme"); len(pend.Grants)+len(pend.Rotations) != 0 {
		t.Fatalf("pending after access.revoke with key.rotate %+v", pend)
	}
	if status, _ := e.call(vic.auth, "GET", api.Path(api.SnapshotRoute, "acme", "web", "development"), nil); status != http.StatusForbidden {
		t.Errorf("vic's snapshot after access.revoke: %d", status)
	}

	// Rotating before the revoke does not count (the revoked member may
	// hold the new key): the rotation stays pending.
	zed := e.signup("zed@example.com")
	e.addMember(ada, "acme", zed, trust.Developer, p, false, "development")
	k4, _ := crypto.GenerateEnvKey(devID, 4)
	rotateRevoke := []trust.Op{trust.RotateKey{EnvID: devID, Version: 4}, trust.RevokeAccess{MemberID: zed.uid, EnvIDs: []string{devID}}}
	var snap3 api.Snapshot
	e.must(ada.auth, "GET", api.Path(api.SnapshotRoute, "acme", "web", "development"), nil, &snap3, http.StatusOK)
	latest, _ = trust.ParseHeader(snap3.Revision.Header)
	e.mustChange(ada, "acme", rotateRevoke, func(st *trust.State) [][]byte {
		return [][]byte{grantBytes(t, st, ada.signer, k4, ada.uid)}
	}, func(r *api.OrgChange) {
		_, st := e.sign(ada.signer, "acme", rotateRevoke...)
		r.Revisions = []api.RotatedRevision{reseal(st, k4)}
	})
	pend = e.pending(ada.auth, "acme")
	if len(pend.Grants) != 0 || len(pend.Rotations) != 1 || pend.Rotations[0] != (api.PendingRotation{EnvID: devID, KeyVersion: 4}) {
		t.Fatalf("pending after key.rotate then access.revoke %+v", pend)
	}
}

// TestPendingInSnapshotETag: a client holding the latest revision still
// hears about pending work: the ETag changes with it.
func TestPendingInSnapshotETag(t *testing.T) { onEachStore(t, testPendingInSnapshotETag) }

func testPendingInSnapshotETag(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	path := api.Path(api.SnapshotRoute, "acme", "web", "development")
	resp, _ := e.getSnapshot(ada.auth, path, "", "")
	etag := resp.Header.Get("ETag")
	if resp, _ := e.getSnapshot(ada.auth, path, "", etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("unchanged snapshot: %d", resp.StatusCode)
	}
	e.addMember(ada, "acme", e.signup("dave@example.com"), trust.Developer, p, false, "development")
	resp, body := e.getSnapshot(ada.auth, path, "", etag)
	var snap api.Snapshot
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &snap) != nil || !snap.Pending {
		t.Fatalf("snapshot with pending work: %d %s", resp.StatusCode, body)
	}
}

// TestTeamsOutsiders: members, invites, pending work and org changes answer a
// non-member, or another org's token, as if the org did not exist.
func TestTeamsOutsiders(t *testing.T) { onEachStore(t, testTeamsOutsiders) }

func testTeamsOutsiders(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	e.createProject(ada, "acme", "web")
	bob := e.signup("bob@example.com")
	e.createOrg(bob, "bobco")
	bp := e.createProject(bob, "bobco", "web")
	bobTok, _ := e.token(bob, "bobco", "web", bp, "development", false)
	change := api.OrgChange{ChainWrite: api.ChainWrite{Entries: [][]byte{[]byte("e")}, Grants: [][]byte{[]byte("g")}}}
	for who, auth := range map[string]string{"bob": bob.auth, "bob's token": bobTok} {
		for _, c := range [][3]any{
			{"GET", api.MembersRoute, nil}, {"GET", api.PendingRoute, nil}, {"POST", api.OrgChangeRoute, change},
			{"GET", api.InvitesRoute, nil}, {"POST", api.InvitesRoute, api.CreateInviteRequest{Email: "x@example.com"}},
		} {
			method, route := c[0].(string), c[1].(string)
			status, body := e.call(auth, method, api.Path(route, "acme"), c[2])
			gStatus, gBody := e.call(auth, method, api.Path(route, "ghost"), c[2])
			wantStatus := http.StatusNotFound
			if auth == bobTok && route == api.MembersRoute {
				wantStatus = http.StatusForbidden // members are for users
			}
			if status != wantStatus || gStatus != status || strings.ReplaceAll(gBody, "ghost", "acme") != body {
				t.Errorf("%s %s %s: %d %s (ghost: %d %s)", who, method, route, status, body, gStatus, gBody)
			}
		}
		if status, _ := e.call("", "GET", api.Path(api.PendingRoute, "acme"), nil); status != http.StatusUnauthorized {
			t.Errorf("anonymous pending: %d", status)
		}
	}
}

// TestTokenRevokeLeavesRotation: the token endpoint's revoke, too, leaves
// the environment's rotation pending.
func TestTokenRevokeLeavesRotation(t *testing.T) { onEachStore(t, testTokenRevokeLeavesRotation) }

func testTokenRevokeLeavesRotation(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	_, id := e.token(ada, "acme", "web", p, "production", false)
	e.revoke(ada, "acme", "web", id)
	pend := e.pending(ada.auth, "acme")
	if len(pend.Rotations) != 1 || pend.Rotations[0] != (api.PendingRotation{EnvID: p.envIDs["production"], KeyVersion: 1}) || len(pend.Grants) != 0 {
		t.Fatalf("pending after a token revoke %+v", pend)
	}
}

func samePending(got, want []api.PendingRotation) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}
