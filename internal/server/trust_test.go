package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/store/sqlstore"
	"github.com/secr-dev/secr/internal/trust"
)

// onEachStore runs fn on a server on SQLite and, when SECR_TEST_POSTGRES
// is set, on one on PostgreSQL.
func onEachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newEnv(t, true)) })
	t.Run("postgres", func(t *testing.T) {
		st, err := sqlstore.Open(context.Background(), postgresSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, serveStore(t, st, &clock{t: time.Now()}, nil))
	})
}

// chainOf fetches org's chain from entry from as auth.
func (e *env) chainOf(auth, org string, from string) api.Chain {
	e.t.Helper()
	var c api.Chain
	path := api.Path(api.ChainRoute, org)
	if from != "" {
		path += "?" + api.ChainFromParam + "=" + from
	}
	e.must(auth, "GET", path, nil, &c, http.StatusOK)
	return c
}

// parseEntries parses a chain's entries.
func parseEntries(t *testing.T, raw [][]byte) []*trust.Entry {
	t.Helper()
	var out []*trust.Entry
	for _, b := range raw {
		en, err := trust.ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}

// wantStatus checks a call's status and that its body says want.
func (e *env) wantStatus(what string, status int, body string, wantStatus int, want string) {
	e.t.Helper()
	var ae api.Error
	_ = json.Unmarshal([]byte(body), &ae)
	if status != wantStatus || !strings.Contains(ae.Message, want) {
		e.t.Errorf("%s: %d %s, want %d with %q", what, status, body, wantStatus, want)
	}
}

func TestSignupChecksIdentity(t *testing.T) { onEachStore(t, testSignupChecksIdentity) }

func testSignupChecksIdentity(t *testing.T, e *env) {
	const email = "ada@example.com"
	u := newUser(email)
	other := newUser("bob@example.com")
	box, _ := crypto.GenerateIdentity()
	key, _ := trust.GenerateSigningKey()
	wrongBox, _ := trust.NewUser(u.uid, email, box.Recipient(), key)
	tok, _ := trust.GenerateToken([32]byte{})
	tokP, _ := tok.Principal("ci")
	for _, c := range []struct {
		name      string
		principal []byte
		want      string
	}{
		{"missing", nil, "identity refused"},
		{"junk", []byte("junk"), "identity refused"},
		{"another user's ID", other.principal.Bytes(), "is not the user ID"},
		{"another email", func() []byte {
			p, _ := trust.NewUser(u.uid, "eve@example.com", u.id.Recipient(), key)
			return p.Bytes()
		}(), "its email"},
		{"another encryption key", wrongBox.Bytes(), "encryption key"},
		{"a token's", tokP.Bytes(), "not a user's"},
	} {
		req := signupRequest(u, email)
		req.Principal = c.principal
		status, body := e.call("", "POST", api.SignupPath, req)
		e.wantStatus("signup with "+c.name+" identity", status, body, http.StatusBadRequest, c.want)
	}
	// The right one is stored and returned by every account answer.
	u = e.signup(email)
	var who api.WhoAmI
	e.must(u.auth, "GET", api.WhoAmIPath, nil, &who, http.StatusOK)
	var login api.SessionResponse
	e.must("", "POST", api.LoginPath, api.LoginRequest{Email: email, AuthKey: authKey(email)}, &login, http.StatusOK)
	var rec api.RecoverResponse
	e.must("", "POST", api.RecoverPath, api.RecoverRequest{Email: email, RecoveryAuthKey: recoveryKey(email)}, &rec, http.StatusOK)
	for what, got := range map[string][]byte{"whoami": who.User.Principal, "login": login.User.Principal, "recover": rec.User.Principal} {
		if !bytes.Equal(got, u.principal.Bytes()) {
			t.Errorf("%s: principal %x", what, got)
		}
	}
}

func TestCreateOrgChecksRoot(t *testing.T) { onEachStore(t, testCreateOrgChecksRoot) }

func testCreateOrgChecksRoot(t *testing.T, e *env) {
	ada, bob := e.signup("ada@example.com"), e.signup("bob@example.com")
	root := func(signer *trust.Signer, p *trust.Principal, id, name string) []byte {
		r, err := trust.NewOrg(signer, p, id, name)
		if err != nil {
			t.Fatal(err)
		}
		return r.Bytes()
	}
	good := root(ada.signer, ada.principal, api.NewID("org"), "acme")
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 1
	for _, c := range []struct {
		name string
		req  api.CreateOrgRequest
		want string
	}{
		{"no root", api.CreateOrgRequest{Name: "acme"}, "root refused"},
		{"junk root", api.CreateOrgRequest{Name: "acme", Root: []byte("junk")}, "root refused"},
		{"bad signature", api.CreateOrgRequest{Name: "acme", Root: tampered}, "bad signature"},
		{"another name", api.CreateOrgRequest{Name: "other", Root: good}, `names the org "acme"`},
		{"bob as owner", api.CreateOrgRequest{Name: "acme", Root: root(bob.signer, bob.principal, api.NewID("org"), "acme")}, "is not your identity"},
		{"malformed org ID", api.CreateOrgRequest{Name: "acme", Root: root(ada.signer, ada.principal, "org_x", "acme")}, "malformed org ID"},
	} {
		status, body := e.call(ada.auth, "POST", api.OrgsRoute, c.req)
		e.wantStatus("create org with "+c.name, status, body, http.StatusBadRequest, c.want)
	}
	var orgs []api.Org
	e.must(ada.auth, "GET", api.OrgsRoute, nil, &orgs, http.StatusOK)
	if len(orgs) != 0 {
		t.Fatalf("refused roots made orgs: %+v", orgs)
	}
	var o api.Org
	e.must(ada.auth, "POST", api.OrgsRoute, api.CreateOrgRequest{Name: "acme", Root: good}, &o, http.StatusCreated)
	st, _ := trust.Verify(parseEntries(t, [][]byte{good}), nil)
	if o.ID != st.OrgID() || o.Role != "owner" {
		t.Fatalf("created %+v", o)
	}
	// The same root again, or another with the name taken: conflicts.
	status, body := e.call(ada.auth, "POST", api.OrgsRoute, api.CreateOrgRequest{Name: "acme", Root: root(ada.signer, ada.principal, api.NewID("org"), "acme")})
	e.wantStatus("taken name", status, body, http.StatusConflict, "taken")
	status, body = e.call(ada.auth, "POST", api.OrgsRoute, api.CreateOrgRequest{Name: "acme2", Root: root(ada.signer, ada.principal, st.OrgID(), "acme2")})
	e.wantStatus("taken ID", status, body, http.StatusConflict, "already exists")
	e.must(ada.auth, "GET", api.OrgsRoute, nil, &orgs, http.StatusOK)
	if len(orgs) != 1 || orgs[0].ID != st.OrgID() {
		t.Fatalf("orgs %+v", orgs)
	}
}

func TestChainRoute(t *testing.T) { onEachStore(t, testChainRoute) }

func testChainRoute(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	st := e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	tok, _ := e.token(ada, "acme", "web", p, "development", false)
	st = e.orgState("acme")
	if st.Seq() != 5 {
		t.Fatalf("head %d", st.Seq())
	}

	// From the root (absent or 0) a token verifies it with its anchor.
	for _, from := range []string{"", "0"} {
		c := e.chainOf(tok, "acme", from)
		got, err := trust.Verify(parseEntries(t, c.Entries), anchor16(st))
		if err != nil || got.Head() != st.Head() || c.OrgID != st.OrgID() {
			t.Fatalf("chain from %q: %v", from, err)
		}
	}
	// From an entry, and from the head (which is the head alone), a member
	// extends its copy.
	for from, n := range map[string]int{"2": 4, "5": 1, "9": 1} {
		c := e.chainOf(ada.auth, "acme", from)
		if len(c.Entries) != n {
			t.Fatalf("chain from %s: %d entries, want %d", from, len(c.Entries), n)
		}
		if from != "9" {
			if _, err := st.Extend(parseEntries(t, c.Entries)); err != nil {
				t.Fatalf("chain from %s: %v", from, err)
			}
		}
	}
	for _, bad := range []string{"-1", "x", "1.5"} {
		status, body := e.call(ada.auth, "GET", api.Path(api.ChainRoute, "acme")+"?chain_from="+bad, nil)
		e.wantStatus("chain_from="+bad, status, body, http.StatusBadRequest, "malformed chain_from")
	}

	// Outsiders, and tokens of other orgs, learn nothing.
	bob := e.signup("bob@example.com")
	e.createOrg(bob, "bobco")
	bp := e.createProject(bob, "bobco", "web")
	bobTok, _ := e.token(bob, "bobco", "web", bp, "development", false)
	for who, auth := range map[string]string{"bob": bob.auth, "bob's token": bobTok} {
		status, body := e.call(auth, "GET", api.Path(api.ChainRoute, "acme"), nil)
		gStatus, gBody := e.call(auth, "GET", api.Path(api.ChainRoute, "ghost"), nil)
		if status != http.StatusNotFound || gStatus != status || strings.ReplaceAll(gBody, "ghost", "acme") != body {
			t.Errorf("%s reading acme's chain: %d %s (ghost: %d %s)", who, status, body, gStatus, gBody)
		}
	}
	if status, _ := e.call("", "GET", api.Path(api.ChainRoute, "acme"), nil); status != http.StatusUnauthorized {
		t.Errorf("anonymous chain read: %d", status)
	}
}

// TestChainWriteRefusals: entries that do not verify, do not continue the
// head, or do not record what the request asks are refused, and nothing
// of them is stored.
func TestChainWriteRefusals(t *testing.T) { onEachStore(t, testChainWriteRefusals) }

func testChainWriteRefusals(t *testing.T, e *env) {
	ada, bob := e.signup("ada@example.com"), e.signup("bob@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	head := e.orgState("acme").Seq()
	path := api.Path(api.ProjectsRoute, "acme")

	post := func(what string, req api.CreateProjectRequest, wantStatus int, want string) {
		t.Helper()
		status, body := e.call(ada.auth, "POST", path, req)
		e.wantStatus(what, status, body, wantStatus, want)
	}
	req, _, _ := e.projectRequest(ada, "acme", "api")

	// Signed by someone else: bob signs on a copy of the chain in which he
	// is a member (the server's chain has no such entry).
	{
		st := e.orgState("acme")
		en, _ := st.Append(ada.signer, trust.AddMember{Member: bob.principal, Role: trust.Admin})
		st2, _ := st.Extend([]*trust.Entry{en})
		en2, err := st2.Append(bob.signer, trust.CreateProject{ProjectID: api.NewID("prj"), Name: "api"})
		if err != nil {
			t.Fatal(err)
		}
		r := req
		r.Entries = [][]byte{en2.Bytes()}
		post("entries signed by bob", r, http.StatusBadRequest, "not by you")
	}
	// A bad signature.
	{
		r := req
		r.Entries = append([][]byte{bytes.Clone(req.Entries[0])}, req.Entries[1:]...)
		r.Entries[0][len(r.Entries[0])-1] ^= 1
		post("a tampered entry", r, http.StatusBadRequest, "bad signature")
	}
	// Junk, none, a gap, and too many.
	{
		r := req
		r.Entries = [][]byte{[]byte("junk")}
		post("junk entries", r, http.StatusBadRequest, "refused")
		r.Entries = nil
		post("no entries", r, http.StatusBadRequest, "needs its org chain entries")
		r.Entries = req.Entries[1:]
		post("entries after a gap", r, http.StatusBadRequest, fmt.Sprintf("the chain's head is entry %d", head))
	}
	// Not what the request asks for.
	{
		r := req
		r.Name = "other"
		post("another project name", r, http.StatusBadRequest, `project.create of "other"`)
		r = req
		r.Grants = req.Grants[1:]
		post("a missing grant", r, http.StatusBadRequest, "needs 3 signed grants")
		r.Grants = append([][]byte{}, req.Grants[1:]...)
		r.Grants = append(r.Grants, grantBytes(t, e.orgState("acme"), ada.signer, p.keys["development"], ada.uid))
		post("a grant of another environment", r, http.StatusBadRequest, "does not hand out a key of")
		r.Grants = [][]byte{req.Grants[0], req.Grants[0], req.Grants[1]}
		post("a grant twice", r, http.StatusBadRequest, "does not hand out a key of")
		r.Grants = [][]byte{[]byte("junk"), req.Grants[1], req.Grants[2]}
		post("a junk grant", r, http.StatusBadRequest, "grant 0 refused")
	}
	// A token.create is not a project.
	{
		tokReq, _, _ := e.tokenRequest(ada, "acme", p, "development", false, nil)
		r := api.CreateProjectRequest{Name: "api", ChainWrite: tokReq.ChainWrite}
		post("a token.create", r, http.StatusBadRequest, "must start with the project.create")
	}
	// An env.create of another project, after this project's.
	{
		ops := []trust.Op{
			trust.CreateProject{ProjectID: api.NewID("prj"), Name: "api"},
			trust.CreateEnv{EnvID: api.NewID("env"), ProjectID: p.id, Name: "preview"},
		}
		entries, _ := e.sign(ada.signer, "acme", ops...)
		post("an env.create of another project", api.CreateProjectRequest{Name: "api", ChainWrite: api.ChainWrite{Entries: entries}}, http.StatusBadRequest, "only env.create entries")
	}
	// Nothing was stored.
	if c := e.chainOf(ada.auth, "acme", "0"); uint64(len(c.Entries)) != head+1 {
		t.Fatalf("chain has %d entries after refused writes, want %d", len(c.Entries), head+1)
	}
	if status, _ := e.call(ada.auth, "GET", api.Path(api.ProjectRoute, "acme", "api"), nil); status != http.StatusNotFound {
		t.Fatalf("refused project exists: %d", status)
	}

	// Two writes signed on the same head: the second conflicts.
	req2, _, _ := e.projectRequest(ada, "acme", "api2")
	e.must(ada.auth, "POST", path, req, nil, http.StatusCreated)
	post("a write on a stale head", req2, http.StatusConflict, fmt.Sprintf("the org chain changed while you were signing (entry %d exists)", head+1))
	if status, _ := e.call(ada.auth, "GET", api.Path(api.ProjectRoute, "acme", "api2"), nil); status != http.StatusNotFound {
		t.Fatalf("conflicting project exists: %d", status)
	}
	// The same entries again: their seq exists now.
	post("a replay", req, http.StatusConflict, "the org chain changed")
	var proj api.Project
	e.must(ada.auth, "GET", api.Path(api.ProjectRoute, "acme", "api"), nil, &proj, http.StatusOK)
	if len(proj.Environments) != 3 {
		t.Fatalf("project api: %+v", proj)
	}
}

func TestCreateEnvChecksEntry(t *testing.T) { onEachStore(t, testCreateEnvChecksEntry) }

func testCreateEnvChecksEntry(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	path := api.Path(api.EnvsRoute, "acme", "web")
	envReq := func(projectID, name string) (api.CreateEnvRequest, *trust.State, string) {
		id := api.NewID("env")
		entries, st := e.sign(ada.signer, "acme", trust.CreateEnv{EnvID: id, ProjectID: projectID, Name: name})
		k, _ := crypto.GenerateEnvKey(id, 1)
		return api.CreateEnvRequest{Name: "preview", ChainWrite: api.ChainWrite{Entries: entries, Grants: [][]byte{grantBytes(t, st, ada.signer, k, ada.uid)}}}, st, id
	}
	r, _, _ := envReq(p.id, "other")
	status, body := e.call(ada.auth, "POST", path, r)
	e.wantStatus("env.create of another name", status, body, http.StatusBadRequest, `one env.create of "preview"`)
	r, _, _ = envReq(p.id, "preview")
	r.Grants = nil
	status, body = e.call(ada.auth, "POST", path, r)
	e.wantStatus("no grant", status, body, http.StatusBadRequest, "needs 1 signed grants")

	r, st, id := envReq(p.id, "preview")
	var got api.Environment
	e.must(ada.auth, "POST", path, r, &got, http.StatusCreated)
	e.setOrgState("acme", st)
	if got.ID != id || got.Name != "preview" || got.KeyVersion != 1 {
		t.Fatalf("created %+v", got)
	}
	var snap api.Snapshot
	e.must(ada.auth, "GET", api.Path(api.SnapshotRoute, "acme", "web", "preview")+"?chain_from=0", nil, &snap, http.StatusOK)
	vst, err := trust.Verify(parseEntries(t, snap.Chain), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := trust.ParseGrant(snap.Grant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vst.OpenGrant(g, ada.id); err != nil {
		t.Fatalf("grant of the new environment: %v", err)
	}
}

func TestWriteRevisionChecksHeader(t *testing.T) { onEachStore(t, testWriteRevisionChecksHeader) }

func testWriteRevisionChecksHeader(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	rwTok, _ := e.token(ada, "acme", "web", p, "development", true)
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	path := api.Path(api.RevisionsRoute, "acme", "web", "development")
	post := func(what string, req api.WriteRevisionRequest, want string) {
		t.Helper()
		status, body := e.call(ada.auth, "POST", path, req)
		e.wantStatus(what, status, body, http.StatusBadRequest, want)
	}

	good, _ := e.revisionRequest(ada.auth, p, "development", 1)
	r := good
	r.Header = nil
	post("no header", r, "header is missing")
	r.Header = []byte("junk")
	post("a junk header", r, "header refused")

	// Revision 1 again (sealed as the first), sent as revision 2.
	first, _ := e.revisionRequest(ada.auth, p, "development", 0)
	r = first
	r.BaseRevision = 1
	post("a header of the wrong revision", r, "it is revision 1, not 2")
	// Staging's header, sent to development.
	staging, _ := e.revisionRequest(ada.auth, p, "staging", 0)
	r = good
	r.Header = staging.Header
	post("a header of another environment", r, "it is for environment")
	// The token's header, sent by ada.
	tokReq, _ := e.revisionRequest(rwTok, p, "development", 1)
	r = good
	r.Header = tokReq.Header
	post("a header by another author", r, "its author is")
	// A header under key version 2, which only ada's own copy of the chain
	// has (the rotation was never sent).
	{
		st := e.orgState("acme")
		en, _ := st.Append(ada.signer, trust.RotateKey{EnvID: p.envIDs["development"], Version: 2})
		st2, _ := st.Extend([]*trust.Entry{en})
		k2, _ := crypto.GenerateEnvKey(p.envIDs["development"], 2)
		e.orgs.mu.Lock()
		prev := e.orgs.heads[p.envIDs["development"]][1]
		e.orgs.mu.Unlock()
		h, ct, err := st2.SealRevision(ada.signer, k2, prev, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		post("a header under another key version", api.WriteRevisionRequest{BaseRevision: 1, KeyVersion: 1, Header: h.Bytes(), Ciphertext: ct}, "under key version 2, not 1")
	}

	// A bad signature.
	r = good
	r.Header = bytes.Clone(good.Header)
	r.Header[len(r.Header)-1] ^= 1
	post("a header with a bad signature", r, "bad signature")
	// Revision 2 on top of a revision 1 that was never stored.
	{
		st := e.orgState("acme")
		stray, _, err := st.SealRevision(ada.signer, p.keys["development"], nil, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		h, ct, err := st.SealRevision(ada.signer, p.keys["development"], stray, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		post("a header that does not link", api.WriteRevisionRequest{BaseRevision: 1, KeyVersion: 1, Header: h.Bytes(), Ciphertext: ct}, "does not name revision 1")
	}
	var h api.History
	e.must(ada.auth, "GET", path, nil, &h, http.StatusOK)
	if len(h.Revisions) != 1 {
		t.Fatalf("%d revisions after refused writes", len(h.Revisions))
	}
	e.must(ada.auth, "POST", path, good, nil, http.StatusCreated)
}

func TestTokenChainChecks(t *testing.T) { onEachStore(t, testTokenChainChecks) }

func testTokenChainChecks(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	path := api.Path(api.TokensRoute, "acme", "web")
	exp := e.clock.now().Add(time.Hour)
	later := exp.Add(time.Hour)

	base, _, _ := e.tokenRequest(ada, "acme", p, "development", true, &exp)
	for _, c := range []struct {
		name string
		edit func(r *api.CreateTokenRequest)
		want string
	}{
		{"another ID", func(r *api.CreateTokenRequest) {
			other, _, _ := e.tokenRequest(ada, "acme", p, "development", true, &exp)
			r.ID, r.AuthKey = other.ID, other.AuthKey
		}, "token.create refused: it creates"},
		{"another name", func(r *api.CreateTokenRequest) { r.Name = "deploy" }, "it names the token"},
		{"another environment", func(r *api.CreateTokenRequest) { r.Environment = "staging" }, "it is for environment"},
		{"read-only", func(r *api.CreateTokenRequest) { r.ReadWrite = false }, "gives write access, but the request asks for read"},
		{"another expiry", func(r *api.CreateTokenRequest) { r.ExpiresAt = &later }, "expiry does not match"},
		{"no expiry", func(r *api.CreateTokenRequest) { r.ExpiresAt = nil }, "expiry does not match"},
		{"the grant to ada", func(r *api.CreateTokenRequest) {
			r.Grants = [][]byte{grantBytes(t, e.orgState("acme"), ada.signer, p.keys["development"], ada.uid)}
		}, `not "` + base.ID + `"`},
		{"no grant", func(r *api.CreateTokenRequest) { r.Grants = nil }, "needs 1 signed grants"},
		{"a revoke", func(r *api.CreateTokenRequest) {
			r.Entries, _ = e.sign(ada.signer, "acme", trust.CreateProject{ProjectID: api.NewID("prj"), Name: "x"})
		}, "this request takes one token.create"},
	} {
		r := base
		c.edit(&r)
		status, body := e.call(ada.auth, "POST", path, r)
		e.wantStatus("token with "+c.name, status, body, http.StatusBadRequest, c.want)
	}
	var toks []api.TokenInfo
	e.must(ada.auth, "GET", path, nil, &toks, http.StatusOK)
	if len(toks) != 0 {
		t.Fatalf("refused token requests made tokens: %+v", toks)
	}
	var info api.TokenInfo
	e.must(ada.auth, "POST", path, base, &info, http.StatusCreated)
	if info.ExpiresAt == nil || info.ExpiresAt.Unix() != exp.Unix() || !info.ReadWrite {
		t.Fatalf("created %+v", info)
	}
	e.setOrgState("acme", func() *trust.State {
		st, err := e.orgState("acme").Extend(parseEntries(t, base.Entries))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}())

	// Revoking needs the token.revoke of that very token.
	revokePath := api.Path(api.TokenRoute, "acme", "web", base.ID)
	_, otherID := e.token(ada, "acme", "web", p, "staging", false)
	for _, c := range []struct {
		name string
		body any
		want string
	}{
		{"no body", nil, "malformed JSON"},
		{"no entries", api.RevokeTokenRequest{}, "needs its org chain entries"},
		{"another token's revoke", func() any {
			en, _ := e.sign(ada.signer, "acme", trust.RevokeToken{TokenID: otherID})
			return api.RevokeTokenRequest{ChainWrite: api.ChainWrite{Entries: en}}
		}(), "one token.revoke of"},
		{"a project.create", func() any {
			en, _ := e.sign(ada.signer, "acme", trust.CreateProject{ProjectID: api.NewID("prj"), Name: "x"})
			return api.RevokeTokenRequest{ChainWrite: api.ChainWrite{Entries: en}}
		}(), "one token.revoke of"},
	} {
		status, body := e.call(ada.auth, "DELETE", revokePath, c.body)
		e.wantStatus("revoke with "+c.name, status, body, http.StatusBadRequest, c.want)
	}
	// On a stale head: conflict.
	stale, _ := e.sign(ada.signer, "acme", trust.RevokeToken{TokenID: base.ID})
	e.token(ada, "acme", "web", p, "production", false)
	status, body := e.call(ada.auth, "DELETE", revokePath, api.RevokeTokenRequest{ChainWrite: api.ChainWrite{Entries: stale}})
	e.wantStatus("revoke on a stale head", status, body, http.StatusConflict, "the org chain changed")
	e.must(ada.auth, "GET", path, nil, &toks, http.StatusOK)
	if len(toks) != 3 {
		t.Fatalf("%d tokens after refused revokes", len(toks))
	}
	e.revoke(ada, "acme", "web", base.ID)
	e.must(ada.auth, "GET", path, nil, &toks, http.StatusOK)
	if len(toks) != 2 {
		t.Fatalf("%d tokens after a revoke", len(toks))
	}
	// The chain records the revocation.
	c := e.chainOf(ada.auth, "acme", "")
	st, err := trust.Verify(parseEntries(t, c.Entries), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ti, ok := st.Token(base.ID); !ok || !ti.Revoked {
		t.Fatalf("chain token %+v %v", ti, ok)
	}
}

// TestSnapshotChainAndHeaders covers chain_from and since, in JSON and in
// the binary form, for users and tokens, and that neither changes the
// conditional fetch.
func TestSnapshotChainAndHeaders(t *testing.T) { onEachStore(t, testSnapshotChainAndHeaders) }

func testSnapshotChainAndHeaders(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	tok, _ := e.token(ada, "acme", "web", p, "development", true)
	for base := int64(0); base < 3; base++ {
		if status, body := write(e, ada.auth, p, "development", base); status != http.StatusCreated {
			t.Fatalf("write %d: %d %s", base+1, status, body)
		}
	}
	st := e.orgState("acme")
	head := st.Seq()
	path := api.Path(api.SnapshotRoute, "acme", "web", "development")

	get := func(auth, path, query string) api.Snapshot {
		t.Helper()
		resp, body := e.getSnapshot(auth, path+query, api.SnapshotMediaType, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s%s: %d %s", path, query, resp.StatusCode, body)
		}
		bin, err := api.DecodeSnapshot(body)
		if err != nil {
			t.Fatal(err)
		}
		var js api.Snapshot
		e.must(auth, "GET", path+query, nil, &js, http.StatusOK)
		a, _ := json.Marshal(bin)
		b, _ := json.Marshal(js)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s%s: binary and JSON differ:\n%s\n%s", path, query, a, b)
		}
		return bin
	}
	revs := func(hs [][]byte) []int64 {
		var out []int64
		for _, b := range hs {
			h, err := trust.ParseHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, h.Revision())
		}
		return out
	}
	for _, c := range []struct {
		query   string
		chain   int
		headers string
	}{
		{"", int(head) + 1, "[]"},
		{"?chain_from=0&since=0", int(head) + 1, "[]"},
		{"?chain_from=2", int(head) - 1, "[]"},
		{fmt.Sprintf("?chain_from=%d", head), 1, "[]"},
		{fmt.Sprintf("?chain_from=%d", head+5), 1, "[]"},
		{"?since=1", int(head) + 1, "[1 2 3]"},
		{fmt.Sprintf("?chain_from=%d&since=2", head), 1, "[2 3]"},
		{"?since=3", int(head) + 1, "[3]"},
		{"?since=7", int(head) + 1, "[3]"},
	} {
		for who, auth := range map[string]string{"ada": ada.auth, "token": tok} {
			sp := path
			if who == "token" {
				sp = api.TokenSnapshotPath
			}
			s := get(auth, sp, c.query)
			if len(s.Chain) != c.chain || fmt.Sprint(revs(s.Headers)) != c.headers {
				t.Errorf("%s %s: %d chain entries, headers %v; want %d, %s", who, c.query, len(s.Chain), revs(s.Headers), c.chain, c.headers)
			}
			if s.OrgID != st.OrgID() || s.Revision == nil || s.Revision.Revision != 3 {
				t.Errorf("%s %s: %+v", who, c.query, s)
			}
			last := parseEntries(t, s.Chain)
			if last[len(last)-1].Hash() != st.Head() {
				t.Errorf("%s %s: chain does not end at the head", who, c.query)
			}
		}
	}
	// What the client checks: the whole chain from the token's anchor, the
	// grant, and the newest revision.
	s := get(tok, api.TokenSnapshotPath, "?chain_from=0")
	vst, err := trust.Verify(parseEntries(t, s.Chain), anchor16(st))
	if err != nil {
		t.Fatal(err)
	}
	g, err := trust.ParseGrant(s.Grant)
	if err != nil || g.Recipient() == ada.uid {
		t.Fatalf("token grant: %v", err)
	}
	s = get(ada.auth, path, "?chain_from=0")
	g, _ = trust.ParseGrant(s.Grant)
	ek, err := vst.OpenGrant(g, ada.id)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := trust.ParseHeader(s.Revision.Header)
	if _, err := vst.OpenLatest(p.envIDs["development"], h, s.Revision.Ciphertext, ek); err != nil {
		t.Fatalf("open the newest revision: %v", err)
	}

	// Malformed parameters are refused, before and whatever the ETag.
	etag := api.SnapshotETag(s)
	for _, q := range []string{"?chain_from=-1", "?chain_from=x", "?since=-1", "?since=x"} {
		resp, body := e.getSnapshot(ada.auth, path+q, api.SnapshotMediaType, etag)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	// The conditional fetch does not depend on chain_from or since.
	for _, q := range []string{"", "?chain_from=0", "?chain_from=3&since=1", "?since=3"} {
		if resp, _ := e.getSnapshot(ada.auth, path+q, api.SnapshotMediaType, etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("conditional %s: %d", q, resp.StatusCode)
		}
	}
}

func TestHistoryCarriesTrust(t *testing.T) { onEachStore(t, testHistoryCarriesTrust) }

func testHistoryCarriesTrust(t *testing.T, e *env) {
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	for base := int64(0); base < 2; base++ {
		if status, body := write(e, ada.auth, p, "development", base); status != http.StatusCreated {
			t.Fatalf("write: %d %s", status, body)
		}
	}
	st := e.orgState("acme")
	path := api.Path(api.RevisionsRoute, "acme", "web", "development")
	var h api.History
	e.must(ada.auth, "GET", path+"?chain_from=0", nil, &h, http.StatusOK)
	vst, err := trust.Verify(parseEntries(t, h.Chain), nil)
	if err != nil || vst.Head() != st.Head() || h.OrgID != st.OrgID() || h.Org != "acme" {
		t.Fatalf("history chain: %v %+v", err, h)
	}
	g, err := trust.ParseGrant(h.Grants[1])
	if err != nil {
		t.Fatal(err)
	}
	ek, err := vst.OpenGrant(g, ada.id)
	if err != nil {
		t.Fatal(err)
	}
	var headers []*trust.Header
	for _, r := range h.Revisions {
		hd, err := trust.ParseHeader(r.Header)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vst.OpenRevision(p.envIDs["development"], hd, r.Ciphertext, ek); err != nil {
			t.Fatalf("revision %d: %v", r.Revision, err)
		}
		headers = append(headers, hd)
	}
	if err := trust.CheckLinks(trust.Position{}, headers); err != nil {
		t.Fatalf("history links: %v", err)
	}
	e.must(ada.auth, "GET", path+fmt.Sprintf("?chain_from=%d", st.Seq()), nil, &h, http.StatusOK)
	if len(h.Chain) != 1 {
		t.Fatalf("history chain from the head: %d entries", len(h.Chain))
	}
	if status, _ := e.call(ada.auth, "GET", path+"?chain_from=-2", nil); status != http.StatusBadRequest {
		t.Fatalf("history with a negative chain_from: %d", status)
	}
}

func anchor16(st *trust.State) []byte { a := st.Anchor(); return a[:16] }
