// Package scan finds plaintext copies of secr's secrets: in a directory
// tree, in a git repository's history and in its staged files.
//
// secr is the one tool that knows the real values, so the search is for the
// exact bytes of each value and of its common encodings (base64, also
// inside a longer base64 text, hex, URL and JSON escaping, each line of a
// multi-line value): no guessing, no false positives. Decrypted values stay
// in the Scanner's memory (Close zeroes its copies); they are never written
// anywhere, and no error, Finding, Result, Plan or String/GoString of an
// exported type contains one. Findings name the file, the line, the secret
// and the encoding, never the value.
//
// A typical use by the CLI:
//
//	s, err := scan.New(secrets, scan.Options{IncludeIgnored: all})
//	defer s.Close()
//	res, err := s.Tree(ctx, paths)      // or s.GitHistory / s.Staged
//	for _, f := range res.Findings { fmt.Println(f) }
//	for _, d := range res.Dotenv { plan, err := scan.FixFile(d.Path, known) ... }
//
// Limits: a value is found byte for byte, so a copy with different case
// (other than upper-case hex), whitespace or line wrapping (base64 wrapped
// at 76 columns), or in another encoding (gzip, a password hash) is not
// found. Tree skips files that .gitignore excludes even when git tracks
// them (GitHistory and Staged read those). GitHistory searches each blob
// once, so a blob copied unchanged to a second path is reported at its
// first path only.
package scan

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// MinValueLen is the shortest value searched for: shorter values (and
// shorter lines of a multi-line value) would match by chance.
const MinValueLen = 8

// Secret is one decrypted secret handed to New. Its String and GoString
// never show Value.
type Secret struct {
	Name        string
	Environment string
	Value       string
	// NotSecret marks a variable flagged "not secret" (a port, a public
	// URL): New does not search for it, FixPlan still compares it.
	NotSecret bool
}

// String names the secret without its value.
func (s Secret) String() string { return s.Name + " (" + s.Environment + ")" }

// GoString is used by %#v; it hides the value too.
func (s Secret) GoString() string {
	return fmt.Sprintf("scan.Secret{Name:%q, Environment:%q, Value:<hidden>, NotSecret:%t}", s.Name, s.Environment, s.NotSecret)
}

// Encoding names the form in which a value was found.
type Encoding string

const (
	Raw          Encoding = "raw"
	Base64       Encoding = "base64"       // standard alphabet, padded
	Base64Raw    Encoding = "base64-nopad" // standard alphabet, unpadded
	Base64URL    Encoding = "base64url"    // URL alphabet, padded
	Base64URLRaw Encoding = "base64url-nopad"
	HexLower     Encoding = "hex"
	HexUpper     Encoding = "HEX"
	URLQuery     Encoding = "url-query" // url.QueryEscape
	URLPath      Encoding = "url-path"  // url.PathEscape
	JSON         Encoding = "json"      // inside a JSON string, escaped
	Line         Encoding = "line"      // one line of a multi-line value; see Finding.ValueLine
	// Base64Embedded is the value inside a longer base64 text (a whole
	// .env file base64-encoded into a Kubernetes Secret, say) at any of the
	// three byte alignments: only the characters that depend on the value's
	// bits alone are searched, so there is still no false positive.
	Base64Embedded    Encoding = "base64-embedded"
	Base64URLEmbedded Encoding = "base64url-embedded"
)

// AllEncodings lists every encoding New searches for by default, in the
// order a finding prefers when two encodings produce the same bytes.
var AllEncodings = []Encoding{Raw, Line, JSON, URLQuery, URLPath, Base64, Base64Raw, Base64URL, Base64URLRaw, HexLower, HexUpper, Base64Embedded, Base64URLEmbedded}

// Options tune a Scanner. The zero value is the default of `secr scan`.
type Options struct {
	// IncludeIgnored also reads files that .gitignore (and
	// .git/info/exclude) exclude: that is where stale copies hide. The
	// dotenv listing reports ignored dotenv files either way.
	IncludeIgnored bool
	// MaxBinarySize is the size above which a binary file (one with a NUL
	// byte in its first 8 KiB) is skipped. 0 means 1 MiB.
	MaxBinarySize int64
	// ScanBinaries reads binary files of any size.
	ScanBinaries bool
	// Encodings restricts the forms searched for; nil means AllEncodings.
	Encodings []Encoding
	// Workers is the number of files read at once; 0 means GOMAXPROCS.
	Workers int
}

// Finding is one place where a value was found. It never holds the value.
type Finding struct {
	Path        string // slash-separated in git results; OS path in Tree results
	Line        int    // 1-based line of the first byte of the match
	Commit      string // for GitHistory: the commit that introduced the blob
	Name        string
	Environment string
	Encoding    Encoding
	ValueLine   int // for Encoding Line: which line of the value (1-based)
}

