package trust

import (
	"encoding/binary"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// The canonical encoding used for everything that is hashed or signed:
// fixed-width big-endian integers, fixed-size byte strings (keys, hashes,
// signatures) as they are, and variable-length fields prefixed by their
// length as a uint32. Field order is fixed by each type, so every value has
// exactly one encoding and no two values share one. No maps, no JSON.

type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) raw(p []byte) { e.b = append(e.b, p...) }
func (e *encoder) str(s string) {
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) bytes(p []byte) {
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(len(p)))
	e.b = append(e.b, p...)
}

// decoder reads what encoder wrote. The first error sticks; check it once
// with done, which also refuses trailing bytes.
type decoder struct {
	b   []byte
	err error
	// whole, when set, is all of b as one string: str then returns
	// substrings of it instead of allocating each (ParseState).
	whole string
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8() uint8 {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) u64() uint64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (d *decoder) bytes() []byte {
	p := d.take(4)
	if p == nil {
		return nil
	}
	return d.take(int(binary.BigEndian.Uint32(p)))
}

func (d *decoder) str() string {
	p := d.bytes()
	if d.whole == "" || p == nil {
		return string(p)
	}
	end := len(d.whole) - len(d.b)
	return d.whole[end-len(p) : end]
}

func (d *decoder) raw(dst []byte) { copy(dst, d.take(len(dst))) }

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// count reads a uint64 element count and bounds it by the bytes left, so a
// corrupted count cannot make the caller allocate without limit.
func (d *decoder) count(minSize int) int {
	n := d.u64()
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail("count %d exceeds the data", n)
		return 0
	}
	return int(n)
}

const (
	maxIDLen   = 64
	maxNameLen = 256
)

// checkID accepts the IDs secr makes (usr_…, env_…, st_…): 1 to 64 ASCII
// letters, digits and "_-.".
func checkID(what, id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%w: %s %q must be 1 to %d characters", ErrMalformed, what, id, maxIDLen)
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("%w: %s %q has a character other than letters, digits and _-.", ErrMalformed, what, id)
		}
	}
	return nil
}

// checkName accepts names people read (emails, org, project, environment
// and token names): valid UTF-8 without control characters, so a name cannot
// rewrite a terminal line to look like another.
func checkName(what, s string) error {
	if s == "" || len(s) > maxNameLen || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s %q must be 1 to %d bytes of UTF-8", ErrMalformed, what, s, maxNameLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("%w: %s %q contains a control character", ErrMalformed, what, s)
		}
	}
	return nil
}
