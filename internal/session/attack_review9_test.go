package session

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/trust"
)

// Regression tests from the attacker review of the teams client: each
// TestAttack9_* failed while its attack worked and passes once the client
// (or the server) refuses it.

// teamWithBob: ada has written development; bob is invited as a developer
// with development, has accepted, and ada's Sync added him. It returns the
// invites row as the server held it just before ada completed it.
func (f *fixture) teamWithBob(ada *Session) (*Session, inviteRow) {
	f.t.Helper()
	ctx := context.Background()
	f.set(ada, "DEV_KEY", "value-dev-1")
	bob, _ := f.bob()
	inv, err := ada.Invite(ctx, f.target.Org, InviteRequest{Email: bob.login.Email, Role: trust.Developer, Project: "web", Envs: []string{"development"}})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := bob.AcceptInvite(ctx, inv.Code); err != nil {
		f.t.Fatal(err)
	}
	var row inviteRow
	if err := f.db().QueryRow(`SELECT id, org_id, email, role, envs, inviter, sealed_secret, status, principal, mac, expires_at, created_at FROM invites WHERE email = ?`, bob.login.Email).
		Scan(&row.id, &row.org, &row.email, &row.role, &row.envs, &row.inviter, &row.sealed, &row.status, &row.principal, &row.mac, &row.expires, &row.created); err != nil {
		f.t.Fatal(err)
	}
	res, err := ada.Sync(ctx, f.target.Org)
	if err != nil || !slices.Contains(res.Added, bob.login.Email) {
		f.t.Fatalf("sync: %+v, %v", res, err)
	}
	return bob, row
}

type inviteRow struct {
	id, org, email, role, envs, inviter, status string
	sealed, principal, mac                      []byte
	expires, created                            int64
}

