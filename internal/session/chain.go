package session

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/secr-dev/secr/internal/trust"
)

// Every command that reads or writes an org first brings this machine's
// verified copy of the org chain up to date (TRUST.md §2). The copy is
// pinned per server under the org's name for a user, or under the anchor a
// service token carries: from the first contact on, the server can only
// extend it. A fork, a rewrite or a shorter chain fails as an integrity
// error, and nothing is written.

// chainKey names t's org in the pinned-chain store.
func (s *Session) chainKey(org string) string {
	if s.token != nil {
		return "anchor:" + hex.EncodeToString(s.token.Anchor())
	}
	return "org:" + org
}

// pinned returns the org chain this machine verified for key, or nil.
func (s *Session) pinned(key string) (*trust.State, error) {
	if s.chains == nil {
		return nil, nil
	}
	data, err := s.chains.Get(s.api, key)
	if err != nil || data == nil {
		return nil, err
	}
	st, err := trust.ParseState(data)
	if err != nil {
		return nil, WithHint(fmt.Errorf("the org chain pinned on this machine is unreadable: %v", err),
			"delete $XDG_STATE_HOME/secr/chains (or ~/.local/state/secr/chains); secr then trusts the server's chain on first use again")
	}
	if s.token != nil && !strings.HasPrefix(string(anchorOf(st)), string(s.token.Anchor())) {
		return nil, nil // another token's org under the same name: verify from the root
	}
	return st, nil
}

func anchorOf(st *trust.State) []byte { a := st.Anchor(); return a[:] }

// chainFrom is the entry to fetch the chain from: the pinned head
// (inclusive, so a rewrite shows), or the root.
func chainFrom(st *trust.State) uint64 {
	if st == nil {
		return 0
	}
	return st.Seq()
}

// advance verifies raw, the chain entries the server sent from
// chainFrom(pinned), on top of pinned, checks that the chain is org's
// (when org is not ""), pins the result and returns it.
func (s *Session) advance(key, org string, pinned *trust.State, raw [][]byte) (*trust.State, error) {
	entries := make([]*trust.Entry, 0, len(raw))
	for i, b := range raw {
		e, err := trust.ParseEntry(b)
		if err != nil {
			return nil, chainError(org, fmt.Errorf("entry %d of the answer: %w", chainFrom(pinned)+uint64(i), err))
		}
		entries = append(entries, e)
	}
	var st *trust.State
	var err error
	if pinned != nil {
		st, err = pinned.Extend(entries)
	} else {
		var anchor []byte // trust on first use, unless a token says
		if s.token != nil {
			anchor = s.token.Anchor()
		}
		st, err = trust.Verify(entries, anchor)
	}
	if err != nil {
		return nil, chainError(org, err)
	}
	if org != "" && st.OrgName() != org {
		return nil, chainError(org, fmt.Errorf("the server answered with the chain of org %q", st.OrgName()))
	}
	if err := s.checkConfirmed(st); err != nil {
		return nil, err
	}
	if pinned == nil && s.token == nil {
		s.opts.infof("secr: first contact with org %q on %s: pinned its anchor %s (owner's safety number %s). Compare it with 'secr orgs verify %s' on a machine you trust.",
			st.OrgName(), s.api, Fingerprint32(st.Anchor()), ownerSafetyNumber(st), st.OrgName())
	}
	if pinned == nil || st.Seq() > pinned.Seq() {
		s.pin(key, st)
	}
	return st, nil
}

// markID names an environment in the rollback marks: its org's anchor and
// its ID. Environment IDs are made by clients; the anchor keeps another
// org that reuses one (a server's own, say) from raising this one's mark.
func markID(st *trust.State, envID string) string {
	a := st.Anchor()
	return hex.EncodeToString(a[:8]) + "/" + envID
}

// pin stores st as the verified chain for key.
func (s *Session) pin(key string, st *trust.State) {
	if s.chains == nil {
		return
	}
	if err := s.chains.Put(s.api, key, st.Seq(), st.Bytes()); err != nil {
		s.opts.warnf("could not save the verified org chain (the next command verifies it again): %v", err)
	}
}

