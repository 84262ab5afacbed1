package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// TestAttackClient3_StateCorruptionRefused (review of bf43675): a pinned
// state in any encoding still read (4: CRC-32 IEEE, 3: CRC-32C, 2:
// SHA-256) is refused after any one flipped bit, any two flipped bits in
// one byte, any byte changed to any other value at the tag's length
// prefix, and any tag relabelling that keeps the other encoding's
// trailer: corruption never reaches the parser as a different state. (The
// checksums are against corruption, not an attacker who can write the
// state directory: TRUST.md trusts that disk as much as the machine.)
// Passed before the review.
func TestAttackClient3_StateCorruptionRefused(t *testing.T) {
	f := newFixture(t)
	cached := f.st.Bytes()
	body4 := cached[:len(cached)-4]
	relabel := func(tag string) []byte { return bytes.Replace(body4, []byte(stateTag), []byte(tag), 1) }
	body3, body2 := relabel(stateTagCRC32C), relabel(stateTagSHA256)
	sum2 := sha256.Sum256(body2)
	encodings := map[string][]byte{
		"4": cached,
		"3": binary.BigEndian.AppendUint32(bytes.Clone(body3), crc32.Checksum(body3, crc32.MakeTable(crc32.Castagnoli))),
		"2": append(bytes.Clone(body2), sum2[:]...),
	}
	for name, b := range encodings {
		st, err := ParseState(b)
		if err != nil || !bytes.Equal(st.Bytes(), cached) {
			t.Fatalf("encoding %s does not read as the state: %v", name, err)
		}
		refuse := func(what string, c []byte) {
			t.Helper()
			if _, err := ParseState(c); !errors.Is(err, ErrMalformed) {
				t.Fatalf("encoding %s, %s: %v", name, what, err)
			}
		}
		for i := range len(b) * 8 {
			c := bytes.Clone(b)
			c[i/8] ^= 1 << (i % 8)
			refuse("one bit flipped", c)
			for j := i%8 + 1; j < 8; j++ {
				c2 := bytes.Clone(c)
				c2[i/8] ^= 1 << j
				refuse("two bits flipped", c2)
			}
		}
		for i := range 4 {
			for v := range 256 {
				if c := bytes.Clone(b); c[i] != byte(v) {
					c[i] = byte(v)
					refuse("tag length changed", c)
				}
			}
		}
	}
	// Another encoding's trailer under a tag: refused, never read by the
	// other encoding's rules.
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"CRC-32C trailer under tag 4", binary.BigEndian.AppendUint32(bytes.Clone(body4), crc32.Checksum(body4, crc32.MakeTable(crc32.Castagnoli)))},
		{"CRC-32 trailer under tag 3", binary.BigEndian.AppendUint32(bytes.Clone(body3), crc32.ChecksumIEEE(body3))},
		{"SHA-256 trailer under tag 4", func() []byte { s := sha256.Sum256(body4); return append(bytes.Clone(body4), s[:]...) }()},
		{"CRC-32 trailer under tag 2", binary.BigEndian.AppendUint32(bytes.Clone(body2), crc32.ChecksumIEEE(body2))},
	} {
		if _, err := ParseState(tc.b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}
