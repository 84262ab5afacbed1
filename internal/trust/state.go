package trust

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// State is a verified org chain, replayed: who is a member with which role
// and keys, which projects and environments exist under which names, who
// may read or write each environment at every point of the chain, and each
// environment's key versions. Get one from Verify or ParseState; grow it
// with Extend. A State never changes: Extend returns a new one, so a cached
// State stays valid whatever a later Extend finds.
type State struct {
	orgID, orgName string
	hashes         [][32]byte // hashes[seq] = Hash of entry seq
	principals     map[string]*principal
	projects       map[string]*project
	envs           map[string]*env

	owned map[string]bool // during extend: principals and envs already copied
}

type principal struct {
	kind   Kind
	idents []identAt // identity from each seq on; changes only when a removed user is added again
	role   Role      // users: current role, 0 when not a member

	grants map[string]Access // users: current grants by environment ID

	tokenEnv     string // tokens: their one environment
	tokenAccess  Access
	tokenCreator string // tokens: who signed their token.create
	expires      int64  // unix seconds, 0 for none
	revoked      bool

	access map[string][]accessAt // effective access by environment, from each seq on
}

type identAt struct {
	seq uint64
	p   *Principal
}

type accessAt struct {
	seq    uint64
	access Access
}

type project struct {
	name string
	seq  uint64
}

type env struct {
	project, name string
	keys          []uint64 // keys[v-1] = seq of the entry that introduced key version v
}

func newState() *State {
	return &State{
		principals: map[string]*principal{},
		projects:   map[string]*project{},
		envs:       map[string]*env{},
	}
}

// Verify replays a whole org chain, entries 0 to head in order, checking
// every link, signature and signer's authority, and returns its State.
//
// anchor is what the chain's root must hash to: the 32-byte anchor this
// client pinned, or the 16-byte prefix a service token carries
// (Token.Anchor). nil means trust on first use: whoever served entries
// chose the org, so show the anchor or the owner's SafetyNumber, and pin the
// State. A client that already holds a State calls Extend instead.
func Verify(entries []*Entry, anchor []byte) (*State, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: empty org chain", ErrTruncated)
	}
	if anchor != nil {
		if len(anchor) != 16 && len(anchor) != 32 {
			return nil, fmt.Errorf("anchor must be 16 or 32 bytes, not %d", len(anchor))
		}
		h := entries[0].Hash()
		if entries[0].seq != 0 || !bytes.Equal(h[:len(anchor)], anchor) {
			return nil, ErrWrongAnchor
		}
	}
	return newState().extend(entries)
}

// Extend verifies entries that continue s and returns the extended State;
// s itself is unchanged.
//
// Fetch from s.Seq() inclusive: entries may repeat any already verified
// ones, which must be byte-for-byte the same (else ErrFork, or
// ErrWrongAnchor for the root), and must reach at least s.Seq() (else
// ErrTruncated), so a server cannot hide that it rewrote or shortened the
// chain by sending nothing. New entries must link to s's head (else ErrFork)
// and to each other (else ErrBadPrev), carry good signatures (ErrBadSignature)
// from signers allowed to sign them (ErrUnauthorized), and follow the
// chain's rules (ErrInvalid).
func (s *State) Extend(entries []*Entry) (*State, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: the server sent no entries (fetch from the verified head, inclusive)", ErrTruncated)
	}
	return s.extend(entries)
}