// chainError reports an org chain that did not verify.
func chainError(org string, err error) error {
	what := "the org chain"
	if org != "" {
		what = fmt.Sprintf("the org chain of %q", org)
	}
	return WithHint(integrityErrorf("%s did not verify: %v", what, err),
		"the server (or someone who can write its database) may be lying about who and what exists in the org: do not use its answers; compare 'secr orgs verify ORG' with a machine you trust and contact the server's administrator")
}

// chainProject brings org's chain up to date and looks project up in it.
func (s *Session) chainProject(ctx context.Context, org, project string) (*trust.State, string, error) {
	st, err := s.Chain(ctx, org)
	if err != nil {
		return nil, "", err
	}
	prj, ok := st.LookupProject(project)
	if !ok {
		return nil, "", usageErrorf("no project %q in org %q: run 'secr projects list'", project, org)
	}
	return st, prj, nil
}

// projectEnvNames returns the names of project prj's environments in st,
// in the order they were created.
func projectEnvNames(st *trust.State, prj string) []string {
	var names []string
	for _, e := range st.Envs() {
		if e.ProjectID == prj {
			names = append(names, e.Name)
		}
	}
	return names
}

// Chain brings this machine's verified copy of org's chain up to date and
// returns it.
func (s *Session) Chain(ctx context.Context, org string) (*trust.State, error) {
	key := s.chainKey(org)
	pinned, err := s.pinned(key)
	if err != nil {
		return nil, err
	}
	c, err := s.client.Chain(ctx, org, chainFrom(pinned))
	if err != nil {
		return nil, Explain(err)
	}
	return s.advance(key, org, pinned, c.Entries)
}

// ownerSafetyNumber is the safety number of the org's first owner.
func ownerSafetyNumber(st *trust.State) string {
	for _, m := range st.Members() {
		if m.Role == trust.Owner {
			return m.Principal.SafetyNumber()
		}
	}
	return "(none)"
}

// Fingerprint32 shows a 32-byte hash as eight groups of four hex digits of
// its first half, for people to compare.
func Fingerprint32(h [32]byte) string {
	x := hex.EncodeToString(h[:16])
	var groups []string
	for i := 0; i < len(x); i += 4 {
		groups = append(groups, x[i:i+4])
	}
	return strings.Join(groups, " ")
}

// OrgInfo is what 'secr orgs verify' shows: the org's anchor and the chain
// head this machine verified, to compare out of band.
type OrgInfo struct {
	Org         string   `json:"org"`
	ID          string   `json:"id"`
	Anchor      string   `json:"anchor"`
	Fingerprint string   `json:"fingerprint"`
	HeadSeq     uint64   `json:"head_seq"`
	Head        string   `json:"head"`
	Owners      []Member `json:"owners"`
}

// Member is one org member, as the verified chain records them.
type Member struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Role         string `json:"role"`
	SafetyNumber string `json:"safety_number"`
}

// VerifyOrg brings org's chain up to date and describes it.
func (s *Session) VerifyOrg(ctx context.Context, org string) (OrgInfo, error) {
	if org == "" {
		return OrgInfo{}, usageErrorf("name the org: secr orgs verify ORG")
	}
	st, err := s.Chain(ctx, org)
	if err != nil {
		return OrgInfo{}, err
	}
	anchor, head := st.Anchor(), st.Head()
	info := OrgInfo{Org: st.OrgName(), ID: st.OrgID(), Anchor: hex.EncodeToString(anchor[:]),
		Fingerprint: Fingerprint32(anchor), HeadSeq: st.Seq(), Head: hex.EncodeToString(head[:])}
	for _, m := range st.Members() {
		if m.Role != trust.Owner {
			continue
		}
		p := m.Principal
		info.Owners = append(info.Owners, Member{ID: p.ID(), Name: p.Name(), Role: m.Role.String(), SafetyNumber: p.SafetyNumber()})
	}
	return info, nil
}
