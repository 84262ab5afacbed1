package trust

import (
	"bytes"
	"testing"
)

// tamperCase is a verified chain and revision whose bytes the tamper tests
// change one at a time.
type tamperCase struct {
	f       *fixture
	entries [][]byte // encodings of entries 0, 7 and 9
	header  []byte
	ct      []byte
	key     *testKey
}

func newTamperCase(t testing.TB) *tamperCase {
	f := newFixture(t)
	k := newTestKey("env_prod", 1)
	r := f.seal(f.carol, k, nil, `{"A":"1"}`)
	return &tamperCase{
		f:       f,
		entries: [][]byte{f.entries[0].Bytes(), f.entries[7].Bytes(), f.entries[9].Bytes()},
		header:  r.h.Bytes(),
		ct:      r.ct,
		key:     k,
	}
}

// entryAccepted reports whether the chain verifies with entry which (0, 7
// or 9) replaced by b.
func (c *tamperCase) entryAccepted(which int, b []byte) bool {
	e, err := ParseEntry(b)
	if err != nil {
		return false
	}
	chain := append([]*Entry(nil), c.f.entries...)
	chain[which] = e
	_, err = Verify(chain, nil)
	return err == nil
}

func (c *tamperCase) revisionAccepted(header, ct []byte) bool {
	h, err := ParseHeader(header)
	if err != nil {
		return false
	}
	_, err = c.f.st.OpenLatest("env_prod", h, ct, c.key)
	return err == nil
}

// TestTamperEveryByte changes every byte of an entry, a header and a
// ciphertext in turn; each change must be refused.
func TestTamperEveryByte(t *testing.T) {
	c := newTamperCase(t)
	for i, which := range []int{0, 7, 9} {
		if !c.entryAccepted(which, c.entries[i]) {
			t.Fatalf("untouched entry %d refused", which)
		}
		for j := range c.entries[i] {
			b := bytes.Clone(c.entries[i])
			b[j] ^= 0x01
			if c.entryAccepted(which, b) {
				t.Fatalf("entry %d with byte %d changed was accepted", which, j)
			}
		}
	}
	if !c.revisionAccepted(c.header, c.ct) {
		t.Fatal("untouched revision refused")
	}
	for j := range c.header {
		b := bytes.Clone(c.header)
		b[j] ^= 0x80
		if c.revisionAccepted(b, c.ct) {
			t.Fatalf("header with byte %d changed was accepted", j)
		}
	}
	for j := range c.ct {
		b := bytes.Clone(c.ct)
		b[j] ^= 0x01
		if c.revisionAccepted(c.header, b) {
			t.Fatalf("ciphertext with byte %d changed was accepted", j)
		}
	}
}

// FuzzTamper: any change of one byte, to any value, in an entry, a header
// or a ciphertext is detected.
func FuzzTamper(f *testing.F) {
	c := newTamperCase(f)
	f.Add(uint8(0), uint32(0), uint8(1))
	f.Add(uint8(1), uint32(100), uint8(0xff))
	f.Add(uint8(3), uint32(5), uint8(0x80))
	f.Add(uint8(4), uint32(30), uint8(2))
	f.Fuzz(func(t *testing.T, target uint8, pos uint32, xor uint8) {
		if xor == 0 {
			return
		}
		switch target % 5 {
		case 0, 1, 2:
			i := int(target % 5)
			b := bytes.Clone(c.entries[i])
			b[int(pos)%len(b)] ^= xor
			if c.entryAccepted([]int{0, 7, 9}[i], b) {
				t.Fatalf("entry %d with byte %d changed was accepted", i, int(pos)%len(b))
			}
		case 3:
			b := bytes.Clone(c.header)
			b[int(pos)%len(b)] ^= xor
			if c.revisionAccepted(b, c.ct) {
				t.Fatalf("header byte %d changed was accepted", int(pos)%len(b))
			}
		case 4:
			b := bytes.Clone(c.ct)
			b[int(pos)%len(b)] ^= xor
			if c.revisionAccepted(c.header, b) {
				t.Fatalf("ciphertext byte %d changed was accepted", int(pos)%len(b))
			}
		}
	})
}

// FuzzParse: the parsers never panic on what a server may send, and what
// they accept re-encodes to the same bytes (one encoding per value).
func FuzzParse(f *testing.F) {
	c := newTamperCase(f)
	for _, b := range append(c.entries, c.header, c.f.carol.p.Bytes(), c.f.st.Bytes()) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := ParseEntry(b); err == nil {
			again := newEntry(e.seq, e.prev, e.op, e.signer)
			again.sig = e.sig
			if !bytes.Equal(again.Bytes(), b) {
				t.Fatal("entry re-encodes differently")
			}
		}
		if h, err := ParseHeader(b); err == nil && !bytes.Equal(h.Bytes(), b) {
			t.Fatal("header re-encodes differently")
		}
		if g, err := ParseGrant(b); err == nil && !bytes.Equal(g.Bytes(), b) {
			t.Fatal("grant re-encodes differently")
		}
		if p, err := ParsePrincipal(b); err == nil && !bytes.Equal(p.Bytes(), b) {
			t.Fatal("principal re-encodes differently")
		}
		if s, err := ParseState(b); err == nil && !bytes.Equal(s.Bytes(), b) {
			t.Fatal("state re-encodes differently")
		}
	})
}
