package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/trust"
)

// bob signs up in a HOME of his own on the fixture's server.
func (f *fixture) bob() (*Session, Options) {
	f.t.Helper()
	home := f.t.TempDir()
	o := optionsFor(home, nil)
	email := "bob-" + api.NewID("x")[2:10] + "@example.com"
	if _, _, err := Signup(context.Background(), o, f.sh.srv.URL, email, testPassword); err != nil {
		f.t.Fatal(err)
	}
	s, err := Authenticate(Target{API: f.sh.srv.URL}, o)
	if err != nil {
		f.t.Fatal(err)
	}
	return s, o
}

// addDeveloper has ada invite bob as a developer of development, bob
// accept, and ada's client check and add him.
func (f *fixture) addDeveloper(ada, bob *Session) {
	f.t.Helper()
	ctx := context.Background()
	inv, err := ada.Invite(ctx, f.target.Org, InviteRequest{Email: bob.login.Email, Role: trust.Developer, Project: "web", Envs: []string{"development"}})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := bob.AcceptInvite(ctx, inv.Code); err != nil {
		f.t.Fatal(err)
	}
	res, err := ada.Sync(ctx, f.target.Org)
	if err != nil || !slices.Contains(res.Added, bob.login.Email) {
		f.t.Fatalf("sync: %+v, %v", res, err)
	}
}

// opensAny reports whether id unwraps any stored grant of envID.
func (f *fixture) opensAny(envID string, id *crypto.Identity) bool {
	f.t.Helper()
	rows, err := f.db().Query(`SELECT key_version, signed_grant FROM grants WHERE env_id = ?`, envID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var v int
		var raw []byte
		if err := rows.Scan(&v, &raw); err != nil {
			f.t.Fatal(err)
		}
		g, err := trust.ParseGrant(raw)
		if err != nil {
			f.t.Fatal(err)
		}
		n++
		if _, err := crypto.UnwrapKey(g.Wrapped(), envID, v, id); err == nil {
			return true
		}
	}
	if n == 0 {
		f.t.Fatalf("no grants stored for %s", envID)
	}
	return false
}