func (s *State) extend(entries []*Entry) (*State, error) {
	next := uint64(len(s.hashes))
	i := 0
	for ; i < len(entries) && entries[i].seq < next; i++ {
		e := entries[i]
		if i > 0 && e.seq != entries[i-1].seq+1 {
			return nil, fmt.Errorf("org chain entry %d after %d: %w", e.seq, entries[i-1].seq, ErrBadPrev)
		}
		if e.Hash() != s.hashes[e.seq] {
			if e.seq == 0 {
				return nil, ErrWrongAnchor
			}
			return nil, fmt.Errorf("org chain entry %d: %w", e.seq, ErrFork)
		}
	}
	if last := entries[len(entries)-1].seq; next > 0 && last < next-1 {
		return nil, fmt.Errorf("%w: it ends at entry %d, this client verified up to %d", ErrTruncated, last, next-1)
	}
	rest := entries[i:]
	if len(rest) == 0 {
		return s, nil
	}

	x := s.clone()
	var jobs []sigJob
	batch := len(rest) >= parallelMin
	fail := func(k int, err error) (*State, error) {
		if j := verifyBatch(jobs); j >= 0 {
			k, err = jobs[j].index, ErrBadSignature
		}
		e := rest[k]
		return nil, fmt.Errorf("org chain entry %d (%s by %q): %w", e.seq, e.op.Type(), e.signer, err)
	}
	for k, e := range rest {
		seq := next + uint64(k)
		if e.seq != seq {
			return fail(k, ErrBadPrev)
		}
		var prev [32]byte
		if seq > 0 {
			prev = x.hashes[seq-1]
		}
		if e.prev != prev {
			if k == 0 && seq > 0 {
				return fail(k, ErrFork)
			}
			return fail(k, ErrBadPrev)
		}
		key, orgID, err := x.signerKey(e)
		if err != nil {
			return fail(k, err)
		}
		msg := e.signedMessage(orgID)
		if batch {
			jobs = append(jobs, sigJob{index: k, key: key, msg: msg, sig: e.sig})
		} else if !key.verify(msg, e.sig) {
			return fail(k, ErrBadSignature)
		}
		if err := x.apply(seq, e.signer, e.op); err != nil {
			return fail(k, err)
		}
		x.hashes = append(x.hashes, e.Hash())
	}
	if j := verifyBatch(jobs); j >= 0 {
		k := jobs[j].index
		jobs = nil // checked already
		return fail(k, ErrBadSignature)
	}
	x.owned = nil
	return x, nil
}

// Signatures dominate the cost of verifying a chain from scratch (a CI
// runner does it on every run), so long runs of entries are replayed first
// and their signatures checked afterwards on every core. Replaying before
// checking is safe: the State is thrown away unless every signature holds,
// and the error names the first entry that failed.
const parallelMin = 32

type sigJob struct {
	index    int
	key      *Principal
	msg, sig []byte
}

// verifyBatch returns the position in jobs of the first bad signature, or -1.
func verifyBatch(jobs []sigJob) int {
	bad := make([]bool, len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(jobs) {
					return
				}
				bad[j] = !jobs[j].key.verify(jobs[j].msg, jobs[j].sig)
			}
		}()
	}
	wg.Wait()
	return slices.Index(bad, true)
}

// signerKey returns the identity whose key must have signed e, and the org
// ID the signature covers. Entry 0 is signed by the owner it creates; every
// later entry by a current member.
func (x *State) signerKey(e *Entry) (*Principal, string, error) {
	if o, ok := e.op.(CreateOrg); ok {
		if e.seq != 0 {
			return nil, "", fmt.Errorf("%w: org.create after the root", ErrInvalid)
		}
		if o.Owner.id != e.signer {
			return nil, "", fmt.Errorf("%w: the root must be signed by the owner it names", ErrUnauthorized)
		}
		return o.Owner, o.OrgID, nil
	}
	if e.seq == 0 {
		return nil, "", fmt.Errorf("%w: the chain must start with org.create", ErrInvalid)
	}
	p := x.principals[e.signer]
	if p == nil || p.role == 0 {
		return nil, "", fmt.Errorf("%w: signer is not a member", ErrUnauthorized)
	}
	return p.identity(), x.orgID, nil
}

// clone returns a copy of s that extend may change. Principals and
// environments are shared until first changed (see mutPrincipal, mutEnv).
func (s *State) clone() *State {
	return &State{
		orgID:      s.orgID,
		orgName:    s.orgName,
		hashes:     slices.Clip(s.hashes),
		principals: maps.Clone(s.principals),
		projects:   maps.Clone(s.projects),
		envs:       maps.Clone(s.envs),
		owned:      map[string]bool{},
	}
}

func (x *State) mutPrincipal(id string) *principal {
	p := x.principals[id]
	if !x.owned["p:"+id] {
		c := *p
		c.idents = slices.Clip(p.idents)
		c.grants = maps.Clone(p.grants)
		c.access = maps.Clone(p.access)
		for k, t := range c.access {
			c.access[k] = slices.Clip(t)
		}
		p = &c
		x.principals[id] = p
		x.owned["p:"+id] = true
	}
	return p
}

