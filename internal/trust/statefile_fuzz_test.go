package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzParseStateChecksummed: a pinned state whose body is anything, under
// a checksum that matches (CRC-32; or an older encoding's, CRC-32C or
// SHA-256, by enc), is a clean error or a state that re-encodes to the same
// body; extending a parsed state never changes it (its slabs are shared
// with the copy).
func FuzzParseStateChecksummed(f *testing.F) {
	fx := newFixture(f)
	b := fx.st.Bytes()
	for enc := range uint8(3) {
		f.Add(b[:len(b)-4], enc)
	}
	f.Add([]byte{}, uint8(0))
	next, err := fx.st.Append(fx.bob.s, CreateEnv{"env_fuzz", "prj_web", "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, encoding uint8) {
		// An older encoding has its own tag (of the same length).
		retag := func(tag string) {
			if hasTag(body, stateTag) {
				body = append([]byte(nil), body...)
				copy(body[4:], tag)
			}
		}
		var in []byte
		switch encoding % 3 {
		case 0:
			in = binary.BigEndian.AppendUint32(append([]byte(nil), body...), stateChecksum(body))
		case 1:
			retag(stateTagSHA256)
			sum := sha256.Sum256(body)
			in = append(append([]byte(nil), body...), sum[:]...)
		case 2:
			retag(stateTagCRC32C)
			in = binary.BigEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
		}
		current := encoding%3 == 0
		st, err := ParseState(in)
		if err != nil {
			return
		}
		enc := st.Bytes()
		if current && !bytes.Equal(enc, in) {
			t.Fatal("state re-encodes differently")
		}
		if again, err := ParseState(enc); err != nil || !bytes.Equal(again.Bytes(), enc) {
			t.Fatalf("re-encoded state does not parse to itself: %v", err)
		}
		// Copy-on-write: whatever Extend does to its copy, st stays as parsed.
		_, _ = st.Extend([]*Entry{next})
		if !bytes.Equal(st.Bytes(), enc) {
			t.Fatal("Extend changed the state it extended")
		}
	})
}

// TestParsedStateSlabsCopyOnWrite: a parsed state's principals,
// access histories and key lists share slabs; extending it by entries that
// append to each of them (access granted, revoked and changed, a role
// changed, a member removed, a key rotated, an environment created) leaves
// the parsed state, and a second extension of it, exactly as they were.
func TestParsedStateSlabsCopyOnWrite(t *testing.T) {
	fx := newFixture(t)
	parsed, err := ParseState(fx.st.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := parsed.Bytes()
	fx.st = parsed
	fx.add(fx.bob, GrantAccess{"usr_dave", []string{"env_dev"}, Read})
	fx.add(fx.bob, RevokeAccess{"usr_carol", []string{"env_prod"}})
	fx.add(fx.bob, SetRole{"usr_dave", Developer})
	fx.add(fx.bob, GrantAccess{"usr_carol", []string{"env_dev"}, Read})
	fx.add(fx.bob, RotateKey{"env_prod", 2})
	fx.add(fx.bob, CreateEnv{"env_stage", "prj_web", "staging"})
	fx.add(fx.bob, RemoveMember{"usr_dave"})
	if !bytes.Equal(parsed.Bytes(), want) {
		t.Fatal("extending a parsed state changed it")
	}
	// The same parsed state extended again, differently: what the first
	// extension appended is not seen here.
	other, err := parsed.Extend(fx.entries[len(fx.entries)-7 : len(fx.entries)-6])
	if err != nil {
		t.Fatal(err)
	}
	if other.Access("usr_dave", "env_dev", other.Seq()) != Read || other.Access("usr_carol", "env_prod", other.Seq()) != Write {
		t.Fatal("a second extension of the parsed state sees the first's changes")
	}
	if !bytes.Equal(parsed.Bytes(), want) {
		t.Fatal("extending a parsed state twice changed it")
	}
}