func (f *fixture) putInvite(r inviteRow) {
	f.t.Helper()
	f.exec(`INSERT INTO invites (id, org_id, email, role, envs, inviter, sealed_secret, status, principal, mac, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.id, r.org, r.email, r.role, r.envs, r.inviter, r.sealed, r.status, r.principal, r.mac, r.expires, r.created)
}

// Finding 9.1 (high): an invite is single use only because the server
// says so. Its sealed record, the invitee's identity and MAC stay valid
// forever (nothing in the chain or on the inviter's machine records that
// invite ID as used or revoked). After ada removes bob, the server puts
// the completed invite back as "accepted"; ada's next Sync (run by
// 'secr access sync' and opportunistically) signs member.add and
// access.grant for bob again and wraps development's new key to him.
func TestAttack9_ReplayedInviteReaddsRemovedMember(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	bob, row := f.teamWithBob(ada)
	if _, err := ada.RemoveMember(ctx, f.target.Org, bob.login.Email); err != nil {
		t.Fatal(err)
	}
	f.putInvite(row) // the server "forgets" that the invite was used
	res, err := ada.Sync(ctx, f.target.Org)
	t.Logf("sync after the replay: %+v, %v", res, err)
	st, err := ada.Chain(ctx, f.target.Org)
	if err != nil {
		t.Fatal(err)
	}
	if st.Role(bob.login.UserID) != 0 {
		t.Errorf("bob, removed by ada, is a %s again: ada's client re-signed member.add from a replayed invite", st.Role(bob.login.UserID))
	}
	if env, err := bob.Load(ctx, f.target); err == nil {
		t.Errorf("removed bob reads development again (key version %d)", env.key.Version())
	}
}

// Finding 9.1b (medium): the same with an invite ada revoked before bob
// was ever added: revocation is only the server deleting the row, so a
// server that keeps it completes an invite the inviter withdrew.
func TestAttack9_RevokedInviteStillCompleted(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	bob, _ := f.bob()
	inv, err := ada.Invite(ctx, f.target.Org, InviteRequest{Email: bob.login.Email, Role: trust.Admin})
	if err != nil {
		t.Fatal(err)
	}
	var row inviteRow
	if err := f.db().QueryRow(`SELECT id, org_id, email, role, envs, inviter, sealed_secret, status, principal, mac, expires_at, created_at FROM invites WHERE email = ?`, bob.login.Email).
		Scan(&row.id, &row.org, &row.email, &row.role, &row.envs, &row.inviter, &row.sealed, &row.status, &row.principal, &row.mac, &row.expires, &row.created); err != nil {
		t.Fatal(err)
	}
	if err := ada.RevokeInvite(ctx, f.target.Org, bob.login.Email); err != nil {
		t.Fatal(err)
	}
	f.putInvite(row) // the server keeps the revoked invite
	if _, err := bob.AcceptInvite(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	res, err := ada.Sync(ctx, f.target.Org)
	st, cerr := ada.Chain(ctx, f.target.Org)
	if cerr != nil {
		t.Fatal(cerr)
	}
	if st.Role(bob.login.UserID) != 0 {
		t.Errorf("ada revoked bob's admin invite, yet her Sync added him as %s (%+v, %v)", st.Role(bob.login.UserID), res, err)
	}
}

// Finding 9.2 (high): RemoveMember revokes "the tokens the member made"
// from the server's ListTokens created_by column, not from the chain
// (which records who signed each token.create). The server attributes
// bob's development token to someone else: the removal leaves it live,
// and the rotation wraps development's new key to it, so bob, holding
// the token secret, reads everything written after his removal.
func TestAttack9_RemovalKeepsTokenServerMisattributes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	bob, _ := f.teamWithBob(ada)
	_, info, err := bob.CreateToken(ctx, f.target, TokenRequest{Name: "bob-ci"})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(`UPDATE tokens SET created_by = ? WHERE id = ?`, ada.me(), info.ID)
	res, err := ada.RemoveMember(ctx, f.target.Org, bob.login.Email)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ada.Chain(ctx, f.target.Org)
	if err != nil {
		t.Fatal(err)
	}
	if tk, _ := st.Token(info.ID); !tk.Revoked {
		dev, _ := st.Env(f.envID("development"))
		var readers []string
		for _, p := range st.Readers(dev.ID) {
			readers = append(readers, p.Name())
		}
		t.Errorf("bob's token %s survived his removal (revoked %v); development key v%d is wrapped to readers %v", info.ID, res.Tokens, dev.KeyVersion, readers)
	}
}

// Finding 9.3 (medium, d): the same column, the other way round: the
// server attributes ada's own production token to bob, and removing bob
// makes ada's client sign token.revoke for a token she never meant to
// revoke (and rotate production's key).
func TestAttack9_RemovalRevokesTokenServerAttributes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	bob, _ := f.teamWithBob(ada)
	prod := f.target
	prod.Env = "production"
	_, info, err := ada.CreateToken(ctx, prod, TokenRequest{Name: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(`UPDATE tokens SET created_by = ? WHERE id = ?`, bob.me(), info.ID)
	if _, err := ada.RemoveMember(ctx, f.target.Org, bob.login.Email); err != nil {
		t.Fatal(err)
	}
	st, err := ada.Chain(ctx, f.target.Org)
	if err != nil {
		t.Fatal(err)
	}
	if tk, _ := st.Token(info.ID); tk.Revoked {
		t.Errorf("removing bob made ada sign token.revoke of her own production token %s, which the chain says ada created", info.ID)
	}
}

// Finding 9.4 (high, c): whether a removal still owes a rotation is kept
// only by the server (the pending table); writers never ask the chain.
// The server makes the remover's key load fail during the removal (here a
// garbled grant; equally a removal by an admin without the key), so the
// rotation is left "pending"; then it drops the pending rotation. Every
// later write to development is sealed under the key version bob holds.
func TestAttack9_DroppedPendingRotationStaleKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	bob, _ := f.teamWithBob(ada)
	dev := f.envID("development")
	bobEnv, err := bob.Load(ctx, f.target)
	if err != nil {
		t.Fatal(err)
	}
	bobKey := bobEnv.key
	saved := f.column(`SELECT signed_grant FROM grants WHERE env_id = ? AND principal_id = ? AND key_version = 1`, dev, ada.me())
	f.exec(`UPDATE grants SET signed_grant = ? WHERE env_id = ? AND principal_id = ? AND key_version = 1`, []byte("garbled"), dev, ada.me())
	f.dropCache()
	res, err := f.session().RemoveMember(ctx, f.target.Org, bob.login.Email)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removal: rotated %v, pending %v", res.Rotated, res.Pending)
	f.exec(`UPDATE grants SET signed_grant = ? WHERE env_id = ? AND principal_id = ? AND key_version = 1`, saved, dev, ada.me())
	f.exec(`DELETE FROM pending WHERE env_id = ? AND principal_id = ''`, dev)
	f.dropCache()
	f.advance(time.Second)
	a2 := f.session()
	if _, err := a2.Sync(ctx, f.target.Org); err != nil {
		t.Fatal(err)
	}
	after := f.set(a2, "DEV_KEY", "value-dev-after-removal")
	hdr, ct := after.header, f.column(`SELECT ciphertext FROM revisions WHERE env_id = ? ORDER BY revision DESC LIMIT 1`, dev)
	if doc, err := after.state.OpenRevision(dev, hdr, ct, bobKey); err == nil {
		t.Errorf("bob's old key opens the revision ada wrote after removing him (key v%d): %q", after.key.Version(), doc)
	}
}

// Finding 9.5 (low/medium): AcceptInvite checks the anchor the code
// carries only when this machine has no pin under the org name the
// server answers with. bob is already in org X; ada invites him to a new
// org Y. The server answers the accept with X's name and chain: bob's
// client extends its pin of X and reports "joined X", with X's anchor and
// an inviter from X, never noticing that the code names Y's anchor.
func TestAttack9_AcceptIgnoresCodeAnchorWhenPinned(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	bob, _ := f.teamWithBob(ada)
	if _, err := bob.Load(ctx, f.target); err != nil { // bob pins X
		t.Fatal(err)
	}
	y := "o-" + api.NewID("y")[2:14]
	if _, err := ada.CreateOrg(ctx, y); err != nil {
		t.Fatal(err)
	}
	inv, err := ada.Invite(ctx, y, InviteRequest{Email: bob.login.Email, Role: trust.Viewer})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := trust.ParseInvite(inv.Code)
	// The server files the invite under org X.
	f.exec(`UPDATE invites SET org_id = ? WHERE id = ?`, f.orgID(), code.ID())
	res, err := bob.AcceptInvite(ctx, inv.Code)
	if err != nil {
		return // refused: good
	}
	if res.Org != y {
		t.Errorf("the code is for org %s (anchor prefix %x); bob's client accepted the server's org %s (anchor %s, inviter %s) without an error", y, code.Anchor(), res.Org, res.Anchor, res.Inviter)
	}
}

// Finding 9.6 (high, b): the inviter's sealed record holds the code, and
// the code holds the org's anchor, but completeInvite never compares it
// with the org it is completing in. ada admins two orgs; she invites bob
// to a scratch org Y as admin. The server files the accepted invite under
// ada's main org X, and ada's next Sync of X makes bob an admin of X.
func TestAttack9_InviteMovedToAnotherOrg(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	bob, _ := f.bob()
	y := "o-" + api.NewID("y")[2:14]
	if _, err := ada.CreateOrg(ctx, y); err != nil {
		t.Fatal(err)
	}
	inv, err := ada.Invite(ctx, y, InviteRequest{Email: bob.login.Email, Role: trust.Admin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AcceptInvite(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	code, _ := trust.ParseInvite(inv.Code)
	f.exec(`UPDATE invites SET org_id = ? WHERE id = ?`, f.orgID(), code.ID())
	res, err := ada.Sync(ctx, f.target.Org)
	st, cerr := ada.Chain(ctx, f.target.Org)
	if cerr != nil {
		t.Fatal(cerr)
	}
	if r := st.Role(bob.login.UserID); r != 0 {
		t.Errorf("ada invited bob to %s; her Sync of %s made him %s there (%+v, %v)", y, f.target.Org, r, res, err)
	}
}

// Finding 9.7 (low/medium, a/c): a rotation wraps the new key to every
// reader the chain lists, expired service tokens included (expiry is
// recorded in the chain but "enforced by the server"). A leaked token
// that expired keeps receiving every new key version from rotations
// made exactly to shut readers out; the server, which decides whether it
// still authenticates, hands them over.
func TestAttack9_RotationWrapsToExpiredToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	prod := f.target
	prod.Env = "production"
	if _, err := ada.Update(ctx, prod, func(e *Editor) error { return e.Set("K", "v", false) }); err != nil {
		t.Fatal(err)
	}
	exp := f.now.Add(time.Hour)
	_, old, err := ada.CreateToken(ctx, prod, TokenRequest{Name: "old-ci", ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := ada.CreateToken(ctx, prod, TokenRequest{Name: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	f.advance(48 * time.Hour) // the client's clock; the (lying) server still accepts the token
	ada = f.session()
	if _, err := ada.RevokeToken(ctx, prod, other.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	f.db().QueryRow(`SELECT COUNT(*) FROM grants WHERE env_id = ? AND principal_id = ? AND key_version = 2`, f.envID("production"), old.ID).Scan(&n)
	if n > 0 {
		t.Errorf("ada's client wrapped production key v2 to token %s, expired a day before the rotation", old.ID)
	}
}