func (x *State) mutEnv(id string) *env {
	e := x.envs[id]
	if !x.owned["e:"+id] {
		c := *e
		c.keys = slices.Clip(e.keys)
		e = &c
		x.envs[id] = e
		x.owned["e:"+id] = true
	}
	return e
}

func (x *State) putPrincipal(p *Principal, seq uint64) *principal {
	q := &principal{kind: p.kind, idents: []identAt{{seq, p}}, grants: map[string]Access{}, access: map[string][]accessAt{}}
	x.principals[p.id] = q
	x.owned["p:"+p.id] = true
	return q
}

func (p *principal) identity() *Principal { return p.idents[len(p.idents)-1].p }

func (p *principal) identityAt(seq uint64) *Principal {
	i := sort.Search(len(p.idents), func(i int) bool { return p.idents[i].seq > seq })
	if i == 0 {
		return nil
	}
	return p.idents[i-1].p
}

// effective is p's access to envID now, from its role, grants or token.
func (p *principal) effective(envID string) Access {
	if p.kind == KindToken {
		if p.revoked || p.tokenEnv != envID {
			return NoAccess
		}
		return p.tokenAccess
	}
	if p.role == 0 {
		return NoAccess
	}
	a := p.grants[envID]
	if p.role == Viewer {
		a = min(a, Read)
	}
	return a
}

// refresh records p's effective access to envIDs as of seq, where it changed.
func (p *principal) refresh(seq uint64, envIDs ...string) {
	for _, e := range envIDs {
		t := p.access[e]
		last := NoAccess
		if len(t) > 0 {
			last = t[len(t)-1].access
		}
		if a := p.effective(e); a != last {
			p.access[e] = append(t, accessAt{seq, a})
		}
	}
}

func (p *principal) accessAt(envID string, seq uint64) Access {
	t := p.access[envID]
	i := sort.Search(len(t), func(i int) bool { return t[i].seq > seq })
	if i == 0 {
		return NoAccess
	}
	return t[i-1].access
}

func (x *State) member(id string) *principal {
	if p := x.principals[id]; p != nil && p.kind == KindUser && p.role != 0 {
		return p
	}
	return nil
}

func (x *State) owners() int {
	n := 0
	for _, p := range x.principals {
		if p.role == Owner {
			n++
		}
	}
	return n
}

