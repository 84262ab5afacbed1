package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
)

// Regression tests from the attacker's review of the trust v2 client: each
// TestAttack_* failed while its attack worked, and passes only when the
// client refuses it (as an integrity error) or is not misled.

// lyingProxy serves the real server, except that rewrite may change the
// JSON answer to a request for which match is true.
func lyingProxy(t *testing.T, h http.Handler, match func(*http.Request) bool, rewrite func(map[string]any)) *httptest.Server {
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !match(r) {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var m map[string]any
		body := rec.Body.Bytes()
		if rec.Code < 300 && json.Unmarshal(body, &m) == nil {
			rewrite(m)
			body, _ = json.Marshal(m)
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = io.Copy(w, bytes.NewReader(body))
	}))
	t.Cleanup(p.Close)
	return p
}

// freshHome is a HOME holding ada's login with no default org (as right
// after signup), and no state.
func freshHome(t *testing.T, sh *shared) string {
	home := t.TempDir()
	creds, err := os.ReadFile(filepath.Join(sh.home, ".config", "secr", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".config", "secr"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".config", "secr", "credentials.json"), creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// Finding 1: CreateOrg pins the chain it signed under the name the user
// typed, but makes the *server's* answer (org.Name) the login's default
// org. A lying server answers "created evil-corp": every later command
// without --org (and the CLI's "Next: secr projects create NAME --org
// evil-corp" hint) goes to an org the server chose, first-contact pinned,
// which the server can own (it can sign member.add for ada's public
// principal, grant itself access, rotate to a key it chose, ...).
func TestAttack_CreateOrgDefaultOrgIsServerChosen(t *testing.T) {
	sh := sharedServer(t)
	home := freshHome(t, sh)
	opts := optionsFor(home, nil)
	const evil = "evil-corp-of-the-server"
	proxy := lyingProxy(t, sh.api,
		func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == api.OrgsRoute },
		func(m map[string]any) { m["name"] = evil })
	s, err := Authenticate(Target{API: sh.srv.URL}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s.login.DefaultOrg != "" {
		t.Fatalf("precondition: default org %q", s.login.DefaultOrg)
	}
	cl, err := client.New(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.client = cl.WithSession(s.login.Session)
	name := "o-" + api.NewID("x")[2:14]
	org, err := s.CreateOrg(context.Background(), name)
	if err != nil {
		if !errors.Is(err, ErrIntegrity) {
			t.Fatalf("CreateOrg: %v", err)
		}
		return // refused
	}
	dirs, _ := config.ResolveDirs(opts.Getenv)
	login, err := opts.credentials(dirs).Get(sh.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got := (&Session{login: login}).WithDefaultOrg(Target{}).Org
	if got != name {
		t.Errorf("created and pinned org %q, but the server's answer %q (%q) became the default org %q: later commands go to an org the server picked",
			name, org.Name, evil, got)
	}
}

// Finding 2: when the server says "no environment dev", the client lists
// the project's environments *from the server* and silently maps the alias
// dev -> development, although the verified chain has an environment
// named exactly "dev". A server can so redirect a write meant for one
// environment into another (different readers, different tokens).
func TestAttack_AliasResolutionTrustsServerNotChain(t *testing.T) {
	f := newFixture(t)
	s := f.session()
	ctx := context.Background()
	dev := f.target
	dev.Env = "dev"
	if _, err := s.CreateEnv(ctx, dev, "dev"); err != nil {
		t.Fatal(err)
	}
	st, err := s.Chain(ctx, f.target.Org)
	if err != nil {
		t.Fatal(err)
	}
	prj, _ := st.LookupProject("web")
	devEnv, ok := st.LookupEnv(prj, "dev")
	if !ok {
		t.Fatal("no dev in chain")
	}
	// The server hides "dev" by name (its routes look names up in its own table).
	f.exec(`UPDATE environments SET name = 'zz-hidden' WHERE id = ?`, devEnv.ID)

	env, err := s.Update(ctx, dev, func(e *Editor) error { return e.Set("ONLY_FOR_DEV", "dev-secret", false) })
	if err != nil {
		if !errors.Is(err, ErrIntegrity) {
			t.Fatalf("refused, but not as an integrity failure: %v", err)
		}
		return
	}
	if env.ID != devEnv.ID {
		t.Errorf("asked to write %s/%s/dev (chain ID %s); the server made the client write %q (ID %s) instead",
			f.target.Org, f.target.Project, devEnv.ID, env.Name, env.ID)
	}
}

// Finding 3: Signup believes the user ID and email in the server's answer
// (saveLogin compares the returned principal only with the returned ID and
// email). The server can make the stored login, and so every org root and
// chain entry this user signs from now on, carry an email of its choice.
func TestAttack_SignupAcceptsServerChosenEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2 at full cost")
	}
	sh := sharedServer(t)
	home := t.TempDir()
	const claimed = "ceo@victim.example"
	proxy := lyingProxy(t, sh.api,
		func(r *http.Request) bool { return r.URL.Path == api.SignupPath },
		func(m map[string]any) {
			u := m["user"].(map[string]any)
			// Re-encode the principal with the email the server wants (it
			// knows the public keys; the encoding is length-prefixed).
			pb, _ := base64.StdEncoding.DecodeString(u["principal"].(string))
			oldEmail := u["email"].(string)
			u["principal"] = bytes.Replace(pb, lp(oldEmail), lp(claimed), 1)
			u["email"] = claimed
		})
	email := "mallory-" + strings.ToLower(api.NewID("x")[2:10]) + "@example.com"
	acct, _, err := Signup(context.Background(), optionsFor(home, nil), proxy.URL, email, testPassword)
	if err != nil {
		if !errors.Is(err, ErrIntegrity) {
			t.Fatalf("refused, but not as an integrity failure: %v", err)
		}
		return
	}
	if acct.User.Email != email {
		t.Errorf("signed up as %s, but the stored login (and so the principal this user signs org roots with) says %s", email, acct.User.Email)
	}
}

// TestLoginRefusesServerChosenEmail: the same lie at login. The principal
// the server returns matches the email it returns, so only the check that
// the email is the one typed catches it.
func TestLoginRefusesServerChosenEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2 at full cost")
	}
	sh := sharedServer(t)
	const claimed = "ceo@victim.example"
	proxy := lyingProxy(t, sh.api,
		func(r *http.Request) bool { return r.URL.Path == api.LoginPath },
		func(m map[string]any) {
			u := m["user"].(map[string]any)
			pb, _ := base64.StdEncoding.DecodeString(u["principal"].(string))
			u["principal"] = bytes.Replace(pb, lp(u["email"].(string)), lp(claimed), 1)
			u["email"] = claimed
		})
	home := t.TempDir()
	acct, err := Login(context.Background(), optionsFor(home, nil), proxy.URL, "ada@example.com", testPassword)
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("login as a server-chosen email: %v (account %+v)", err, acct)
	}
}

