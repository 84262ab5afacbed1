package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/kdf"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/store/sqlstore"
	"github.com/secr-dev/secr/internal/trust"
)

// clock is a settable time source for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      *testing.T
	url    string
	clock  *clock
	logs   *lockedBuffer
	server *Server
	orgs   *orgs
}

type lockedBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

func newEnv(t *testing.T, signupOpen bool) *env {
	return newEnvConfig(t, func(c *Config) { c.SignupOpen = signupOpen })
}

// newEnvConfig serves a new SQLite database with the Config that edit
// leaves.
func newEnvConfig(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "secr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return serveStore(t, st, &clock{t: time.Now()}, edit)
}

func serveStore(t *testing.T, st store.Store, c *clock, edit func(*Config)) *env {
	t.Helper()
	logs := &lockedBuffer{}
	cfg := Config{Store: st, Logger: slog.New(slog.NewTextHandler(logs, nil)), SignupOpen: true, Now: c.now}
	if edit != nil {
		edit(&cfg)
	}
	api := New(cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, clock: c, logs: logs, server: api, orgs: &orgs{
		state: map[string]*trust.State{}, signers: map[string]*trust.Signer{},
		envOrg: map[string]string{}, heads: map[string]map[int64]*trust.Header{},
	}}
}

// call sends a request and returns the status and body.
func (e *env) call(auth, method, path string, body any) (int, string) {
	e.t.Helper()
	return e.callFrom("", auth, method, path, body)
}

// callFrom is call with an X-Forwarded-For header (if xff is not empty).
func (e *env) callFrom(xff, auth, method, path string, body any) (int, string) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, r)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, b := e.send(req)
	return resp.StatusCode, string(b)
}

// send does req and returns the response with its whole body read.
func (e *env) send(req *http.Request) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (e *env) must(auth, method, path string, body, out any, want int) {
	e.t.Helper()
	status, b := e.call(auth, method, path, body)
	if status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			e.t.Fatal(err)
		}
	}
}

type user struct {
	auth      string
	id        *crypto.Identity
	uid       string
	signer    *trust.Signer
	principal *trust.Principal
}

// orgs is what the test "client" has verified of each org it made,
// and how to sign for each principal, as a real client would hold it.
type orgs struct {
	mu      sync.Mutex
	state   map[string]*trust.State  // by org name
	signers map[string]*trust.Signer // by principal ID
	envOrg  map[string]string        // environment ID → org name
	heads   map[string]map[int64]*trust.Header
}

func (e *env) orgState(org string) *trust.State {
	e.orgs.mu.Lock()
	defer e.orgs.mu.Unlock()
	return e.orgs.state[org]
}

func (e *env) setOrgState(org string, st *trust.State) {
	e.orgs.mu.Lock()
	defer e.orgs.mu.Unlock()
	e.orgs.state[org] = st
}

func (e *env) addSigner(s *trust.Signer) {
	e.orgs.mu.Lock()
	defer e.orgs.mu.Unlock()
	e.orgs.signers[s.ID()] = s
}

// newUser makes a user's keys and identity, as sign-up does.
func newUser(email string) user {
	id, _ := crypto.GenerateIdentity()
	key, _ := trust.GenerateSigningKey()
	uid := api.NewID("usr")
	p, err := trust.NewUser(uid, email, id.Recipient(), key)
	if err != nil {
		panic(err)
	}
	return user{id: id, uid: uid, signer: trust.NewSigner(uid, key), principal: p}
}

func signupRequest(u user, email string) api.SignupRequest {
	salt, _ := crypto.GenerateSalt()
	return api.SignupRequest{
		UserID: u.uid, Email: email, Salt: salt, KDF: kdf.Default(), AuthKey: authKey(email), PublicKey: u.id.Recipient().String(),
		Principal: u.principal.Bytes(), SealedKey: []byte("sealed"), RecoverySealedKey: []byte("recovery-sealed"), RecoveryAuthKey: recoveryKey(email),
	}
}

