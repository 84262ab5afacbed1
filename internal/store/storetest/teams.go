package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/store"
)

// testInvites: an invite is open, then accepted once (while unexpired),
// listed until it expires, and deleted when revoked or used.
func testInvites(t *testing.T, s store.Store) {
	setupProject(t, s)
	must(t, s.CreateUser(ctx, user("usr_b", "b@example.com")))
	t0 := now()
	inv := store.Invite{ID: "inv1", OrgID: "org_1", Email: "b@example.com", Role: "developer", Envs: []string{"env_dev", "env_prod"},
		Inviter: "usr_a", SealedSecret: []byte("sealed"), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
	must(t, s.CreateInvite(ctx, inv))
	if err := s.CreateInvite(ctx, inv); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate invite: %v", err)
	}
	got, err := s.InviteByID(ctx, "inv1")
	must(t, err)
	if got.Status != store.InviteOpen || got.InviterEmail != "a@example.com" || !slices.Equal(got.Envs, inv.Envs) || !got.ExpiresAt.Equal(inv.ExpiresAt) || got.Principal != nil {
		t.Fatalf("invite %+v", got)
	}
	if err := s.AcceptInvite(ctx, "inv1", []byte("p"), []byte("m"), t0.Add(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("accepting an expired invite: %v", err)
	}
	must(t, s.AcceptInvite(ctx, "inv1", []byte("p"), []byte("m"), t0))
	if err := s.AcceptInvite(ctx, "inv1", []byte("q"), []byte("m"), t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("accepting twice: %v", err)
	}
	list, err := s.Invites(ctx, "org_1", t0)
	must(t, err)
	if len(list) != 1 || list[0].Status != store.InviteAccepted || string(list[0].Principal) != "p" || string(list[0].MAC) != "m" {
		t.Fatalf("invites %+v", list)
	}
	if list, _ := s.Invites(ctx, "org_1", t0.Add(time.Hour)); len(list) != 0 {
		t.Fatalf("expired invites listed: %+v", list)
	}
	if err := s.DeleteInvite(ctx, "org_2", "inv1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting another org's invite: %v", err)
	}
	must(t, s.DeleteInvite(ctx, "org_1", "inv1"))
	if _, err := s.InviteByID(ctx, "inv1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted invite: %v", err)
	}
}

