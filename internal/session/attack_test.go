package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/trust"
)

// The malicious-server harness (TRUST.md §7). Each case lets ada write to
// her environments, then edits the server's database the way a hostile
// operator could, and checks that ada's client refuses what the server
// then says with an integrity error (the CLI's exit code 6) and writes
// nothing on top of it. The attacker knows everything the server stores
// and ada's public keys, and signs with keys of its own: it cannot sign as
// ada or as anyone else in the org.

// attacker is the hostile server's own view of an org: a copy of the
// org's names and IDs in a chain it made itself, where "ada" (her ID,
// email and X25519 key, so she can unwrap what it wraps) signs with the
// attacker's Ed25519 key. What it signs there is well-formed and wrapped
// to ada, but signed by a key the real chain does not give her.
type attacker struct {
	state  *trust.State
	signer *trust.Signer
	key    *crypto.EnvKey // an environment key the attacker knows
	envID  string
}

func (f *fixture) attacker(s *Session, envName string) *attacker {
	f.t.Helper()
	ctx := context.Background()
	real, err := s.Chain(ctx, f.target.Org)
	if err != nil {
		f.t.Fatal(err)
	}
	sk, _ := trust.GenerateSigningKey()
	fakeAda, err := trust.NewUser(s.login.UserID, s.login.Email, s.identity.Recipient(), sk)
	if err != nil {
		f.t.Fatal(err)
	}
	a := &attacker{signer: trust.NewSigner(s.login.UserID, sk)}
	root, err := trust.NewOrg(a.signer, fakeAda, real.OrgID(), real.OrgName())
	if err != nil {
		f.t.Fatal(err)
	}
	st, err := trust.Verify([]*trust.Entry{root}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	prj, _ := real.LookupProject("web")
	var ops []trust.Op
	ops = append(ops, trust.CreateProject{ProjectID: prj, Name: "web"})
	for _, name := range DefaultEnvironments {
		env, _ := real.LookupEnv(prj, name)
		ops = append(ops, trust.CreateEnv{EnvID: env.ID, ProjectID: prj, Name: name})
	}
	forger := &Session{signer: a.signer}
	if a.state, _, err = forger.appendOps(st, ops...); err != nil {
		f.t.Fatal(err)
	}
	env, _ := real.LookupEnv(prj, envName)
	a.envID = env.ID
	a.key, _ = crypto.GenerateEnvKey(env.ID, 1)
	return a
}

// grant is the attacker's key wrapped to ada and signed by the attacker.
func (a *attacker) grant(t *testing.T) []byte {
	g, err := a.state.MakeGrant(a.signer, a.key, a.signer.ID())
	if err != nil {
		t.Fatal(err)
	}
	return g.Bytes()
}

// revision seals doc as the revision after prev (nil for the first) under
// the attacker's key, signed by the attacker (as "ada").
func (a *attacker) revision(t *testing.T, prev []byte, doc string) (header, ct []byte) {
	var p *trust.Header
	if prev != nil {
		var err error
		if p, err = trust.ParseHeader(prev); err != nil {
			t.Fatal(err)
		}
	}
	h, ct, err := a.state.SealRevision(a.signer, a.key, p, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return h.Bytes(), ct
}

// column reads one value of the server's database.
func (f *fixture) column(query string, args ...any) []byte {
	f.t.Helper()
	var b []byte
	if err := f.db().QueryRow(query, args...).Scan(&b); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return b
}

func (f *fixture) revisions(envID string) int {
	f.t.Helper()
	var n int
	if err := f.db().QueryRow(`SELECT COUNT(*) FROM revisions WHERE env_id = ?`, envID).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// orgID is the fixture's org's ID.
func (f *fixture) orgID() string {
	return string(f.column(`SELECT id FROM orgs WHERE name = ?`, f.target.Org))
}

// appendChain stores entries after the server's head as if the server had
// accepted them (a hostile server, or one whose database was written).
func (f *fixture) appendChain(entries ...[]byte) {
	f.t.Helper()
	org := f.orgID()
	var head int64
	if err := f.db().QueryRow(`SELECT head_seq FROM orgs WHERE id = ?`, org).Scan(&head); err != nil {
		f.t.Fatal(err)
	}
	for _, e := range entries {
		head++
		f.exec(`INSERT INTO chain_entries (org_id, seq, entry) VALUES (?, ?, ?)`, org, head, e)
		f.exec(`UPDATE orgs SET head_seq = ?, head = ? WHERE id = ?`, head, e, org)
	}
}

// relink rewrites entry (made in another chain) to sit at seq after prev,
// keeping its signature: the only way to make an entry link into a chain
// without the key of someone the chain allows to sign it.
func relink(t *testing.T, entry []byte, seq uint64, prev [32]byte) []byte {
	e, err := trust.ParseEntry(entry)
	if err != nil {
		t.Fatal(err)
	}
	var old, repl []byte
	old = binary.BigEndian.AppendUint64(old, e.Seq())
	repl = binary.BigEndian.AppendUint64(repl, seq)
	repl = append(repl, prev[:]...)
	i := bytes.Index(entry, old)
	if i < 0 {
		t.Fatal("relink: seq not found")
	}
	out := append(append(bytes.Clone(entry[:i]), repl...), entry[i+8+32:]...)
	if _, err := trust.ParseEntry(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// mustRefuse checks that err is an integrity failure that mentions want.
func mustRefuse(t *testing.T, what string, err error, want string) {
	t.Helper()
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: got %v, want an integrity error mentioning %q", what, err, want)
	}
	if strings.Contains(err.Error(), "value-") || strings.Contains(err.Error(), "BASH_ENV") {
		t.Fatalf("%s: the error shows a value: %v", what, err)
	}
}

func TestMaliciousServer(t *testing.T) {
	ctx := context.Background()
	type setup struct {
		f               *fixture
		s               *Session
		dev, prod, stag string
	}
	for _, tc := range []struct {
		name   string
		attack func(t *testing.T, x setup) Target // returns the target to load
		want   string
		// history: the attack is seen by 'secrets history' ('run' checks
		// only the newest revision and the links since the one it saw).
		history bool
	}{
		{name: "substituted key wrap", want: "the key of environment", attack: func(t *testing.T, x setup) Target {
			a := x.f.attacker(x.s, "development")
			x.f.exec(`UPDATE grants SET signed_grant = ? WHERE env_id = ?`, a.grant(t), x.dev)
			return x.f.target
		}},
		{name: "substituted key wrap on an environment with no revisions", want: "the key of environment", attack: func(t *testing.T, x setup) Target {
			a := x.f.attacker(x.s, "staging")
			x.f.exec(`UPDATE grants SET signed_grant = ? WHERE env_id = ?`, a.grant(t), x.stag)
			tg := x.f.target
			tg.Env = "staging"
			return tg
		}},
		{name: "forged revision", want: "revision 4", attack: func(t *testing.T, x setup) Target {
			a := x.f.attacker(x.s, "development")
			prev := x.f.column(`SELECT header FROM revisions WHERE env_id = ? AND revision = 3`, x.dev)
			h, ct := a.revision(t, prev, "BASH_ENV=/tmp/evil.sh\n")
			x.f.exec(`INSERT INTO revisions (env_id, revision, key_version, header, ciphertext, author_id, created_at) VALUES (?, 4, 1, ?, ?, ?, 0)`,
				x.dev, h, ct, x.s.login.UserID)
			return x.f.target
		}},
		{name: "forged revision with a substituted key", want: "the key of environment", attack: func(t *testing.T, x setup) Target {
			a := x.f.attacker(x.s, "development")
			prev := x.f.column(`SELECT header FROM revisions WHERE env_id = ? AND revision = 3`, x.dev)
			h, ct := a.revision(t, prev, "BASH_ENV=/tmp/evil.sh\n")
			x.f.exec(`UPDATE grants SET signed_grant = ? WHERE env_id = ?`, a.grant(t), x.dev)
			x.f.exec(`INSERT INTO revisions (env_id, revision, key_version, header, ciphertext, author_id, created_at) VALUES (?, 4, 1, ?, ?, ?, 0)`,
				x.dev, h, ct, x.s.login.UserID)
			return x.f.target
		}},
		{name: "dropped revision", history: true, want: "revision 3 follows 1", attack: func(t *testing.T, x setup) Target {
			x.f.exec(`DELETE FROM revisions WHERE env_id = ? AND revision = 2`, x.dev)
			return x.f.target
		}},
		{name: "reordered revisions", history: true, want: "history of", attack: func(t *testing.T, x setup) Target {
			x.f.exec(`UPDATE revisions SET revision = -1 WHERE env_id = ? AND revision = 1`, x.dev)
			x.f.exec(`UPDATE revisions SET revision = 1 WHERE env_id = ? AND revision = 2`, x.dev)
			x.f.exec(`UPDATE revisions SET revision = 2 WHERE env_id = ? AND revision = -1`, x.dev)
			return x.f.target
		}},
		{name: "re-attributed revision", want: "revision 3", attack: func(t *testing.T, x setup) Target {
			// The author is in the signed header: naming someone else
			// there breaks the signature.
			mallory := api.NewID("usr")
			x.f.exec(`UPDATE revisions SET header = CAST(replace(CAST(header AS TEXT), ?, ?) AS BLOB), author_id = ? WHERE env_id = ? AND revision = 3`,
				x.s.login.UserID, mallory, mallory, x.dev)
			return x.f.target
		}},
		{name: "name swap between environments", want: "environments swapped", attack: func(t *testing.T, x setup) Target {
			x.f.exec(`UPDATE environments SET name = 'swap' WHERE id = ?`, x.dev)
			x.f.exec(`UPDATE environments SET name = 'development' WHERE id = ?`, x.prod)
			x.f.exec(`UPDATE environments SET name = 'production' WHERE id = ?`, x.dev)
			return x.f.target
		}},
		{name: "injected member", want: "org chain", attack: func(t *testing.T, x setup) Target {
			// A member.add of mallory, signed by the attacker as "ada" and
			// linked after the real head.
			a := x.f.attacker(x.s, "development")
			id, _ := crypto.GenerateIdentity()
			sk, _ := trust.GenerateSigningKey()
			mallory, _ := trust.NewUser(api.NewID("usr"), "mallory@example.com", id.Recipient(), sk)
			e, err := a.state.Append(a.signer, trust.AddMember{Member: mallory, Role: trust.Owner})
			if err != nil {
				t.Fatal(err)
			}
			real, _ := x.s.Chain(ctx, x.f.target.Org)
			x.f.appendChain(relink(t, e.Bytes(), real.Seq()+1, real.Head()))
			return x.f.target
		}},
		{name: "injected token", want: "org chain", attack: func(t *testing.T, x setup) Target {
			a := x.f.attacker(x.s, "development")
			real, _ := x.s.Chain(ctx, x.f.target.Org)
			tok, _ := trust.GenerateToken(real.Anchor())
			p, _ := tok.Principal("evil")
			e, err := a.state.Append(a.signer, trust.CreateToken{Token: p, EnvID: x.dev, Access: trust.Write})
			if err != nil {
				t.Fatal(err)
			}
			x.f.appendChain(relink(t, e.Bytes(), real.Seq()+1, real.Head()))
			return x.f.target
		}},
		{name: "revision by a principal the chain does not know", want: "revision 4", attack: func(t *testing.T, x setup) Target {
			// The server made a token of its own (in its tables, not in
			// the chain) and signed a revision with it.
			a := x.f.attacker(x.s, "development")
			real, _ := x.s.Chain(ctx, x.f.target.Org)
			tok, _ := trust.GenerateToken(real.Anchor())
			p, _ := tok.Principal("evil")
			st, err := a.state.Extend([]*trust.Entry{must(a.state.Append(a.signer, trust.CreateToken{Token: p, EnvID: x.dev, Access: trust.Write}))})
			if err != nil {
				t.Fatal(err)
			}
			prev, _ := trust.ParseHeader(x.f.column(`SELECT header FROM revisions WHERE env_id = ? AND revision = 3`, x.dev))
			h, ct, err := st.SealRevision(tok.Signer(), a.key, prev, []byte("BASH_ENV=/tmp/evil.sh\n"))
			if err != nil {
				t.Fatal(err)
			}
			x.f.exec(`INSERT INTO revisions (env_id, revision, key_version, header, ciphertext, author_id, created_at) VALUES (?, 4, 1, ?, ?, ?, 0)`,
				x.dev, h.Bytes(), ct, tok.ID())
			return x.f.target
		}},
		{name: "forked org chain", want: "fork", attack: func(t *testing.T, x setup) Target {
			// The head this machine verified is replaced by another entry.
			a := x.f.attacker(x.s, "development")
			real, _ := x.s.Chain(ctx, x.f.target.Org)
			prevHash := x.f.column(`SELECT entry FROM chain_entries WHERE org_id = ? AND seq = ?`, x.f.orgID(), real.Seq()-1)
			fake, err := a.state.Append(a.signer, trust.CreateEnv{EnvID: api.NewID("env"), ProjectID: mustProject(real), Name: "forked"})
			if err != nil {
				t.Fatal(err)
			}
			e := relink(t, fake.Bytes(), real.Seq(), sha(prevHash))
			x.f.exec(`UPDATE chain_entries SET entry = ? WHERE org_id = ? AND seq = ?`, e, x.f.orgID(), real.Seq())
			x.f.exec(`UPDATE orgs SET head = ? WHERE id = ?`, e, x.f.orgID())
			return x.f.target
		}},
		{name: "truncated org chain", want: "truncated", attack: func(t *testing.T, x setup) Target {
			real, _ := x.s.Chain(ctx, x.f.target.Org)
			keep := real.Seq() - 2
			head := x.f.column(`SELECT entry FROM chain_entries WHERE org_id = ? AND seq = ?`, x.f.orgID(), keep)
			x.f.exec(`DELETE FROM chain_entries WHERE org_id = ? AND seq > ?`, x.f.orgID(), keep)
			x.f.exec(`UPDATE orgs SET head_seq = ?, head = ? WHERE id = ?`, keep, head, x.f.orgID())
			return x.f.target
		}},
		{name: "replayed old grant after key rotation", want: "key version 1", attack: func(t *testing.T, x setup) Target {
			old := x.f.column(`SELECT signed_grant FROM grants WHERE env_id = ? AND key_version = 1`, x.dev)
			x.f.rotate(x.s, "development")
			x.f.exec(`UPDATE grants SET signed_grant = ? WHERE env_id = ? AND key_version = 2`, old, x.dev)
			x.f.dropCache()
			return x.f.target
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.session()
			f.set(s, "A", "value-1")
			prodTarget := f.target
			prodTarget.Env = "production"
			if _, err := s.Update(ctx, prodTarget, func(e *Editor) error { return e.Set("P", "value-prod", false) }); err != nil {
				t.Fatal(err)
			}
			f.set(s, "A", "value-2")
			f.set(s, "A", "value-3")
			if _, err := s.Load(ctx, f.target); err != nil {
				t.Fatal(err)
			}
			f.dropCache()
			x := setup{f: f, s: s, dev: f.envID("development"), prod: f.envID("production"), stag: f.envID("staging")}
			target := tc.attack(t, x)
			envID := f.envID(target.Env)
			before := f.revisions(envID)
			s = f.session()
			if tc.history {
				_, err := s.History(ctx, target)
				mustRefuse(t, "history", err, tc.want)
			} else {
				env, err := s.Load(ctx, target)
				if err == nil {
					t.Fatalf("loaded %v", env.Names())
				}
				mustRefuse(t, "load", err, tc.want)
				_, err = s.Update(ctx, target, func(e *Editor) error { return e.Set("NEW", "value-new", false) })
				mustRefuse(t, "update", err, tc.want)
				if after := f.revisions(envID); after != before {
					t.Fatalf("a revision was written on top of unverified data: %d revisions, then %d", before, after)
				}
			}
		})
	}
}

// TestReattributedAuthorColumn: the server's author column is not what
// history shows; the signed header is.
func TestReattributedAuthorColumn(t *testing.T) {
	f := newFixture(t)
	s := f.session()
	f.set(s, "A", "value-1")
	f.exec(`UPDATE revisions SET author_id = 'usr_mallory' WHERE env_id = ?`, f.envID("development"))
	h, err := s.History(context.Background(), f.target)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Revisions[0].Author; got != "ada@example.com" {
		t.Fatalf("history shows author %q", got)
	}
}

// rotate makes key version 2 of envName the way a key holder's client
// does (TRUST.md §3): a key.rotate signed by ada, the new key wrapped to
// her, and the newest revision re-sealed under it. It is written straight
// into the database (as a hostile server could store one it was sent):
// what matters here is what a client then accepts.
func (f *fixture) rotate(s *Session, envName string) {
	f.t.Helper()
	ctx := context.Background()
	tg := f.target
	tg.Env = envName
	env, err := s.Load(ctx, tg)
	if err != nil {
		f.t.Fatal(err)
	}
	st, raw, err := s.appendOps(env.state, trust.RotateKey{EnvID: env.ID, Version: 2})
	if err != nil {
		f.t.Fatal(err)
	}
	f.appendChain(raw...)
	f.exec(`UPDATE orgs SET chain_state = ? WHERE id = ?`, st.Bytes(), f.orgID())
	ek, _ := crypto.GenerateEnvKey(env.ID, 2)
	g, err := st.MakeGrant(s.signer, ek, s.me())
	if err != nil {
		f.t.Fatal(err)
	}
	h, ct, err := st.SealRevision(s.sig(), ek, env.header, env.doc.Marshal())
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(`INSERT INTO grants (env_id, principal_id, key_version, signed_grant) VALUES (?, ?, 2, ?)`, env.ID, s.me(), g.Bytes())
	f.exec(`UPDATE environments SET key_version = 2 WHERE id = ?`, env.ID)
	f.exec(`INSERT INTO revisions (env_id, revision, key_version, header, ciphertext, author_id, created_at) VALUES (?, ?, 2, ?, ?, ?, 0)`,
		env.ID, h.Revision(), h.Bytes(), ct, s.me())
	// The rotation itself verifies: the newest revision opens under v2.
	if got, err := f.session().Load(ctx, tg); err != nil || got.key.Version() != 2 {
		f.t.Fatalf("after rotation: %v", err)
	}
}

// dropCache drops this machine's snapshot cache, so that the server's
// (edited) answer is what the client must check, not a 304 for what it
// holds.
func (f *fixture) dropCache() {
	f.t.Helper()
	if err := os.RemoveAll(filepath.Join(mustDirs(f.t, f.opts).Cache, "snapshots")); err != nil {
		f.t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mustProject(st *trust.State) string {
	id, _ := st.LookupProject("web")
	return id
}

func sha(entry []byte) [32]byte {
	e, err := trust.ParseEntry(entry)
	if err != nil {
		panic(err)
	}
	return e.Hash()
}
