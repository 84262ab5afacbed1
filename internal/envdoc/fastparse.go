package envdoc

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// parseFast decodes the exact shape Marshal writes, several times faster
// than encoding/json (which dominates `secr run` for large environments).
// It returns ok=false for anything unexpected, and Parse then falls back to
// encoding/json, so the two always agree on what they accept.
//
// The document is copied into one string, and every name and value
// without escapes is a substring of it: no allocation per secret. The
// secrets come out in the document's order, which is sorted when Marshal
// wrote it (checked as they are read); any other order is sorted here,
// the last of a repeated name winning, as in encoding/json's map.
func parseFast(b []byte) (d *Doc, ok bool) {
	// Valid UTF-8 as a whole means every string in it is: a string's
	// quotes are ASCII, which never occurs inside a multi-byte sequence.
	// Invalid UTF-8 is left to encoding/json (which replaces it).
	if !utf8.Valid(b) {
		return nil, false
	}
	p := fastParser{b: b, s: string(b)}
	d = &Doc{}
	if !p.consume('{') {
		return nil, false
	}
	sawVersion, sawSecrets := false, false
	for first := true; ; first = false {
		if p.consume('}') {
			break
		}
		if !first && !p.consume(',') {
			return nil, false
		}
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return nil, false
		}
		switch key {
		case "v":
			n, ok := p.int()
			if !ok {
				return nil, false
			}
			d.Version, sawVersion = n, true
		case "secrets":
			if sawSecrets {
				return nil, false // encoding/json merges the two: leave it that
			}
			// Every secret is one object, so one {. Braces in values make
			// this an overestimate, bounded by the shortest secret
			// ("A":{},) being 7 bytes.
			if d.secrets, ok = p.secrets(min(bytes.Count(b, []byte{'{'}), len(b)/7)); !ok {
				return nil, false
			}
			sawSecrets = true
		default:
			return nil, false
		}
	}
	p.ws()
	return d, sawVersion && p.i == len(p.s)
}

type fastParser struct {
	b []byte // the document
	s string // the same, as a string: what names and values are cut from
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *fastParser) consume(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) int() (int, bool) {
	p.ws()
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == start || p.i-start > 9 || (p.s[start] == '0' && p.i-start > 1) {
		return 0, false
	}
	n, err := strconv.Atoi(p.s[start:p.i])
	return n, err == nil
}

// secrets reads the secrets object, sorted by name. n is a capacity hint.
func (p *fastParser) secrets(n int) ([]Secret, bool) {
	if !p.consume('{') {
		return nil, false
	}
	out := make([]Secret, 0, n)
	sorted := true
	for first := true; ; first = false {
		if p.consume('}') {
			break
		}
		if !first && !p.consume(',') {
			return nil, false
		}
		name, ok := p.str()
		if !ok || !p.consume(':') || !p.consume('{') {
			return nil, false
		}
		s := Secret{Name: name}
		for f := true; ; f = false {
			if p.consume('}') {
				break
			}
			if !f && !p.consume(',') {
				return nil, false
			}
			key, ok := p.str()
			if !ok || !p.consume(':') {
				return nil, false
			}
			switch key {
			case "value":
				if s.Value, ok = p.str(); !ok {
					return nil, false
				}
			case "not_secret":
				if s.NotSecret, ok = p.boolean(); !ok {
					return nil, false
				}
			default:
				return nil, false
			}
		}
		if len(out) > 0 && name <= out[len(out)-1].Name {
			sorted = false
		}
		out = append(out, s)
	}
	if !sorted {
		out = SortByName(out)
	}
	return out, true
}

func (p *fastParser) boolean() (bool, bool) {
	p.ws()
	rest := p.s[p.i:]
	if strings.HasPrefix(rest, "true") {
		p.i += 4
		return true, true
	}
	if strings.HasPrefix(rest, "false") {
		p.i += 5
		return false, true
	}
	return false, false
}

// str reads a JSON string: a substring of the document when it has no
// escapes. Control characters make it give up, leaving them to
// encoding/json.
func (p *fastParser) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	start := p.i
	end := strings.IndexByte(p.s[start:], '"')
	if end < 0 {
		return "", false
	}
	end += start
	if plain(p.b[start:end]) {
		p.i = end + 1
		return p.s[start:end], true
	}
	out := []byte(nil)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", false
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				if p.i+1 < len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", false
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
				if r == utf8.RuneError {
					return "", false // lone surrogates: leave the exact semantics to encoding/json
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *fastParser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for i := p.i; i < p.i+4; i++ {
		c := p.s[i]
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// plain reports whether a JSON string's bytes b (up to its closing quote)
// hold no backslash and no control character, i.e. mean themselves. It
// tests eight bytes at a time: a byte of x is below 0x20 when subtracting
// 0x20 from it borrows into its top bit while its own top bit is clear,
// and equal to '\\' when it is zero after an exclusive or with '\\'. A
// borrow carried from a lower byte can only follow a byte that matched, so
// a word passes exactly when all its bytes do (TestPlainMatchesByteLoop).
func plain(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		y := x ^ ('\\' * ones)
		if ((x-0x20*ones)|(y-ones))&^x&highs != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c == '\\' {
			return false
		}
	}
	return true
}
