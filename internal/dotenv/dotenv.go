// Package dotenv reads and writes .env files.
//
// Parse accepts the dialect most tools agree on: an optional "export "
// prefix, # comments, single-quoted (literal) and double-quoted (escaped)
// values that may span lines, unquoted values with trailing comments, CRLF
// line ends and a UTF-8 byte-order mark. Format writes values so that Parse,
// and the common loaders, read back exactly the same string.
package dotenv

import (
	"fmt"
	"sort"
	"strings"
)

// Entry is one NAME=value assignment, in file order.
type Entry struct {
	Name  string
	Value string
	Line  int
}

// SyntaxError reports a line that could not be read. It never includes the
// value being parsed, which may be secret.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ValidName reports whether name is a valid environment variable name:
// [A-Za-z_][A-Za-z0-9_]*.
func ValidName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Parse reads a whole .env file. file names it in errors. On any error no
// entries are returned, so a caller never imports half a file. A name that
// appears twice keeps its last value, as shells and loaders do.
func Parse(file string, data []byte) ([]Entry, error) {
	all, err := ParseAll(file, data)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	index := map[string]int{}
	for _, e := range all {
		if i, dup := index[e.Name]; dup {
			entries[i] = e
			continue
		}
		index[e.Name] = len(entries)
		entries = append(entries, e)
	}
	return entries, nil
}

// ParseAll is Parse without merging: every assignment in file order, a
// name given twice appearing twice. For deciding whether a file can be
// deleted, an earlier value matters too.
func ParseAll(file string, data []byte) ([]Entry, error) {
	s := strings.TrimPrefix(string(data), "\uFEFF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	p := parser{file: file, src: s, line: 1}
	var entries []Entry
	for {
		e, ok, err := p.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return entries, nil
		}
		entries = append(entries, e)
	}
}

type parser struct {
	file string
	src  string
	pos  int
	line int
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &SyntaxError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte { return p.src[p.pos] }

// skipBlank skips spaces and tabs on the current line.
func (p *parser) skipBlank() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
}

// restOfLine consumes up to and including the next newline.
func (p *parser) restOfLine() string {
	end := strings.IndexByte(p.src[p.pos:], '\n')
	var s string
	if end < 0 {
		s, p.pos = p.src[p.pos:], len(p.src)
	} else {
		s, p.pos = p.src[p.pos:p.pos+end], p.pos+end+1
		p.line++
	}
	return s
}

func (p *parser) next() (Entry, bool, error) {
	for {
		p.skipBlank()
		if p.eof() {
			return Entry{}, false, nil
		}
		if c := p.peek(); c == '\n' || c == '#' {
			p.restOfLine()
			continue
		}
		break
	}
	line := p.line
	rest := p.src[p.pos:]
	if strings.HasPrefix(rest, "export ") || strings.HasPrefix(rest, "export\t") {
		p.pos += len("export")
		p.skipBlank()
	}
	start := p.pos
	for !p.eof() && p.peek() != '=' && p.peek() != '\n' && p.peek() != ' ' && p.peek() != '\t' {
		p.pos++
	}
	name := p.src[start:p.pos]
	p.skipBlank()
	if p.eof() || p.peek() != '=' {
		if ValidName(name) && (p.eof() || p.peek() == '\n') {
			return Entry{}, false, p.errorf(line, "missing '=': a word on a line of its own (a NAME without =value, or a value pasted on its own line?)")
		}
		return Entry{}, false, p.errorf(line, "expected NAME=value")
	}
	if !ValidName(name) {
		return Entry{}, false, p.errorf(line, "invalid variable name (not shown: it may be a value): use letters, digits and _, not starting with a digit")
	}
	p.pos++ // '='
	p.skipBlank()
	value, err := p.value(line)
	if err != nil {
		return Entry{}, false, err
	}
	return Entry{Name: name, Value: value, Line: line}, true, nil
}

func (p *parser) value(line int) (string, error) {
	if p.eof() {
		return "", nil
	}
	switch q := p.peek(); q {
	case '\'', '"', '`':
		p.pos++
		var b strings.Builder
		for {
			if p.eof() {
				return "", p.errorf(line, "unterminated %c-quoted value", q)
			}
			c := p.peek()
			p.pos++
			switch {
			case c == q:
				// Only blanks or a comment may follow a closing quote.
				p.skipBlank()
				if !p.eof() && p.peek() != '\n' && p.peek() != '#' {
					return "", p.errorf(p.line, "unexpected characters after closing quote")
				}
				p.restOfLine()
				return b.String(), nil
			case c == '\n':
				p.line++
				b.WriteByte(c)
			case c == '\\' && q == '"' && !p.eof():
				e := p.peek()
				p.pos++
				switch e {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case '"', '\\', '$', '`', '\'':
					b.WriteByte(e)
				case '\n':
					p.line++
					b.WriteString("\\\n")
				default:
					b.WriteByte('\\')
					b.WriteByte(e)
				}
			default:
				b.WriteByte(c)
			}
		}
	default:
		raw := p.restOfLine()
		// An unquoted value ends at " #" (a comment) and loses trailing blanks.
		for i := 0; i < len(raw); i++ {
			if raw[i] == '#' && i > 0 && (raw[i-1] == ' ' || raw[i-1] == '\t') {
				raw = raw[:i]
				break
			}
		}
		return strings.TrimRight(raw, " \t"), nil
	}
}

// showName quotes an invalid name for an error message when it looks like a
// mistyped name (MY-VAR, 1PORT). Anything else may be a value pasted onto a
// line of its own, and is not repeated.
// Quote returns value as a .env value that Parse reads back unchanged.
// Values without a single quote or carriage return are single-quoted, which
// every loader reads literally (no $ expansion, no escapes, newlines kept).
// Others are double-quoted with backslash escapes.
func Quote(value string) string {
	if !strings.ContainsAny(value, "'\r") {
		return "'" + value + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\', '"', '$', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Format writes vars as a .env file, sorted by name.
func Format(vars map[string]string) []byte {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(Quote(vars[n]))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
