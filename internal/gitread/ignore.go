package gitread

import (
	"path"
	"strings"
)

// IgnoreResult is what one .gitignore pattern says about a path.
type IgnoreResult int

// The answers of IgnorePattern.Match.
const (
	NoMatch IgnoreResult = iota
	Exclude              // the path is ignored
	Include              // a "!" pattern un-ignores it
)

// IgnorePattern is one line of a .gitignore (or info/exclude) file, with
// git's rules: "!" negates; a trailing "/" matches directories only; a
// pattern with a "/" elsewhere is anchored to the file's directory,
// otherwise it matches a name at any depth; "**" matches any number of
// directories; "*", "?" and "[...]" match within one path segment.
type IgnorePattern struct {
	domain   []string
	segs     []string
	negate   bool
	dirOnly  bool
	anchored bool
}

// ParseIgnore parses one line of a .gitignore file found in the directory
// domain (segments from the top of the working tree). Blank lines and
// comments have no pattern: ok is false.
func ParseIgnore(line string, domain []string) (IgnorePattern, bool) {
	line = strings.TrimSuffix(line, "\r")
	// Trailing spaces are dropped unless escaped with a backslash.
	for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, `\ `) {
		line = line[:len(line)-1]
	}
	if line == "" || strings.HasPrefix(line, "#") {
		return IgnorePattern{}, false
	}
	p := IgnorePattern{domain: domain}
	if strings.HasPrefix(line, "!") {
		p.negate, line = true, line[1:]
	} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly, line = true, strings.TrimRight(line, "/")
	}
	if strings.Contains(line, "/") {
		p.anchored, line = true, strings.TrimPrefix(line, "/")
	}
	if line == "" {
		return IgnorePattern{}, false
	}
	p.segs = strings.Split(line, "/")
	if !p.anchored {
		p.segs = append([]string{"**"}, p.segs...)
	}
	return p, true
}

// Match says whether the pattern ignores (or un-ignores) the path, given
// as segments from the top of the working tree. A pattern that matches a
// directory on the path matches everything below it.
func (p IgnorePattern) Match(pathSegs []string, isDir bool) IgnoreResult {
	if len(pathSegs) < len(p.domain) {
		return NoMatch
	}
	for i, d := range p.domain {
		if pathSegs[i] != d {
			return NoMatch
		}
	}
	rel := pathSegs[len(p.domain):]
	for k := 1; k <= len(rel); k++ {
		// rel[:k] is a directory unless it is the whole path of a file.
		prefixIsDir := k < len(rel) || isDir
		if p.dirOnly && !prefixIsDir {
			continue
		}
		if matchSegs(p.segs, rel[:k]) {
			if p.negate {
				return Include
			}
			return Exclude
		}
	}
	return NoMatch
}

// matchSegs matches glob segments against path segments; "**" matches
// zero or more whole segments.
func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				// A trailing "/**" matches everything inside, not the
				// directory itself.
				return len(segs) > 0
			}
			for i := 0; i <= len(segs); i++ {
				if matchSegs(rest, segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], segs[0]); err != nil || !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