func (e *env) signup(email string) user {
	e.t.Helper()
	u := newUser(email)
	var resp api.SessionResponse
	e.must("", "POST", api.SignupPath, signupRequest(u, email), &resp, http.StatusCreated)
	u.auth = "Bearer " + resp.Token
	e.addSigner(u.signer)
	return u
}

// createOrg signs an org's root as u and creates it.
func (e *env) createOrg(u user, name string) *trust.State {
	e.t.Helper()
	root, err := trust.NewOrg(u.signer, u.principal, api.NewID("org"), name)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := trust.Verify([]*trust.Entry{root}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	var o api.Org
	e.must(u.auth, "POST", api.OrgsRoute, api.CreateOrgRequest{Name: name, Root: root.Bytes()}, &o, http.StatusCreated)
	if o.ID != st.OrgID() || o.Name != name {
		e.t.Fatalf("created org %+v, want ID %s", o, st.OrgID())
	}
	e.setOrgState(name, st)
	return st
}

// sign appends ops signed by signer to org's verified chain, without
// keeping them: it returns the entries' bytes and the chain after them.
func (e *env) sign(signer *trust.Signer, org string, ops ...trust.Op) ([][]byte, *trust.State) {
	e.t.Helper()
	st := e.orgState(org)
	var out [][]byte
	for _, op := range ops {
		en, err := st.Append(signer, op)
		if err != nil {
			e.t.Fatal(err)
		}
		if st, err = st.Extend([]*trust.Entry{en}); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, en.Bytes())
	}
	return out, st
}

func grantBytes(t *testing.T, st *trust.State, granter *trust.Signer, k *crypto.EnvKey, to string) []byte {
	t.Helper()
	g, err := st.MakeGrant(granter, k, to)
	if err != nil {
		t.Fatal(err)
	}
	return g.Bytes()
}

// authKey and recoveryKey are the test users' stand-ins for derived keys.
func authKey(email string) []byte     { return bytes.Repeat([]byte{byte(len(email))}, 32) }
func recoveryKey(email string) []byte { return bytes.Repeat([]byte{byte(len(email) + 100)}, 32) }

type project struct {
	id     string
	envIDs map[string]string
	keys   map[string]*crypto.EnvKey
}

// projectRequest signs the creation of project name with the three usual
// environments, without sending it.
func (e *env) projectRequest(u user, org, name string) (api.CreateProjectRequest, project, *trust.State) {
	e.t.Helper()
	p := project{id: api.NewID("prj"), envIDs: map[string]string{}, keys: map[string]*crypto.EnvKey{}}
	ops := []trust.Op{trust.CreateProject{ProjectID: p.id, Name: name}}
	for _, n := range []string{"development", "staging", "production"} {
		id := api.NewID("env")
		p.envIDs[n] = id
		p.keys[n], _ = crypto.GenerateEnvKey(id, 1)
		ops = append(ops, trust.CreateEnv{EnvID: id, ProjectID: p.id, Name: n})
	}
	entries, st := e.sign(u.signer, org, ops...)
	req := api.CreateProjectRequest{Name: name, ChainWrite: api.ChainWrite{Entries: entries}}
	for _, n := range []string{"development", "staging", "production"} {
		req.Grants = append(req.Grants, grantBytes(e.t, st, u.signer, p.keys[n], u.uid))
	}
	return req, p, st
}

func (e *env) createProject(u user, org, name string) project {
	e.t.Helper()
	req, p, st := e.projectRequest(u, org, name)
	e.must(u.auth, "POST", api.Path(api.ProjectsRoute, org), req, nil, http.StatusCreated)
	e.setOrgState(org, st)
	e.orgs.mu.Lock()
	for _, id := range p.envIDs {
		e.orgs.envOrg[id] = org
	}
	e.orgs.mu.Unlock()
	return p
}