func lp(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }

// Finding 5: 'secr scan' without names takes the list of environments to
// check from the server, not from the verified chain: a server that omits
// production from its listing makes the leak scan silently skip
// production's values (no warning, no error).
func TestAttack_ScanEnvListFromServer(t *testing.T) {
	f := newFixture(t)
	s := f.session()
	ctx := context.Background()
	prod := f.target
	prod.Env = "production"
	if _, err := s.Update(ctx, prod, func(e *Editor) error { return e.Set("PROD_DB_PASSWORD", "hunter2-prod-only", false) }); err != nil {
		t.Fatal(err)
	}
	st, err := s.Chain(ctx, f.target.Org)
	if err != nil {
		t.Fatal(err)
	}
	prj, _ := st.LookupProject("web")
	pe, _ := st.LookupEnv(prj, "production")
	// The server leaves production out of its answers.
	f.exec(`DELETE FROM environments WHERE id = ?`, pe.ID)
	f.warns = nil
	envs, err := s.ReadableEnvs(ctx, f.target, nil)
	if err != nil {
		if !errors.Is(err, ErrIntegrity) {
			t.Fatalf("refused, but not as an integrity failure: %v", err)
		}
		return
	}
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	if len(envs) < 3 {
		t.Errorf("the chain gives ada 3 readable environments; scan checked only %v (warnings: %v): production's values are never looked for", names, f.warns)
	}
}