func unauthorized(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnauthorized}, args...)...)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// apply checks the signer's authority for op and the chain's rules, then
// records op at seq. The signature has been checked (or queued) already.
func (x *State) apply(seq uint64, signer string, op Op) error {
	admin := func() error {
		if r := x.Role(signer); r != Owner && r != Admin {
			return unauthorized("a %s may not sign %s", r, op.Type())
		}
		return nil
	}
	ownerFor := func(roles ...Role) error {
		if slices.Contains(roles, Owner) && x.Role(signer) != Owner {
			return unauthorized("only an owner may give, change or take the owner role")
		}
		return nil
	}
	lastOwner := func(p *principal, newRole Role) error {
		if p.role == Owner && newRole != Owner && x.owners() == 1 {
			return invalid("the org would have no owner")
		}
		return nil
	}
	switch o := op.(type) {
	case CreateOrg:
		x.orgID, x.orgName = o.OrgID, o.Name
		x.putPrincipal(o.Owner, seq).role = Owner

	case AddMember:
		if err := firstErr(admin(), ownerFor(o.Role)); err != nil {
			return err
		}
		id := o.Member.id
		if p := x.principals[id]; p != nil {
			if p.kind != KindUser || p.role != 0 {
				return invalid("%q is already a member or a token", id)
			}
			p = x.mutPrincipal(id)
			if !p.identity().Equal(o.Member) {
				p.idents = append(p.idents, identAt{seq, o.Member})
			}
			p.role = o.Role
		} else {
			x.putPrincipal(o.Member, seq).role = o.Role
		}

	case SetRole:
		if err := admin(); err != nil {
			return err
		}
		p := x.member(o.MemberID)
		if p == nil {
			return invalid("%q is not a member", o.MemberID)
		}
		if err := firstErr(ownerFor(p.role, o.Role), lastOwner(p, o.Role)); err != nil {
			return err
		}
		p = x.mutPrincipal(o.MemberID)
		p.role = o.Role
		p.refresh(seq, slices.Sorted(maps.Keys(p.grants))...)

	case RemoveMember:
		if err := admin(); err != nil {
			return err
		}
		p := x.member(o.MemberID)
		if p == nil {
			return invalid("%q is not a member", o.MemberID)
		}
		if err := firstErr(ownerFor(p.role), lastOwner(p, 0)); err != nil {
			return err
		}
		p = x.mutPrincipal(o.MemberID)
		envs := slices.Sorted(maps.Keys(p.grants))
		p.role, p.grants = 0, map[string]Access{}
		p.refresh(seq, envs...)

	case CreateProject:
		if err := admin(); err != nil {
			return err
		}
		if x.projects[o.ProjectID] != nil {
			return invalid("project %q already exists", o.ProjectID)
		}
		if _, ok := x.LookupProject(o.Name); ok {
			return invalid("a project is already named %q", o.Name)
		}
		x.projects[o.ProjectID] = &project{name: o.Name, seq: seq}

	case CreateEnv:
		if err := admin(); err != nil {
			return err
		}
		if x.envs[o.EnvID] != nil {
			return invalid("environment %q already exists", o.EnvID)
		}
		if x.projects[o.ProjectID] == nil {
			return invalid("no project %q", o.ProjectID)
		}
		if _, ok := x.LookupEnv(o.ProjectID, o.Name); ok {
			return invalid("project %q already has an environment named %q", o.ProjectID, o.Name)
		}
		x.envs[o.EnvID] = &env{project: o.ProjectID, name: o.Name, keys: []uint64{seq}}
		x.owned["e:"+o.EnvID] = true
		p := x.mutPrincipal(signer)
		p.grants[o.EnvID] = Write
		p.refresh(seq, o.EnvID)

	case GrantAccess:
		if err := admin(); err != nil {
			return err
		}
		if x.member(o.MemberID) == nil {
			return invalid("%q is not a member", o.MemberID)
		}
		for _, e := range o.EnvIDs {
			if x.envs[e] == nil {
				return invalid("no environment %q", e)
			}
		}
		p := x.mutPrincipal(o.MemberID)
		for _, e := range o.EnvIDs {
			p.grants[e] = o.Access
		}
		p.refresh(seq, o.EnvIDs...)

	case RevokeAccess:
		if err := admin(); err != nil {
			return err
		}
		p := x.member(o.MemberID)
		if p == nil {
			return invalid("%q is not a member", o.MemberID)
		}
		for _, e := range o.EnvIDs {
			if _, ok := p.grants[e]; !ok {
				return invalid("%q has no access to %q to revoke", o.MemberID, e)
			}
		}
		p = x.mutPrincipal(o.MemberID)
		for _, e := range o.EnvIDs {
			delete(p.grants, e)
		}
		p.refresh(seq, o.EnvIDs...)

	case CreateToken:
		if x.envs[o.EnvID] == nil {
			return invalid("no environment %q", o.EnvID)
		}
		if a := x.principals[signer].effective(o.EnvID); a < o.Access {
			return unauthorized("a member with %s access may not create a %s token", a, o.Access)
		}
		if x.principals[o.Token.id] != nil {
			return invalid("principal %q already exists", o.Token.id)
		}
		p := x.putPrincipal(o.Token, seq)
		p.tokenEnv, p.tokenAccess, p.tokenCreator = o.EnvID, o.Access, signer
		if !o.Expires.IsZero() {
			p.expires = o.Expires.Unix()
		}
		p.refresh(seq, o.EnvID)

	case RevokeToken:
		t := x.principals[o.TokenID]
		if t == nil || t.kind != KindToken || t.revoked {
			return invalid("no live token %q", o.TokenID)
		}
		if r := x.Role(signer); r != Owner && r != Admin && x.principals[signer].effective(t.tokenEnv) == NoAccess {
			return unauthorized("only an owner, an admin or a member with access to the token's environment may revoke it")
		}
		t = x.mutPrincipal(o.TokenID)
		t.revoked = true
		t.refresh(seq, t.tokenEnv)

	case RotateKey:
		e := x.envs[o.EnvID]
		if e == nil {
			return invalid("no environment %q", o.EnvID)
		}
		if x.principals[signer].effective(o.EnvID) == NoAccess {
			return unauthorized("only a member with access to the environment may rotate its key")
		}
		if o.Version != len(e.keys)+1 {
			return invalid("key version %d does not follow %d", o.Version, len(e.keys))
		}
		e = x.mutEnv(o.EnvID)
		e.keys = append(e.keys, seq)

	default:
		return invalid("unknown entry type %T", op)
	}
	return nil
}