// tokenRequest signs the creation of a service token for envName,
// without sending it.
func (e *env) tokenRequest(u user, org string, p project, envName string, rw bool, exp *time.Time) (api.CreateTokenRequest, *trust.Token, *trust.State) {
	e.t.Helper()
	tok, err := trust.GenerateToken(e.orgState(org).Anchor())
	if err != nil {
		e.t.Fatal(err)
	}
	tp, err := tok.Principal("t")
	if err != nil {
		e.t.Fatal(err)
	}
	op := trust.CreateToken{Token: tp, EnvID: p.envIDs[envName], Access: trust.Read}
	if rw {
		op.Access = trust.Write
	}
	if exp != nil {
		op.Expires = *exp
	}
	entries, st := e.sign(u.signer, org, op)
	req := api.CreateTokenRequest{
		ID: tok.ID(), Name: "t", Environment: envName, AuthKey: tok.AuthKey(), ReadWrite: rw, ExpiresAt: exp,
		ChainWrite: api.ChainWrite{Entries: entries, Grants: [][]byte{grantBytes(e.t, st, u.signer, p.keys[envName], tok.ID())}},
	}
	return req, tok, st
}

func tokenAuth(tok *trust.Token) string {
	return api.SchemeToken + " " + tok.ID() + ":" + base64.StdEncoding.EncodeToString(tok.AuthKey())
}

// tokenExp creates a service token and returns its Authorization header
// and ID.
func (e *env) tokenExp(u user, org, proj string, p project, envName string, rw bool, exp *time.Time) (string, string) {
	e.t.Helper()
	req, tok, st := e.tokenRequest(u, org, p, envName, rw, exp)
	e.must(u.auth, "POST", api.Path(api.TokensRoute, org, proj), req, nil, http.StatusCreated)
	e.setOrgState(org, st)
	e.addSigner(tok.Signer())
	return tokenAuth(tok), tok.ID()
}

func (e *env) token(u user, org, proj string, p project, envName string, rw bool) (string, string) {
	e.t.Helper()
	return e.tokenExp(u, org, proj, p, envName, rw, nil)
}

// revoke revokes token id, signing the token.revoke as u.
func (e *env) revoke(u user, org, proj, id string) {
	e.t.Helper()
	entries, st := e.sign(u.signer, org, trust.RevokeToken{TokenID: id})
	e.must(u.auth, "DELETE", api.Path(api.TokenRoute, org, proj, id), api.RevokeTokenRequest{ChainWrite: api.ChainWrite{Entries: entries}}, nil, http.StatusNoContent)
	e.setOrgState(org, st)
}

// whoID returns the principal ID an Authorization header stands for, ""
// if the server does not accept it.
func (e *env) whoID(auth string) string {
	status, body := e.call(auth, "GET", api.WhoAmIPath, nil)
	if status != http.StatusOK {
		return ""
	}
	var w api.WhoAmI
	json.Unmarshal([]byte(body), &w)
	if w.User != nil {
		return w.User.ID
	}
	if w.Token != nil {
		return w.Token.ID
	}
	return ""
}

// revisionRequest seals a revision after base of envName as the principal
// auth stands for. When that principal cannot seal one (no access, a
// read-only token), the header is junk: the server must refuse it anyway.
func (e *env) revisionRequest(auth string, p project, envName string, base int64) (api.WriteRevisionRequest, *trust.Header) {
	e.t.Helper()
	envID := p.envIDs[envName]
	who := e.whoID(auth)
	e.orgs.mu.Lock()
	signer := e.orgs.signers[who]
	org := e.orgs.envOrg[envID]
	prev := e.orgs.heads[envID][base]
	st := e.orgs.state[org]
	e.orgs.mu.Unlock()
	req := api.WriteRevisionRequest{BaseRevision: base, KeyVersion: 1, Header: []byte("junk"), Ciphertext: []byte("junk")}
	if signer == nil || st == nil {
		return req, nil
	}
	h, ct, err := st.SealRevision(signer, p.keys[envName], prev, []byte(`{"v":1,"secrets":{}}`))
	if err != nil {
		return req, nil
	}
	req.Header, req.Ciphertext = h.Bytes(), ct
	return req, h
}

