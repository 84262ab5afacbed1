package trust_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/trust"
)

// user makes a user's two key pairs, as sign-up does.
func user(id, email string) (*trust.Principal, *trust.Signer) {
	box, err := crypto.GenerateIdentity()
	if err != nil {
		log.Fatal(err)
	}
	key, err := trust.GenerateSigningKey()
	if err != nil {
		log.Fatal(err)
	}
	p, err := trust.NewUser(id, email, box.Recipient(), key)
	if err != nil {
		log.Fatal(err)
	}
	return p, trust.NewSigner(id, key)
}

// An owner creates an org, a project and an environment, and a CI token
// for it; a stateless CI runner then verifies the whole chain from the
// anchor its token carries, and refuses another org's chain.
func ExampleVerify() {
	owner, ownerKey := user("usr_1", "owner@example.com")
	root, err := trust.NewOrg(ownerKey, owner, "org_1", "Acme")
	if err != nil {
		log.Fatal(err)
	}
	chain := []*trust.Entry{root}
	st, err := trust.Verify(chain, nil) // trust on first use: this client made it
	if err != nil {
		log.Fatal(err)
	}
	tok, err := trust.GenerateToken(st.Anchor())
	if err != nil {
		log.Fatal(err)
	}
	tokID, err := tok.Principal("deploy")
	if err != nil {
		log.Fatal(err)
	}
	for _, op := range []trust.Op{
		trust.CreateProject{ProjectID: "prj_1", Name: "web"},
		trust.CreateEnv{EnvID: "env_1", ProjectID: "prj_1", Name: "production"},
		trust.CreateToken{Token: tokID, EnvID: "env_1", Access: trust.Read},
	} {
		e, err := st.Append(ownerKey, op)
		if err != nil {
			log.Fatal(err)
		}
		if st, err = st.Extend([]*trust.Entry{e}); err != nil {
			log.Fatal(err)
		}
		chain = append(chain, e)
	}

	// On the CI runner: only the token, and what the server sends.
	ci, err := trust.Verify(chain, tok.Anchor())
	if err != nil {
		log.Fatal(err)
	}
	env, _ := ci.LookupEnv("prj_1", "production")
	fmt.Println(env.ID, "key version", env.KeyVersion)
	fmt.Println("token may", ci.Access(tok.ID(), env.ID, ci.Seq()))

	otherOwner, otherKey := user("usr_1", "owner@example.com")
	otherRoot, _ := trust.NewOrg(otherKey, otherOwner, "org_1", "Acme")
	_, err = trust.Verify([]*trust.Entry{otherRoot}, tok.Anchor())
	fmt.Println(errors.Is(err, trust.ErrIntegrity), err)
	// Output:
	// env_1 key version 1
	// token may read
	// true org chain root does not match the pinned anchor
}