// testOrgChange: an org change applies its rows, grants and pending work
// atomically, and applies nothing when any part of it fails.
func testOrgChange(t *testing.T, s store.Store) {
	setupProject(t, s) // head 3; env_dev and env_prod at key version 1, granted to usr_a
	must(t, s.CreateUser(ctx, user("usr_b", "b@example.com")))
	t0 := now()
	must(t, s.CreateInvite(ctx, store.Invite{ID: "inv1", OrgID: "org_1", Email: "b@example.com", Role: "developer", Inviter: "usr_a", SealedSecret: []byte("s"), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}))
	add := store.OrgChange{
		OrgID: "org_1", Chain: ptr(app(4, 2)), Invite: "inv1",
		AddMembers: []store.Member{{OrgID: "org_1", UserID: "usr_b", Role: "developer", CreatedAt: t0}},
		Readers:    map[string][]string{"env_dev": {"usr_a", "usr_b"}},
	}
	if err := s.ApplyOrgChange(ctx, add); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("member.add with an open invite: %v", err)
	}
	checkChain(t, s, 3)
	must(t, s.AcceptInvite(ctx, "inv1", []byte("p"), []byte("m"), t0))
	must(t, s.ApplyOrgChange(ctx, add))
	checkChain(t, s, 5)
	if _, err := s.InviteByID(ctx, "inv1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("used invite: %v", err)
	}
	ms, err := s.Members(ctx, "org_1")
	must(t, err)
	if len(ms) != 2 || ms[1].UserID != "usr_b" || ms[1].Email != "b@example.com" || ms[1].Role != "developer" {
		t.Fatalf("members %+v", ms)
	}
	wantPending(t, s, store.PendingWork{OrgID: "org_1", EnvID: "env_dev", PrincipalID: "usr_b", KeyVersion: 1})

	// The pending grant is a snapshot's business only for key holders.
	a, err := s.ResolveEnv(ctx, "acme", "web", "development", "usr_a")
	must(t, err)
	b, err := s.ResolveEnv(ctx, "acme", "web", "development", "usr_b")
	must(t, err)
	if !a.Pending || b.Pending {
		t.Fatalf("pending for usr_a %v, usr_b %v", a.Pending, b.Pending)
	}

	// Grants only: on the head they were checked on, or not at all.
	grant := store.Grant{EnvID: "env_dev", PrincipalID: "usr_b", KeyVersion: 1, Signed: []byte("wb")}
	stale := store.OrgChange{OrgID: "org_1", HeadSeq: 3, Grants: []store.Grant{grant}, Readers: map[string][]string{"env_dev": {"usr_a", "usr_b"}}}
	if err := s.ApplyOrgChange(ctx, stale); !errors.Is(err, store.ErrChainMoved) {
		t.Fatalf("grants on a stale head: %v", err)
	}
	stale.HeadSeq = 5
	must(t, s.ApplyOrgChange(ctx, stale))
	wantPending(t, s)
	stale.Grants[0].Signed = []byte("wb2") // replaces
	must(t, s.ApplyOrgChange(ctx, stale))
	if gs, _ := s.Grants(ctx, "env_dev", "usr_b"); len(gs) != 1 || string(gs[0].Signed) != "wb2" {
		t.Fatalf("grants %+v", gs)
	}

	// A rotation that does not follow the stored version, or whose
	// revision does not follow the latest, changes nothing.
	rev := store.Revision{EnvID: "env_dev", Revision: 1, KeyVersion: 2, Header: []byte("h"), Ciphertext: []byte("c"), AuthorID: "usr_a", CreatedAt: t0}
	bad := store.OrgChange{OrgID: "org_1", Chain: ptr(app(6, 1)), RemoveMembers: []string{"usr_b"},
		Rotations: []store.Rotation{{EnvID: "env_dev", Version: 3, Revision: &rev}}}
	if err := s.ApplyOrgChange(ctx, bad); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotation to version 3 from 1: %v", err)
	}
	bad.Rotations[0].Version, rev.Revision = 2, 2
	if err := s.ApplyOrgChange(ctx, bad); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotated revision 2 without a revision 1: %v", err)
	}
	checkChain(t, s, 5)
	if _, err := s.Member(ctx, "org_1", "usr_b"); err != nil {
		t.Fatalf("a failed change removed a member: %v", err)
	}

	// member.remove without a rotation: grants go, a rotation is pending.
	must(t, s.ApplyOrgChange(ctx, store.OrgChange{OrgID: "org_1", Chain: ptr(app(6, 1)), RemoveMembers: []string{"usr_b"},
		NewRotations: []string{"env_dev"}, Readers: map[string][]string{"env_dev": {"usr_a"}}, Notify: []string{"usr_b"}}))
	if gs, _ := s.Grants(ctx, "env_dev", "usr_b"); len(gs) != 0 {
		t.Fatalf("removed member's grants %+v", gs)
	}
	wantPending(t, s, store.PendingWork{OrgID: "org_1", EnvID: "env_dev", KeyVersion: 1})
	// key.rotate with its revision clears it.
	rev.Revision = 1
	must(t, s.ApplyOrgChange(ctx, store.OrgChange{OrgID: "org_1", Chain: ptr(app(7, 1)),
		Rotations: []store.Rotation{{EnvID: "env_dev", Version: 2, Revision: &rev}},
		Grants:    []store.Grant{{EnvID: "env_dev", PrincipalID: "usr_a", KeyVersion: 2, Signed: []byte("wa2")}},
		Readers:   map[string][]string{"env_dev": {"usr_a"}}}))
	wantPending(t, s)
	e, err := s.EnvironmentByID(ctx, "env_dev")
	must(t, err)
	latest, err := s.LatestRevision(ctx, "env_dev")
	must(t, err)
	if e.KeyVersion != 2 || latest.Revision != 1 || latest.KeyVersion != 2 {
		t.Fatalf("after rotation: env %+v, latest %+v", e, latest)
	}
	envs, err := s.OrgEnvironments(ctx, "org_1")
	must(t, err)
	if len(envs) != 2 {
		t.Fatalf("org environments %+v", envs)
	}
}

func ptr[T any](v T) *T { return &v }

func wantPending(t *testing.T, s store.Store, want ...store.PendingWork) {
	t.Helper()
	got, err := s.Pending(ctx, "org_1")
	must(t, err)
	if !slices.Equal(got, want) {
		t.Fatalf("pending %+v, want %+v", got, want)
	}
}
