package envdoc

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// parseFast decodes the exact shape Marshal writes, several times faster
// than encoding/json (which dominates `secr run` for large environments).
// It returns ok=false for anything unexpected, and Parse then falls back to
// encoding/json, so the two always agree on what they accept.
func parseFast(b []byte) (d *Doc, ok bool) {
	p := fastParser{b: b}
	// Size the map once: every secret is an object after a key ("NAME":{),
	// and growing a map of 10,000 entries rehashes it a dozen times. An
	// escaped quote in a value can only make this an overestimate.
	d = &Doc{Secrets: make(map[string]Secret, bytes.Count(b, []byte(`":{`)))}
	if !p.consume('{') {
		return nil, false
	}
	sawVersion := false
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
			if !p.secrets(d.Secrets) {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	p.ws()
	return d, sawVersion && p.i == len(p.b)
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *fastParser) consume(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) int() (int, bool) {
	p.ws()
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == start || p.i-start > 9 || (p.b[start] == '0' && p.i-start > 1) {
		return 0, false
	}
	n, err := strconv.Atoi(string(p.b[start:p.i]))
	return n, err == nil
}

func (p *fastParser) secrets(into map[string]Secret) bool {
	if !p.consume('{') {
		return false
	}
	for first := true; ; first = false {
		if p.consume('}') {
			return true
		}
		if !first && !p.consume(',') {
			return false
		}
		name, ok := p.str()
		if !ok || !p.consume(':') || !p.consume('{') {
			return false
		}
		var s Secret
		for f := true; ; f = false {
			if p.consume('}') {
				break
			}
			if !f && !p.consume(',') {
				return false
			}
			key, ok := p.str()
			if !ok || !p.consume(':') {
				return false
			}
			switch key {
			case "value":
				if s.Value, ok = p.str(); !ok {
					return false
				}
			case "not_secret":
				if s.NotSecret, ok = p.boolean(); !ok {
					return false
				}
			default:
				return false
			}
		}
		into[name] = s
	}
}

func (p *fastParser) boolean() (bool, bool) {
	p.ws()
	rest := p.b[p.i:]
	if len(rest) >= 4 && string(rest[:4]) == "true" {
		p.i += 4
		return true, true
	}
	if len(rest) >= 5 && string(rest[:5]) == "false" {
		p.i += 5
		return false, true
	}
	return false, false
}

// str reads a JSON string. Invalid UTF-8 and control characters make it
// give up, leaving those cases to encoding/json.
func (p *fastParser) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := p.b[start:p.i]
			p.i++
			if !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		e := p.b[p.i+1]
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
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
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
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
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