// Finding 4: 'secr tokens list' shows the server's table, not the chain:
// which tokens exist, their environment and whether they can write. A
// server can hide a read-write production token (say, one an insider
// made) or show it as a read-only development token, and the admin who
// audits tokens to decide what to revoke sees the lie.
func TestAttack_TokenListFromServerNotChain(t *testing.T) {
	f := newFixture(t)
	s := f.session()
	ctx := context.Background()
	prod := f.target
	prod.Env = "production"
	_, info, err := s.CreateToken(ctx, prod, TokenRequest{Name: "deploy", ReadWrite: true})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(`UPDATE tokens SET read_write = 0, env_id = ? WHERE id = ?`, f.envID("development"), info.ID)
	ts, err := s.ListTokens(ctx, f.target)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Chain(ctx, f.target.Org)
	if err != nil {
		t.Fatal(err)
	}
	ci, _ := st.Token(info.ID)
	ce, _ := st.Env(ci.EnvID)
	for _, tk := range ts {
		if tk.ID == info.ID && (tk.Environment != ce.Name || tk.ReadWrite != (ci.Access == 2)) {
			t.Errorf("token %s: the chain says %s %s, the list shows environment %q read_write=%v", tk.ID, ce.Name, ci.Access, tk.Environment, tk.ReadWrite)
		}
	}
}

// Finding 6: Load asks for the headers since the rollback mark only when
// it can name the environment from an already pinned chain. When it cannot
// (a token's first run on a machine whose user already has marks: the
// token's chain is pinned under its anchor, the user's under the org
// name; or a user who deleted the chains dir as the hint suggests), links
// is false, and a newer revision is accepted without checking that it
// descends from the revision this machine saw. Here the server forks the
// history: it withholds revision 3 (which this machine saw) from another
// writer, who then writes 3' and 4' on top of 2; this machine then runs
// with 4' although it is not a successor of the 3 it saw.
func TestAttack_ForkAcceptedWhenNoPinForPrincipal(t *testing.T) {
	f := newFixture(t)
	s := f.session()
	ctx := context.Background()
	f.set(s, "A", "1")
	f.set(s, "A", "2")
	f.set(s, "A", "3-rotated-after-leak") // this machine's mark: revision 3
	tok, _, err := s.CreateToken(ctx, f.target, TokenRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	dev := f.envID("development")
	// The server withholds revision 3 from another machine of a writer
	// (no state there), which writes 3' and 4' on top of revision 2.
	saved3h := f.column(`SELECT header FROM revisions WHERE env_id = ? AND revision = 3`, dev)
	f.exec(`DELETE FROM revisions WHERE env_id = ? AND revision = 3`, dev)
	homeB := t.TempDir()
	creds, _ := os.ReadFile(filepath.Join(f.home, ".config", "secr", "credentials.json"))
	_ = os.MkdirAll(filepath.Join(homeB, ".config", "secr"), 0o700)
	_ = os.WriteFile(filepath.Join(homeB, ".config", "secr", "credentials.json"), creds, 0o600)
	sB, err := Authenticate(f.target, optionsFor(homeB, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"3-fork-old-password", "4-fork"} {
		if _, err := sB.Update(ctx, f.target, func(e *Editor) error { return e.Set("A", v, false) }); err != nil {
			t.Fatal(err)
		}
	}
	if bytes.Equal(saved3h, f.column(`SELECT header FROM revisions WHERE env_id = ? AND revision = 3`, dev)) {
		t.Fatal("precondition: no fork")
	}
	// Back on this machine, as the CI token (first run of the token here).
	f.env["SECR_TOKEN"] = tok
	st := f.session()
	env, err := st.Load(ctx, Target{API: f.target.API})
	if err != nil {
		if !errors.Is(err, ErrIntegrity) {
			t.Fatalf("refused, but not as an integrity failure: %v", err)
		}
		return
	}
	v, _ := env.Lookup("A")
	t.Errorf("this machine saw revision 3 (%q); the server served revision %d = %q, which does not descend from it, and it was accepted",
		"3-rotated-after-leak", env.Revision, v.Value)
}
