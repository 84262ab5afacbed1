package trust

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
)

// Bytes returns a compact encoding of s for a client to cache on disk, so
// that it resumes with Extend instead of verifying the chain again. It holds
// the replayed state, not the entries: identities, roles, access timelines,
// key versions and the hash of every entry (to recognise a fork anywhere).
//
// The cache is trusted as much as the machine's disk: ParseState checks
// its structure and a checksum against corruption, not signatures. Store it
// with mode 0600 beside the other per-org state.
// stateTag starts a cached State. It names the encoding: a cache in
// another one is refused (and the client says to delete it), never
// misread. Encoding 4 is encoding 2 with a CRC-32 (IEEE) trailer instead of
// a SHA-256 one: the checksum is against corruption, not an attacker, and
// every command pays for it. Encodings 3 (a CRC-32C trailer) and 2 are
// still read. CRC-32C was dropped because hash/crc32 builds its amd64
// tables for it on first use in each process, 1.3 million instructions, a
// third of a whole 'secr run' (a Go benchmark, which pays it once, does not
// show it); the IEEE table is built at package initialisation in a few
// thousand.
const (
	stateTag       = "secr/v2/state/4"
	stateTagCRC32C = "secr/v2/state/3"
	stateTagSHA256 = "secr/v2/state/2"
)