// firstErr returns the first non-nil error of errs.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// NewOrg returns entry 0 of a new org's chain, signed by owner, whose
// identity it records. Verify([]*Entry{root}, nil) gives the State to pin;
// its Anchor is the org anchor.
func NewOrg(owner *Signer, identity *Principal, orgID, name string) (*Entry, error) {
	e := newEntry(0, [32]byte{}, CreateOrg{OrgID: orgID, Name: name, Owner: identity}, owner.id)
	return signChecked(owner, e, orgID, newState())
}

// Append signs op as the next entry of s's chain and returns it, after
// checking that it verifies on top of s: signer is allowed to sign it and it
// follows the chain's rules. Send it to the server; once the server accepts
// it, extend the cached State with it (or fetch, if another entry won).
func (s *State) Append(signer *Signer, op Op) (*Entry, error) {
	e := newEntry(s.Seq()+1, s.Head(), op, signer.id)
	return signChecked(signer, e, s.orgID, s)
}

func signChecked(signer *Signer, e *Entry, orgID string, on *State) (*Entry, error) {
	e.sig = signer.sign(e.signedMessage(orgID))
	// Parse what was built, so that every field check applies, then verify.
	parsed, err := ParseEntry(e.Bytes())
	if err != nil {
		return nil, fmt.Errorf("cannot sign %s: %w", e.op.Type(), err)
	}
	if _, err := on.extend([]*Entry{parsed}); err != nil {
		return nil, fmt.Errorf("cannot sign %s: %w", e.op.Type(), err)
	}
	return parsed, nil
}

// OrgID returns the org's ID, from the root entry.
func (s *State) OrgID() string { return s.orgID }

// OrgName returns the org's name, from the root entry.
func (s *State) OrgName() string { return s.orgName }

// Seq returns the seq of the last verified entry (the head).
func (s *State) Seq() uint64 { return uint64(len(s.hashes)) - 1 }

// Head returns the hash of the last verified entry.
func (s *State) Head() [32]byte { return s.hashes[len(s.hashes)-1] }

// Anchor returns the org anchor: SHA-256 of entry 0. Pin it; carry its
// first 16 bytes in service tokens (GenerateToken).
func (s *State) Anchor() [32]byte { return s.hashes[0] }

// Member is a current member of the org.
type Member struct {
	Principal *Principal
	Role      Role
}

// Members returns the current members, ordered by principal ID.
func (s *State) Members() []Member {
	var out []Member
	for _, id := range slices.Sorted(maps.Keys(s.principals)) {
		if p := s.member(id); p != nil {
			out = append(out, Member{p.identity(), p.role})
		}
	}
	return out
}

// Role returns id's current role in the org, or 0 if id is not a member.
func (s *State) Role(id string) Role {
	if p := s.principals[id]; p != nil {
		return p.role
	}
	return 0
}

// Principal returns the current identity of any user or token the chain
// has recorded, including removed members and revoked tokens, so that old
// signatures can still be shown; use Role and Access for what it may do.
func (s *State) Principal(id string) (*Principal, bool) {
	if p := s.principals[id]; p != nil {
		return p.identity(), true
	}
	return nil, false
}

// Env is an environment as the chain records it.
type Env struct {
	ID, ProjectID, Name string
	// KeyVersion is the current key version; KeySeq is the seq of the
	// env.create or key.rotate entry that introduced it.
	KeyVersion int
	KeySeq     uint64
}

// Env returns the environment with ID id.
func (s *State) Env(id string) (Env, bool) {
	e := s.envs[id]
	if e == nil {
		return Env{}, false
	}
	return Env{ID: id, ProjectID: e.project, Name: e.name, KeyVersion: len(e.keys), KeySeq: e.keys[len(e.keys)-1]}, true
}

// LookupEnv returns the environment named name in project projectID. Names
// are bound to IDs by the signed chain, so a server cannot swap two
// environments' names: look the ID up here, never take it from the server.
func (s *State) LookupEnv(projectID, name string) (Env, bool) {
	for id, e := range s.envs {
		if e.project == projectID && e.name == name {
			return s.Env(id)
		}
	}
	return Env{}, false
}