// String formats a finding for a terminal: path:line, commit, secret,
// environment and encoding.
func (f Finding) String() string {
	var b strings.Builder
	if f.Commit != "" {
		b.WriteString(shortHash(f.Commit) + " ")
	}
	fmt.Fprintf(&b, "%s:%d: %s (%s)", f.Path, f.Line, f.Name, f.Environment)
	switch {
	case f.Encoding == Line:
		fmt.Fprintf(&b, " line %d of the value", f.ValueLine)
	case f.Encoding != Raw:
		b.WriteString(" " + string(f.Encoding))
	}
	return b.String()
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// DotenvFile is a dotenv-looking file (.env, .env.*, *.env) seen by a scan,
// listed whatever it contains.
type DotenvFile struct {
	Path    string
	Commit  string // for GitHistory: the first commit seen with it
	Ignored bool   // excluded by .gitignore
	Symlink bool   // a symbolic link (not followed)
}

// Skipped is a file that was not read, and why.
type Skipped struct {
	Path   string
	Reason string
}

// Result is what a scan found.
type Result struct {
	Findings []Finding
	Dotenv   []DotenvFile
	Skipped  []Skipped
	Files    int   // files (or blobs) read
	Bytes    int64 // bytes read
}

// Scanner holds the patterns of one set of secrets. It is safe for
// concurrent use and never shows the values.
type Scanner struct {
	m       *matcher
	owners  [][]owner // per pattern
	secrets []Secret  // Name and Environment only: no Value
	opts    Options
}

type owner struct {
	secret    int32
	enc       Encoding
	valueLine int32
}

// String describes the scanner without any value. (Value receivers, so
// that a Scanner printed by value does not show its fields either.)
func (s Scanner) String() string {
	return fmt.Sprintf("scan.Scanner{%d secrets, %d patterns}", len(s.secrets), len(s.owners))
}

// GoString is used by %#v.
func (s Scanner) GoString() string { return s.String() }

// Close overwrites the scanner's copies of the values (the patterns) with
// zeros and drops them; the scanner finds nothing afterwards. Call it after
// the last scan has returned, not during one. It is best effort: the
// strings in the []Secret given to New are the caller's, and Go can wipe
// neither a string nor what the garbage collector has not yet reclaimed.
func (s *Scanner) Close() {
	for _, p := range s.m.patterns {
		clear(p)
	}
	s.m = newMatcher(nil)
	s.owners = nil
}

// New prepares a scanner for secrets. Values shorter than MinValueLen and
// those flagged NotSecret are not searched for. Two secrets with the same
// value (the same key in two environments) are both reported.
func New(secrets []Secret, opts Options) (*Scanner, error) {
	if opts.MaxBinarySize == 0 {
		opts.MaxBinarySize = 1 << 20
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	encs := opts.Encodings
	if encs == nil {
		encs = AllEncodings
	}
	want := map[Encoding]bool{}
	for _, e := range encs {
		if !slices.Contains(AllEncodings, e) {
			return nil, fmt.Errorf("scan: unknown encoding %q", string(e))
		}
		want[e] = true
	}
	s := &Scanner{opts: opts}
	index := map[string]int{}
	var pats [][]byte
	add := func(p string, o owner) {
		if len(p) < MinValueLen {
			return
		}
		i, ok := index[p]
		if !ok {
			i = len(pats)
			index[p] = i
			pats = append(pats, []byte(p))
			s.owners = append(s.owners, nil)
		}
		for _, prev := range s.owners[i] {
			if prev.secret == o.secret {
				return // the same bytes under an earlier (preferred) encoding
			}
		}
		s.owners[i] = append(s.owners[i], o)
	}
	for _, sec := range secrets {
		if sec.NotSecret || len(sec.Value) < MinValueLen {
			continue
		}
		si := int32(len(s.secrets))
		s.secrets = append(s.secrets, Secret{Name: sec.Name, Environment: sec.Environment})
		for _, e := range AllEncodings {
			if !want[e] {
				continue
			}
			if e == Line {
				for n, l := range valueLines(sec.Value) {
					add(l, owner{si, Line, int32(n + 1)})
				}
				continue
			}
			for _, p := range encode(sec.Value, e) {
				add(p, owner{secret: si, enc: e})
			}
		}
	}
	s.m = newMatcher(pats)
	return s, nil
}

// valueLines returns the lines of a multi-line value indexed by line
// number - 1, "" for lines that are not searched: shorter than MinValueLen
// after trimming, or PEM armour ("-----BEGIN ...") that every key file
// shares.
func valueLines(v string) []string {
	if !strings.Contains(v, "\n") {
		return nil
	}
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if len(strings.TrimSpace(l)) < MinValueLen || strings.HasPrefix(strings.TrimSpace(l), "-----") {
			l = ""
		}
		lines[i] = l
	}
	return lines
}

func encode(v string, e Encoding) []string {
	switch e {
	case Raw:
		return []string{v}
	case Base64:
		return []string{base64.StdEncoding.EncodeToString([]byte(v))}
	case Base64Raw:
		return []string{base64.RawStdEncoding.EncodeToString([]byte(v))}
	case Base64URL:
		return []string{base64.URLEncoding.EncodeToString([]byte(v))}
	case Base64URLRaw:
		return []string{base64.RawURLEncoding.EncodeToString([]byte(v))}
	case HexLower:
		return []string{hex.EncodeToString([]byte(v))}
	case HexUpper:
		return []string{strings.ToUpper(hex.EncodeToString([]byte(v)))}
	case Base64Embedded:
		return base64Cores(base64.RawStdEncoding, v)
	case Base64URLEmbedded:
		return base64Cores(base64.RawURLEncoding, v)
	case URLQuery:
		return []string{url.QueryEscape(v)}
	case URLPath:
		return []string{url.PathEscape(v)}
	case JSON:
		// Both the HTML-safe escaping of json.Marshal (\u003c) and the
		// plain one most other encoders write.
		var out []string
		for _, html := range []bool{false, true} {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(html)
			_ = enc.Encode(v) // a string always encodes
			q := strings.TrimSuffix(b.String(), "\n")
			out = append(out, q[1:len(q)-1])
		}
		return out
	}
	return nil
}

// base64Cores returns, for each alignment k of the value in a byte stream
// (its offset mod 3), the base64 characters that only the value's bits
// determine: character j covers bits [6j, 6j+6) of the stream, the value
// bits [8k, 8(k+len)).
func base64Cores(enc *base64.Encoding, v string) []string {
	var out []string
	for k := range 3 {
		b := make([]byte, k+len(v))
		copy(b[k:], v)
		s := enc.EncodeToString(b)
		start, end := (8*k+5)/6, 8*(k+len(v))/6
		if end > start {
			out = append(out, s[start:end])
		}
	}
	return out
}

// hit is one occurrence of one secret's pattern in one file.
type hit struct {
	start, end int64
	line       int
	owner      owner
}

// scanReader searches r in chunks that overlap by the longest pattern less
// one byte, so memory stays bounded whatever the file size. It returns the
// findings (without Path and Commit) and the number of bytes read. buf is a
// reusable buffer; it is grown if too small.
func (s *Scanner) scanReader(r io.Reader, buf *[]byte) ([]Finding, int64, error) {
	m := s.m
	overlap := max(m.maxLen-1, 0)
	if len(*buf) < 2*overlap+64<<10 {
		*buf = make([]byte, 2*overlap+1<<20)
	}
	b := *buf
	var (
		hits    []hit
		chunk   []hit
		base    int64 // file offset of b[0]
		kept    int   // bytes at the head of b carried over from the previous chunk
		total   int64
		lines   int // newlines before base
		readErr error
	)
	for {
		n, err := io.ReadFull(r, b[kept:])
		total += int64(n)
		eof := err != nil
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			readErr = err
		}
		data := b[:kept+n]
		chunk = chunk[:0]
		m.find(data, func(start, pat int) {
			end := start + len(m.patterns[pat])
			if end <= kept {
				return // wholly in the overlap: found with the previous chunk
			}
			if len(hits)+len(chunk) >= maxHitsPerFile {
				return // a pathological file ("aaaa…" for a value "aaaaaaaa"): memory stays bounded
			}
			for _, o := range s.owners[pat] {
				chunk = append(chunk, hit{start: base + int64(start), end: base + int64(end), owner: o})
			}
		})
		if len(chunk) > 0 {
			sort.Slice(chunk, func(i, j int) bool { return chunk[i].start < chunk[j].start })
			pos, cnt := 0, lines
			for _, h := range chunk {
				off := int(h.start - base)
				cnt += bytes.Count(data[pos:off], newline)
				pos = off
				h.line = cnt + 1
				hits = append(hits, h)
			}
		}
		if eof {
			break
		}
		drop := max(len(data)-overlap, 0)
		lines += bytes.Count(data[:drop], newline)
		kept = copy(b, data[drop:])
		base += int64(drop)
	}
	return s.findings(hits), total, readErr
}

var newline = []byte{'\n'}

// maxHitsPerFile bounds the matches kept for one file, before the
// findings are deduplicated.
const maxHitsPerFile = 100_000

// findings turns hits into findings, dropping a hit that lies inside
// another hit of the same secret (the unpadded base64 inside the padded
// one, a line inside the whole multi-line value).
func (s *Scanner) findings(hits []hit) []Finding {
	if len(hits) == 0 {
		return nil
	}
	sort.Slice(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		if a.owner.secret != b.owner.secret {
			return a.owner.secret < b.owner.secret
		}
		if a.start != b.start {
			return a.start < b.start
		}
		return a.end > b.end
	})
	var out []Finding
	var maxEnd int64 = -1
	seen := map[Finding]bool{} // the same value twice on one line: one finding
	for i, h := range hits {
		if i > 0 && hits[i-1].owner.secret != h.owner.secret {
			maxEnd = -1
		}
		if h.end <= maxEnd {
			continue
		}
		maxEnd = h.end
		sec := s.secrets[h.owner.secret]
		f := Finding{Line: h.line, Name: sec.Name, Environment: sec.Environment, Encoding: h.owner.enc, ValueLine: int(h.owner.valueLine)}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}