func write(e *env, auth string, p project, envName string, base int64) (int, string) {
	e.t.Helper()
	req, h := e.revisionRequest(auth, p, envName, base)
	e.orgs.mu.Lock()
	org := e.orgs.envOrg[p.envIDs[envName]]
	e.orgs.mu.Unlock()
	status, body := e.call(auth, "POST", api.Path(api.RevisionsRoute, org, "web", envName), req)
	if status == http.StatusCreated && h != nil {
		e.orgs.mu.Lock()
		m := e.orgs.heads[h.EnvID()]
		if m == nil {
			m = map[int64]*trust.Header{}
			e.orgs.heads[h.EnvID()] = m
		}
		m[h.Revision()] = h
		e.orgs.mu.Unlock()
	}
	return status, body
}

// endpoints lists every route under an org, with a plausible body.
func endpoints(org, tokenID string) [][3]any {
	env := api.Path(api.EnvRoute, org, "web", "development")
	junk := api.ChainWrite{Entries: [][]byte{[]byte("entry")}, Grants: [][]byte{[]byte("grant")}}
	return [][3]any{
		{"GET", api.Path(api.ChainRoute, org), nil},
		{"GET", api.Path(api.ProjectsRoute, org), nil},
		{"POST", api.Path(api.ProjectsRoute, org), api.CreateProjectRequest{Name: "evil", ChainWrite: junk}},
		{"GET", api.Path(api.ProjectRoute, org, "web"), nil},
		{"GET", api.Path(api.EnvsRoute, org, "web"), nil},
		{"POST", api.Path(api.EnvsRoute, org, "web"), api.CreateEnvRequest{Name: "preview", ChainWrite: junk}},
		{"GET", env + "/snapshot", nil},
		{"GET", env + "/revisions", nil},
		{"POST", env + "/revisions", api.WriteRevisionRequest{BaseRevision: 1, KeyVersion: 1, Header: []byte("h"), Ciphertext: []byte("x")}},
		{"GET", api.Path(api.TokensRoute, org, "web"), nil},
		{"POST", api.Path(api.TokensRoute, org, "web"), api.CreateTokenRequest{ID: tokenID, Environment: "development", ChainWrite: junk}},
		{"DELETE", api.Path(api.TokenRoute, org, "web", tokenID), api.RevokeTokenRequest{ChainWrite: junk}},
	}
}

func TestOutsiderLearnsNothing(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatalf("ada's write: %d %s", status, body)
	}
	_, tokenID := e.token(ada, "acme", "web", p, "production", false)

	bob := e.signup("bob@example.com")
	e.createOrg(bob, "bobco")
	var orgs []api.Org
	e.must(bob.auth, "GET", api.OrgsRoute, nil, &orgs, http.StatusOK)
	if len(orgs) != 1 || orgs[0].Name != "bobco" {
		t.Fatalf("bob sees orgs %+v", orgs)
	}

	real, ghost := endpoints("acme", tokenID), endpoints("ghost", tokenID)
	for i, ep := range real {
		method, path := ep[0].(string), ep[1].(string)
		status, body := e.call(bob.auth, method, path, ep[2])
		if status != http.StatusNotFound {
			t.Errorf("bob %s %s: status %d, want 404: %s", method, path, status, body)
		}
		gStatus, gBody := e.call(bob.auth, method, ghost[i][1].(string), ghost[i][2])
		if gStatus != status || strings.ReplaceAll(gBody, "ghost", "acme") != body {
			t.Errorf("bob %s %s: answer differs from a nonexistent org's:\n  acme:  %d %s\n  ghost: %d %s", method, path, status, body, gStatus, gBody)
		}
		for _, leak := range []string{p.envIDs["development"], "production", tokenID[3:], "ciphertext"} {
			if strings.Contains(body, leak) {
				t.Errorf("bob %s %s: answer contains %q: %s", method, path, leak, body)
			}
		}
		// Without credentials, every endpoint answers 401.
		if status, body := e.call("", method, path, ep[2]); status != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s: status %d: %s", method, path, status, body)
		}
		if status, _ := e.call("Bearer forged", method, path, ep[2]); status != http.StatusUnauthorized {
			t.Errorf("forged session %s %s: status %d", method, path, status)
		}
	}
	// Nothing bob did changed ada's data.
	var h api.History
	e.must(ada.auth, "GET", api.Path(api.RevisionsRoute, "acme", "web", "development"), nil, &h, http.StatusOK)
	if len(h.Revisions) != 1 {
		t.Fatalf("ada's development has %d revisions after bob's attempts", len(h.Revisions))
	}
	var envs []api.Environment
	e.must(ada.auth, "GET", api.Path(api.EnvsRoute, "acme", "web"), nil, &envs, http.StatusOK)
	if len(envs) != 3 {
		t.Fatalf("ada's project has %d environments after bob's attempts", len(envs))
	}
	var toks []api.TokenInfo
	e.must(ada.auth, "GET", api.Path(api.TokensRoute, "acme", "web"), nil, &toks, http.StatusOK)
	if len(toks) != 1 {
		t.Fatalf("ada's project has %d tokens after bob's attempts", len(toks))
	}
}