// TestTeamKeys: what a developer can open with a copy of the database and
// his own private key, before and after his removal.
func TestTeamKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	org := f.target.Org
	prod := f.target
	prod.Env = "production"
	if _, err := ada.Update(ctx, prod, func(e *Editor) error { return e.Set("PROD_KEY", "value-prod-1", false) }); err != nil {
		t.Fatal(err)
	}
	f.set(ada, "DEV_KEY", "value-dev-1")

	bob, bobOpts := f.bob()
	f.addDeveloper(ada, bob)
	bobDev := f.target
	env, err := bob.Load(ctx, bobDev)
	if err != nil || env.Values()["DEV_KEY"] != "value-dev-1" {
		t.Fatalf("bob reads development: %v", err)
	}
	oldKey := env.key

	// Production: no stored grant opens with bob's key, so no revision does.
	if f.opensAny(f.envID("production"), bob.identity) {
		t.Fatal("bob's key opens a production grant")
	}
	if _, err := bob.Load(ctx, prod); err == nil {
		t.Fatal("bob loaded production")
	}
	// His development key does not open production's revision either.
	hdr, _ := trust.ParseHeader(f.column(`SELECT header FROM revisions WHERE env_id = ? AND revision = 1`, f.envID("production")))
	ct := f.column(`SELECT ciphertext FROM revisions WHERE env_id = ? AND revision = 1`, f.envID("production"))
	if _, err := env.state.OpenRevision(f.envID("production"), hdr, ct, oldKey); err == nil {
		t.Fatal("bob's development key opened production")
	}
	// Nor may he make a token for it.
	if _, _, err := bob.CreateToken(ctx, prod, TokenRequest{Name: "bob-prod"}); err == nil {
		t.Fatal("bob made a production token")
	}

	// ada removes bob: development's key moves to version 2, and nothing
	// written from then on opens with what bob held.
	removed, err := ada.RemoveMember(ctx, org, bob.login.Email)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed.Rotated, org+"/web/development") || !slices.Contains(removed.Names[org+"/web/development"], "DEV_KEY") {
		t.Fatalf("removal: %+v", removed)
	}
	after := f.set(ada, "DEV_KEY", "value-dev-2")
	if after.key.Version() != 2 {
		t.Fatalf("development is on key version %d after the removal", after.key.Version())
	}
	rows, err := f.db().Query(`SELECT revision, header, ciphertext FROM revisions WHERE env_id = ? AND key_version = 2`, f.envID("development"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var rev int64
		var h, c []byte
		if err := rows.Scan(&rev, &h, &c); err != nil {
			t.Fatal(err)
		}
		n++
		hh, _ := trust.ParseHeader(h)
		if _, err := after.state.OpenRevision(f.envID("development"), hh, c, oldKey); err == nil {
			t.Fatalf("bob's old key opened revision %d, written after his removal", rev)
		}
	}
	rows.Close()
	if n < 2 {
		t.Fatalf("%d revisions under key version 2", n)
	}
	var v2 int
	f.db().QueryRow(`SELECT COUNT(*) FROM grants WHERE env_id = ? AND key_version = 2`, f.envID("development")).Scan(&v2)
	if v2 == 0 {
		t.Fatal("no grants of key version 2")
	}
	rows2, _ := f.db().Query(`SELECT signed_grant FROM grants WHERE env_id = ? AND key_version = 2`, f.envID("development"))
	for rows2.Next() {
		var raw []byte
		rows2.Scan(&raw)
		g, _ := trust.ParseGrant(raw)
		if _, err := crypto.UnwrapKey(g.Wrapped(), f.envID("development"), 2, bob.identity); err == nil {
			t.Fatal("a key version 2 grant opens with bob's key")
		}
	}
	rows2.Close()
	// And bob, who is no longer a member, is told so.
	bob2, err := Authenticate(Target{API: f.sh.srv.URL}, bobOpts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob2.Load(ctx, bobDev); err == nil {
		t.Fatal("bob read development after his removal")
	}
}

// TestServerRefusesStaleWriter: a member made viewer writes with the chain
// as he saw it before (his header names the earlier chain entry, where he
// could write). The client would refuse on a fresh chain; the server
// refuses too, checking write access at its head.
func TestServerRefusesStaleWriter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	f.set(ada, "A", "value-1")
	bob, _ := f.bob()
	f.addDeveloper(ada, bob)
	stale, err := bob.Load(ctx, f.target)
	if err != nil || !stale.CanWrite {
		t.Fatalf("bob as developer: %v", err)
	}
	if err := ada.SetRole(ctx, f.target.Org, bob.login.Email, trust.Viewer); err != nil {
		t.Fatal(err)
	}
	h, ct, err := stale.state.SealRevision(bob.sig(), stale.key, stale.header, stale.doc.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	_, err = bob.client.WriteRevision(ctx, stale.Org, stale.Project, stale.Name, api.WriteRevisionRequest{
		BaseRevision: stale.Revision, KeyVersion: stale.key.Version(), Header: h.Bytes(), Ciphertext: ct})
	if err == nil || !strings.Contains(err.Error(), "you may only read") {
		t.Fatalf("a viewer's write with a stale header: %v", err)
	}
	// And his client, on a fresh chain, says so itself.
	if _, err := bob.Update(ctx, f.target, func(e *Editor) error { return e.Set("B", "b", false) }); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("viewer update: %v", err)
	}
}

// TestRemovalRevokesTokensTheServerHides: which tokens a removed member
// made comes from the chain, so a server that credits his token to someone
// else cannot keep it reading after the rotation.
func TestRemovalRevokesTokensTheServerHides(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := f.session()
	f.set(ada, "A", "value-1")
	bob, _ := f.bob()
	f.addDeveloper(ada, bob)
	_, info, err := bob.CreateToken(ctx, f.target, TokenRequest{Name: "bob-ci"})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(`UPDATE tokens SET created_by = ? WHERE id = ?`, ada.me(), info.ID)
	res, err := ada.RemoveMember(ctx, f.target.Org, bob.login.Email)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Tokens, info.ID) {
		t.Fatalf("bob's token %s was not revoked: %+v", info.ID, res)
	}
	st, err := ada.Chain(ctx, f.target.Org)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := st.Token(info.ID); !tok.Revoked || slices.ContainsFunc(st.Readers(f.envID("development")), func(p *trust.Principal) bool { return p.ID() == info.ID }) {
		t.Fatal("bob's token can still read development")
	}
}
