package trust_test

import (
	"bytes"
	"testing"

	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/trust"
)

// TestGrantToRevisionWithCryptoEnvKey is the client's whole read and write
// path with the real key type: the owner wraps the environment key to a
// token in a signed grant; the token opens the grant (a *crypto.EnvKey)
// and uses that key to open a revision the owner sealed, and to seal its
// own.
func TestGrantToRevisionWithCryptoEnvKey(t *testing.T) {
	owner, ownerKey := user("usr_1", "owner@example.com")
	root, err := trust.NewOrg(ownerKey, owner, "org_1", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	st, err := trust.Verify([]*trust.Entry{root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := trust.GenerateToken(st.Anchor())
	tokP, _ := tok.Principal("ci")
	for _, op := range []trust.Op{
		trust.CreateProject{ProjectID: "prj_1", Name: "web"},
		trust.CreateEnv{EnvID: "env_1", ProjectID: "prj_1", Name: "production"},
		trust.CreateToken{Token: tokP, EnvID: "env_1", Access: trust.Write},
	} {
		e, err := st.Append(ownerKey, op)
		if err != nil {
			t.Fatal(err)
		}
		if st, err = st.Extend([]*trust.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	ek, err := crypto.GenerateEnvKey("env_1", 1)
	if err != nil {
		t.Fatal(err)
	}
	h1, ct1, err := st.SealRevision(ownerKey, ek, nil, []byte(`{"A":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := st.MakeGrant(ownerKey, ek, tok.ID())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := trust.ParseGrant(g.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.OpenGrant(parsed, tok.Identity())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := st.OpenLatest("env_1", h1, ct1, got)
	if err != nil || !bytes.Equal(doc, []byte(`{"A":"1"}`)) {
		t.Fatalf("open with the granted key: %q, %v", doc, err)
	}
	h2, ct2, err := st.SealRevision(tok.Signer(), got, h1, []byte(`{"A":"2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := st.OpenLatest("env_1", h2, ct2, ek); err != nil || string(doc) != `{"A":"2"}` {
		t.Fatalf("owner opens the token's revision: %q, %v", doc, err)
	}
}