func TestServiceTokenScope(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	for _, n := range []string{"staging", "production"} {
		if status, body := write(e, ada.auth, p, n, 0); status != http.StatusCreated {
			t.Fatalf("write %s: %d %s", n, status, body)
		}
	}
	staging, _ := e.token(ada, "acme", "web", p, "staging", false)
	stagingRW, _ := e.token(ada, "acme", "web", p, "staging", true)

	// A read-only token reads its environment and cannot write.
	var snap api.Snapshot
	e.must(staging, "GET", api.TokenSnapshotPath, nil, &snap, http.StatusOK)
	if snap.Environment.Name != "staging" || snap.CanWrite || snap.Revision == nil {
		t.Fatalf("staging token snapshot: %+v", snap)
	}
	if status, body := write(e, staging, p, "staging", 1); status != http.StatusForbidden || !strings.Contains(body, "read-only") {
		t.Fatalf("read-only token write: %d %s", status, body)
	}
	// A staging token cannot touch production.
	for _, ep := range [][2]string{
		{"GET", api.Path(api.SnapshotRoute, "acme", "web", "production")},
		{"GET", api.Path(api.RevisionsRoute, "acme", "web", "production")},
	} {
		status, body := e.call(staging, ep[0], ep[1], nil)
		if status != http.StatusForbidden || strings.Contains(body, "ciphertext") {
			t.Errorf("staging token %s %s: %d %s", ep[0], ep[1], status, body)
		}
	}
	if status, body := write(e, stagingRW, p, "production", 1); status != http.StatusForbidden {
		t.Errorf("staging read-write token wrote production: %d %s", status, body)
	}
	// A read-write token writes its own environment.
	if status, body := write(e, stagingRW, p, "staging", 1); status != http.StatusCreated {
		t.Errorf("read-write token write: %d %s", status, body)
	}
	// Tokens cannot administer anything.
	for _, ep := range [][3]any{
		{"GET", api.OrgsRoute, nil},
		{"POST", api.OrgsRoute, api.CreateOrgRequest{Name: "tokenco", Root: []byte("root")}},
		{"GET", api.Path(api.ProjectsRoute, "acme"), nil},
		{"GET", api.Path(api.TokensRoute, "acme", "web"), nil},
		{"POST", api.Path(api.EnvsRoute, "acme", "web"), api.CreateEnvRequest{Name: "x", ChainWrite: api.ChainWrite{Entries: [][]byte{[]byte("e")}}}},
		{"POST", api.LogoutPath, nil},
	} {
		if status, body := e.call(stagingRW, ep[0].(string), ep[1].(string), ep[2]); status != http.StatusForbidden {
			t.Errorf("token %s %s: %d %s", ep[0], ep[1], status, body)
		}
	}
	// A token for another org's project sees nothing of this one.
	bob := e.signup("bob@example.com")
	e.createOrg(bob, "bobco")
	bp := e.createProject(bob, "bobco", "web")
	bobTok, _ := e.token(bob, "bobco", "web", bp, "staging", true)
	if status, body := e.call(bobTok, "GET", api.Path(api.SnapshotRoute, "acme", "web", "staging"), nil); status != http.StatusNotFound {
		t.Errorf("bob's token reading acme: %d %s", status, body)
	}

	// Expired and revoked tokens are refused.
	exp := e.clock.now().Add(time.Hour)
	auth, tokID := e.tokenExp(ada, "acme", "web", p, "staging", false, &exp)
	e.must(auth, "GET", api.TokenSnapshotPath, nil, nil, http.StatusOK)
	e.clock.add(2 * time.Hour)
	if status, body := e.call(auth, "GET", api.TokenSnapshotPath, nil); status != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Errorf("expired token: %d %s", status, body)
	}
	wrongKey := api.SchemeToken + " " + tokID + ":" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	if status, _ := e.call(wrongKey, "GET", api.TokenSnapshotPath, nil); status != http.StatusUnauthorized {
		t.Errorf("token with wrong auth key: %d", status)
	}
	e.revoke(ada, "acme", "web", tokID)
	e.clock.add(-2 * time.Hour)
	if status, body := e.call(auth, "GET", api.TokenSnapshotPath, nil); status != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Errorf("revoked token: %d %s", status, body)
	}
}