// LookupProject returns the ID of the project named name.
func (s *State) LookupProject(name string) (string, bool) {
	for id, p := range s.projects {
		if p.name == name {
			return id, true
		}
	}
	return "", false
}

// Access returns what principalID (a user or a token) could do with envID
// just after entry seq: NoAccess, Read or Write. Pass s.Seq() for now.
func (s *State) Access(principalID, envID string, seq uint64) Access {
	p := s.principals[principalID]
	if p == nil || seq > s.Seq() {
		return NoAccess
	}
	return p.accessAt(envID, seq)
}

// Readers returns every principal, users and tokens, that may read envID
// now, ordered by ID: whom to wrap a new key version to, and whose grants a
// key holder should complete.
func (s *State) Readers(envID string) []*Principal {
	var out []*Principal
	for _, id := range slices.Sorted(maps.Keys(s.principals)) {
		p := s.principals[id]
		if p.accessAt(envID, s.Seq()) != NoAccess {
			out = append(out, p.identity())
		}
	}
	return out
}

// TokenInfo is a service token as the chain records it.
type TokenInfo struct {
	Principal *Principal
	EnvID     string
	Access    Access
	Expires   time.Time // zero for none; enforced by the server, not by the chain
	Revoked   bool
	// Creator is the principal that signed the token.create: whose tokens
	// to revoke when they leave.
	Creator string
}

// Token returns the token with principal ID id.
func (s *State) Token(id string) (TokenInfo, bool) {
	p := s.principals[id]
	if p == nil || p.kind != KindToken {
		return TokenInfo{}, false
	}
	t := TokenInfo{Principal: p.identity(), EnvID: p.tokenEnv, Access: p.tokenAccess, Revoked: p.revoked, Creator: p.tokenCreator}
	if p.expires != 0 {
		t.Expires = time.Unix(p.expires, 0).UTC()
	}
	return t, true
}

// keyVersionAt returns envID's key version just after entry seq, 0 if the
// environment did not exist yet.
func (s *State) keyVersionAt(envID string, seq uint64) int {
	e := s.envs[envID]
	if e == nil {
		return 0
	}
	return sort.Search(len(e.keys), func(i int) bool { return e.keys[i] > seq })
}

// ProjectName returns the name of the project with ID id.
func (s *State) ProjectName(id string) (string, bool) {
	if p := s.projects[id]; p != nil {
		return p.name, true
	}
	return "", false
}

// Envs returns every environment of the org, in the order they were
// created.
func (s *State) Envs() []Env {
	ids := slices.Collect(maps.Keys(s.envs))
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(s.envs[a].keys[0], s.envs[b].keys[0]) })
	out := make([]Env, 0, len(ids))
	for _, id := range ids {
		e, _ := s.Env(id)
		out = append(out, e)
	}
	return out
}

// Tokens returns every service token the chain has recorded, revoked ones
// included, ordered by ID.
func (s *State) Tokens() []TokenInfo {
	var out []TokenInfo
	for _, id := range slices.Sorted(maps.Keys(s.principals)) {
		if t, ok := s.Token(id); ok {
			out = append(out, t)
		}
	}
	return out
}

// FirstSeen returns the entry at which the chain first recorded principal
// id (its member.add or token.create, or the root for the owner).
func (s *State) FirstSeen(id string) (uint64, bool) {
	p := s.principals[id]
	if p == nil || len(p.idents) == 0 {
		return 0, false
	}
	return p.idents[0].seq, true
}

// RotationOwed reports whether envID's current key version was readable by
// some principal that may no longer read it (a removal, a revocation, a
// revoked token) with no key.rotate since: whoever holds the key must
// rotate before anything more is sealed under it. The chain alone says
// so, so a server cannot hide that a rotation is due.
func (s *State) RotationOwed(envID string) bool {
	e := s.envs[envID]
	if e == nil {
		return false
	}
	since := e.keys[len(e.keys)-1]
	for _, p := range s.principals {
		if p.effective(envID) != NoAccess {
			continue
		}
		t := p.access[envID]
		for i, a := range t {
			// Access held at the key's introduction, or gained after it.
			held := a.seq >= since && a.access != NoAccess ||
				a.seq < since && a.access != NoAccess && (i+1 == len(t) || t[i+1].seq > since)
			if held {
				return true
			}
		}
	}
	return false
}
