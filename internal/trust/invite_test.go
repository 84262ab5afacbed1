package trust

import (
	"bytes"
	"strings"
	"testing"
)

func TestInviteRoundTrip(t *testing.T) {
	f := newFixture(t)
	inv, err := GenerateInvite(f.st.Anchor())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseInvite(" " + inv.String() + "\n")
	if err != nil || got.String() != inv.String() || got.ID() != inv.ID() || !bytes.Equal(got.Anchor(), inv.Anchor()) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := Verify(f.entries, got.Anchor()); err != nil {
		t.Fatalf("the invitee cannot verify the org from the invite: %v", err)
	}
	if strings.Contains(inv.ID(), strings.TrimPrefix(inv.String(), InvitePrefix)[:10]) {
		t.Fatal("the ID shows the secret")
	}
	body := strings.TrimPrefix(inv.String(), InvitePrefix)
	for _, bad := range []string{"", body, InvitePrefix + body[:20], inv.String() + "A"} {
		_, err := ParseInvite(bad)
		if err == nil || strings.Contains(err.Error(), body[:12]) {
			t.Fatalf("ParseInvite(%q) = %v", bad, err)
		}
	}
}

// TestAttackInviteKeySubstitution: the server replaces the identity the
// invitee sent with one whose keys it holds.
func TestAttackInviteKeySubstitution(t *testing.T) {
	f := newFixture(t)
	inv, _ := GenerateInvite(f.st.Anchor())
	invitee := newActor(t, "usr_frank", "frank@example.com")
	mac := inv.MAC(invitee.p)
	if err := inv.Check(invitee.p, mac); err != nil {
		t.Fatal(err)
	}
	server := newActor(t, "usr_frank", "frank@example.com") // same ID and email, the server's keys
	wantErr(t, inv.Check(server.p, mac), ErrBadInvite)
	other, _ := GenerateInvite(f.st.Anchor())
	wantErr(t, other.Check(invitee.p, mac), ErrBadInvite)
	wantErr(t, inv.Check(invitee.p, mac[:31]), ErrBadInvite)
}