func TestWriteConflicts(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	if status, _ := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatal("first write failed")
	}
	// Replaying the same base is a conflict and changes nothing.
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusConflict {
		t.Fatalf("stale base: %d %s", status, body)
	}
	// A base from the future is a conflict too.
	if status, _ := write(e, ada.auth, p, "development", 5); status != http.StatusConflict {
		t.Fatalf("future base: %d", status)
	}
	req, _ := e.revisionRequest(ada.auth, p, "development", 1)
	req.KeyVersion = 2
	status, body := e.call(ada.auth, "POST", api.Path(api.RevisionsRoute, "acme", "web", "development"), req)
	if status != http.StatusConflict || !strings.Contains(body, "key version") {
		t.Fatalf("wrong key version: %d %s", status, body)
	}
	var h api.History
	e.must(ada.auth, "GET", api.Path(api.RevisionsRoute, "acme", "web", "development"), nil, &h, http.StatusOK)
	if len(h.Revisions) != 1 {
		t.Fatalf("%d revisions after rejected writes", len(h.Revisions))
	}
}

func TestSessionExpiryAndLogout(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.must(ada.auth, "GET", api.WhoAmIPath, nil, nil, http.StatusOK)
	e.clock.add(31 * 24 * time.Hour)
	if status, body := e.call(ada.auth, "GET", api.WhoAmIPath, nil); status != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Fatalf("expired session: %d %s", status, body)
	}
	e.clock.add(-31 * 24 * time.Hour)
	e.must(ada.auth, "POST", api.LogoutPath, nil, nil, http.StatusNoContent)
	if status, _ := e.call(ada.auth, "GET", api.WhoAmIPath, nil); status != http.StatusUnauthorized {
		t.Fatalf("session works after logout: %d", status)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, true)
	e.signup("ada@example.com")
	bad := api.LoginRequest{Email: "ada@example.com", AuthKey: make([]byte, 32)}
	for i := 0; i < freeFailures; i++ {
		if status, _ := e.call("", "POST", api.LoginPath, bad); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i, status)
		}
	}
	status, body := e.call("", "POST", api.LoginPath, bad)
	if status != http.StatusTooManyRequests || !strings.Contains(body, "try again in 1 s") {
		t.Fatalf("after %d failures: %d %s", freeFailures, status, body)
	}
	// Even the right key waits: the limit is checked first.
	good := api.LoginRequest{Email: "ada@example.com", AuthKey: authKey("ada@example.com")}
	if status, _ := e.call("", "POST", api.LoginPath, good); status != http.StatusTooManyRequests {
		t.Fatalf("correct login during lockout: %d", status)
	}
	e.clock.add(2 * time.Second)
	if status, body := e.call("", "POST", api.LoginPath, good); status != http.StatusOK {
		t.Fatalf("correct login after waiting: %d %s", status, body)
	}
	// The per-address limit also covers guesses spread over many accounts.
	for i := 0; i < 3*freeFailures; i++ {
		e.call("", "POST", api.LoginPath, api.LoginRequest{Email: fmt.Sprintf("u%d@example.com", i), AuthKey: make([]byte, 32)})
	}
	if status, _ := e.call("", "POST", api.LoginPath, api.LoginRequest{Email: "new@example.com", AuthKey: make([]byte, 32)}); status != http.StatusTooManyRequests {
		t.Fatalf("address not limited: %d", status)
	}
}