// stateChecksum is the CRC-32 (IEEE) of an encoding-4 state.
func stateChecksum(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

func (s *State) Bytes() []byte {
	var e encoder
	e.str(stateTag)
	e.str(s.orgID)
	e.str(s.orgName)
	e.u64(uint64(len(s.hashes)))
	for _, h := range s.hashes {
		e.raw(h[:])
	}
	e.u64(uint64(len(s.principals)))
	for _, id := range slices.Sorted(maps.Keys(s.principals)) {
		p := s.principals[id]
		e.str(id)
		e.u8(uint8(p.kind))
		e.u8(uint8(p.role))
		e.u64(uint64(len(p.idents)))
		for _, i := range p.idents {
			e.u64(i.seq)
			e.bytes(i.p.Bytes())
		}
		e.u64(uint64(len(p.grants)))
		for _, env := range slices.Sorted(maps.Keys(p.grants)) {
			e.str(env)
			e.u8(uint8(p.grants[env]))
		}
		e.str(p.tokenEnv)
		e.u8(uint8(p.tokenAccess))
		e.u64(uint64(p.expires))
		e.u8(b2u(p.revoked))
		e.str(p.tokenCreator)
		e.u64(uint64(len(p.access)))
		for _, env := range slices.Sorted(maps.Keys(p.access)) {
			e.str(env)
			e.u64(uint64(len(p.access[env])))
			for _, a := range p.access[env] {
				e.u64(a.seq)
				e.u8(uint8(a.access))
			}
		}
	}
	e.u64(uint64(len(s.projects)))
	for _, id := range slices.Sorted(maps.Keys(s.projects)) {
		e.str(id)
		e.str(s.projects[id].name)
		e.u64(s.projects[id].seq)
	}
	e.u64(uint64(len(s.envs)))
	for _, id := range slices.Sorted(maps.Keys(s.envs)) {
		env := s.envs[id]
		e.str(id)
		e.str(env.project)
		e.str(env.name)
		e.u64(uint64(len(env.keys)))
		for _, k := range env.keys {
			e.u64(k)
		}
	}
	return binary.BigEndian.AppendUint32(e.b, stateChecksum(e.b))
}

// hasTag reports whether b starts with the encoder's encoding of tag.
func hasTag(b []byte, tag string) bool {
	return len(b) >= 4+len(tag) && binary.BigEndian.Uint32(b) == uint32(len(tag)) && string(b[4:4+len(tag)]) == tag
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// sorted fails d unless id, the i-th key of a list that Bytes writes in
// order, comes after the one before (*last): a state is read only in the
// one encoding Bytes gives it, so no key is repeated (the later copy would
// replace the earlier one in the map) and the re-encoding is the input.
func (d *decoder) sorted(last *string, id string, i int, what string) {
	if d.err == nil && i > 0 && id <= *last {
		d.fail("%s out of order or repeated", what)
	}
	*last = id
}

// ParseState parses the encoding produced by State.Bytes.
func ParseState(b []byte) (*State, error) {
	var body []byte
	var tag string
	switch {
	case hasTag(b, stateTag) && len(b) >= 4:
		body, tag = b[:len(b)-4], stateTag
		if stateChecksum(body) != binary.BigEndian.Uint32(b[len(b)-4:]) {
			return nil, fmt.Errorf("cached org chain state: %w: checksum mismatch", ErrMalformed)
		}
	case hasTag(b, stateTagCRC32C) && len(b) >= 4:
		body, tag = b[:len(b)-4], stateTagCRC32C
		if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(b[len(b)-4:]) {
			return nil, fmt.Errorf("cached org chain state: %w: checksum mismatch", ErrMalformed)
		}
	case hasTag(b, stateTagSHA256) && len(b) >= sha256.Size:
		body, tag = b[:len(b)-sha256.Size], stateTagSHA256
		if sha256.Sum256(body) != [32]byte(b[len(b)-sha256.Size:]) {
			return nil, fmt.Errorf("cached org chain state: %w: checksum mismatch", ErrMalformed)
		}
	default:
		return nil, fmt.Errorf("cached org chain state: %w: not a cached org chain state", ErrMalformed)
	}
	// The strings (IDs, names) are substrings of one copy of b, and the
	// small structs and slices come from a few slabs: a cold 'secr run'
	// pays for every allocation in page faults. Slices handed out are
	// clipped, so that Extend's appends copy them.
	d := decoder{b: body}
	d.whole = string(d.b)
	if got := d.str(); d.err == nil && got != tag {
		d.fail("not a cached org chain state")
	}
	s := newState()
	s.orgID, s.orgName = d.str(), d.str()
	s.hashes = make([][32]byte, d.count(32))
	for i := range s.hashes {
		d.raw(s.hashes[i][:])
	}
	// Maps are made at their final size: a run of 'secr run' parses the
	// whole cached chain, and growing maps entry by entry was most of it.
	n := d.count(20)
	s.principals = make(map[string]*principal, n)
	principals := make([]principal, n)
	var accessSlab []accessAt
	var lastID string
	for i := range n {
		id := d.str()
		d.sorted(&lastID, id, i, "principals")
		p := &principals[i]
		p.kind, p.role = Kind(d.u8()), Role(d.u8())
		p.idents = make([]identAt, d.count(12))
		for i := range p.idents {
			p.idents[i].seq = d.u64()
			p.idents[i].p = decodeEmbeddedPrincipal(&d)
		}
		ng := d.count(5)
		p.grants = make(map[string]Access, ng)
		var lastEnv string
		for j := range ng {
			env := d.str()
			d.sorted(&lastEnv, env, j, "grants")
			p.grants[env] = Access(d.u8())
		}
		p.tokenEnv, p.tokenAccess = d.str(), Access(d.u8())
		p.expires, p.revoked = int64(d.u64()), d.u8() == 1
		p.tokenCreator = d.str()
		na := d.count(12)
		p.access = make(map[string][]accessAt, na)
		if accessSlab == nil {
			accessSlab = make([]accessAt, 0, na)
		}
		lastEnv = ""
		for j := range na {
			env := d.str()
			d.sorted(&lastEnv, env, j, "access histories")
			start := len(accessSlab)
			for range d.count(9) {
				accessSlab = append(accessSlab, accessAt{d.u64(), Access(d.u8())})
			}
			p.access[env] = accessSlab[start:len(accessSlab):len(accessSlab)]
		}
		if d.err == nil && (len(p.idents) == 0 || p.identity().id != id) {
			d.fail("principal %q without its identity", id)
		}
		s.principals[id] = p
	}
	n = d.count(20)
	s.projects = make(map[string]*project, n)
	projects := make([]project, n)
	for i := range n {
		id := d.str()
		d.sorted(&lastID, id, i, "projects")
		projects[i] = project{name: d.str(), seq: d.u64()}
		s.projects[id] = &projects[i]
	}
	n = d.count(20)
	s.envs = make(map[string]*env, n)
	envs := make([]env, n)
	keySlab := make([]uint64, 0, n)
	for i := range n {
		id := d.str()
		d.sorted(&lastID, id, i, "environments")
		e := &envs[i]
		e.project, e.name = d.str(), d.str()
		start := len(keySlab)
		for range d.count(8) {
			keySlab = append(keySlab, d.u64())
		}
		e.keys = keySlab[start:len(keySlab):len(keySlab)]
		if d.err == nil && len(e.keys) == 0 {
			d.fail("environment %q without a key version", id)
		}
		s.envs[id] = e
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("cached org chain state: %w", err)
	}
	if len(s.hashes) == 0 {
		return nil, fmt.Errorf("cached org chain state: %w: no entries", ErrMalformed)
	}
	return s, nil
}