func TestAuthParamsDoNotRevealAccounts(t *testing.T) {
	e := newEnv(t, true)
	e.signup("ada@example.com")
	var known, unknown1, unknown2, other api.AuthParamsResponse
	e.must("", "POST", api.AuthParamsPath, api.AuthParamsRequest{Email: "ada@example.com"}, &known, http.StatusOK)
	e.must("", "POST", api.AuthParamsPath, api.AuthParamsRequest{Email: "nobody@example.com"}, &unknown1, http.StatusOK)
	e.must("", "POST", api.AuthParamsPath, api.AuthParamsRequest{Email: "Nobody@Example.com"}, &unknown2, http.StatusOK)
	e.must("", "POST", api.AuthParamsPath, api.AuthParamsRequest{Email: "other@example.com"}, &other, http.StatusOK)
	if len(unknown1.Salt) != kdf.SaltSize || !bytes.Equal(unknown1.Salt, unknown2.Salt) {
		t.Fatalf("fake salt is not stable: %x %x", unknown1.Salt, unknown2.Salt)
	}
	if bytes.Equal(unknown1.Salt, other.Salt) || unknown1.KDF != known.KDF {
		t.Fatal("fake answers are distinguishable from real ones")
	}
}

func TestSignupPolicyAndValidation(t *testing.T) {
	closed := newEnv(t, false)
	req := signupRequest(newUser("ada@example.com"), "ada@example.com")
	if status, body := closed.call("", "POST", api.SignupPath, req); status != http.StatusForbidden || !strings.Contains(body, "closed") {
		t.Fatalf("closed signup: %d %s", status, body)
	}
	open := newEnv(t, true)
	weak := req
	weak.KDF.MemoryKiB = 1024
	if status, _ := open.call("", "POST", api.SignupPath, weak); status != http.StatusBadRequest {
		t.Fatalf("weak KDF accepted: %d", status)
	}
	badEmail := req
	badEmail.Email = "not an email"
	if status, _ := open.call("", "POST", api.SignupPath, badEmail); status != http.StatusBadRequest {
		t.Fatalf("bad email accepted: %d", status)
	}
	open.must("", "POST", api.SignupPath, req, nil, http.StatusCreated)
	dup := signupRequest(newUser("ada@example.com"), "ada@example.com")
	if status, _ := open.call("", "POST", api.SignupPath, dup); status != http.StatusConflict {
		t.Fatalf("duplicate email: %d", status)
	}
	if status, _ := open.call("", "POST", api.SignupPath, "{not json"); status != http.StatusBadRequest {
		t.Fatalf("malformed body: %d", status)
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	tokAuth, _ := e.token(ada, "acme", "web", p, "staging", true)
	write(e, tokAuth, p, "staging", 0)
	e.call("", "POST", api.LoginPath, api.LoginRequest{Email: "ada@example.com", AuthKey: make([]byte, 32)})
	logs := e.logs.String()
	session := strings.TrimPrefix(ada.auth, "Bearer ")
	tokKey := tokAuth[strings.Index(tokAuth, ":")+1:]
	for _, secret := range []string{session, tokKey, "sealed"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs, `route="POST /v1/orgs/{org}/projects/{project}/envs/{env}/revisions" status=201`) {
		t.Errorf("request log missing:\n%s", logs)
	}
}

func TestChangePasswordAndRecover(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	const email = "ada@example.com"
	newCreds := func(n byte) api.ChangePasswordRequest {
		return api.ChangePasswordRequest{Email: email, Salt: bytes.Repeat([]byte{n}, 16), KDF: kdf.Default(),
			AuthKey: bytes.Repeat([]byte{n}, 32), SealedKey: []byte{n}}
	}
	// Wrong proofs change nothing.
	req := newCreds(1)
	req.CurrentAuthKey = make([]byte, 32)
	if status, body := e.call("", "PUT", api.PasswordPath, req); status != http.StatusUnauthorized || !strings.Contains(body, "incorrect email or password") {
		t.Fatalf("wrong current password: %d %s", status, body)
	}
	req.CurrentAuthKey, req.RecoveryAuthKey = authKey(email), recoveryKey(email)
	if status, _ := e.call("", "PUT", api.PasswordPath, req); status != http.StatusBadRequest {
		t.Fatalf("two proofs at once: %d", status)
	}
	// With the current password: new credentials, old sessions end.
	req = newCreds(1)
	req.CurrentAuthKey = authKey(email)
	var sess api.SessionResponse
	e.must("", "PUT", api.PasswordPath, req, &sess, http.StatusOK)
	if status, _ := e.call(ada.auth, "GET", api.WhoAmIPath, nil); status != http.StatusUnauthorized {
		t.Fatalf("old session survived a password change: %d", status)
	}
	e.must("Bearer "+sess.Token, "GET", api.WhoAmIPath, nil, nil, http.StatusOK)
	if status, _ := e.call("", "POST", api.LoginPath, api.LoginRequest{Email: email, AuthKey: authKey(email)}); status != http.StatusUnauthorized {
		t.Fatalf("old password still logs in: %d", status)
	}
	e.must("", "POST", api.LoginPath, api.LoginRequest{Email: email, AuthKey: bytes.Repeat([]byte{1}, 32)}, nil, http.StatusOK)
	var params api.AuthParamsResponse
	e.must("", "POST", api.AuthParamsPath, api.AuthParamsRequest{Email: email}, &params, http.StatusOK)
	if !bytes.Equal(params.Salt, bytes.Repeat([]byte{1}, 16)) {
		t.Fatalf("salt not replaced: %x", params.Salt)
	}

	// Recovery: the sealed copy comes back only for the right code.
	if status, body := e.call("", "POST", api.RecoverPath, api.RecoverRequest{Email: email, RecoveryAuthKey: make([]byte, 32)}); status != http.StatusUnauthorized || !strings.Contains(body, "recovery code") || strings.Contains(body, "recovery-sealed") {
		t.Fatalf("wrong recovery code: %d %s", status, body)
	}
	if status, body := e.call("", "POST", api.RecoverPath, api.RecoverRequest{Email: "nobody@example.com", RecoveryAuthKey: recoveryKey(email)}); status != http.StatusUnauthorized {
		t.Fatalf("unknown email: %d %s", status, body)
	}
	var rec api.RecoverResponse
	e.must("", "POST", api.RecoverPath, api.RecoverRequest{Email: email, RecoveryAuthKey: recoveryKey(email)}, &rec, http.StatusOK)
	if string(rec.RecoverySealedKey) != "recovery-sealed" || rec.User.ID != ada.uid {
		t.Fatalf("recover: %+v", rec)
	}
	req = newCreds(2)
	req.RecoveryAuthKey = recoveryKey(email)
	e.must("", "PUT", api.PasswordPath, req, nil, http.StatusOK)
	e.must("", "POST", api.LoginPath, api.LoginRequest{Email: email, AuthKey: bytes.Repeat([]byte{2}, 32)}, nil, http.StatusOK)
}
