package dotenv

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseTable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}},
		{"export prefix", "export A=1\nexport\tB=2", map[string]string{"A": "1", "B": "2"}},
		{"comments and blanks", "# head\n\n  # indented\nA=1 # trailing\nB=x#notacomment\n", map[string]string{"A": "1", "B": "x#notacomment"}},
		{"spaces around equals", "A = 1\n  B=  2  \n", map[string]string{"A": "1", "B": "2"}},
		{"empty values", "A=\nB=''\nC=\"\"\n", map[string]string{"A": "", "B": "", "C": ""}},
		{"single quotes literal", `A='$HOME \n "x" # y'`, map[string]string{"A": `$HOME \n "x" # y`}},
		{"double quote escapes", `A="line1\nline2\t\"q\" \\ \$HOME"`, map[string]string{"A": "line1\nline2\t\"q\" \\ $HOME"}},
		{"unknown escape kept", `A="a\qb"`, map[string]string{"A": `a\qb`}},
		{"multi-line double", "A=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nB=2", map[string]string{"A": "-----BEGIN KEY-----\nabc\n-----END KEY-----", "B": "2"}},
		{"multi-line single", "A='x\ny'\n", map[string]string{"A": "x\ny"}},
		{"crlf", "A=1\r\nB=\"x\r\ny\"\r\n", map[string]string{"A": "1", "B": "x\ny"}},
		{"bom", "\uFEFFA=1\n", map[string]string{"A": "1"}},
		{"equals in value", "URL=postgres://u:p@h/db?sslmode=require&a=b", map[string]string{"URL": "postgres://u:p@h/db?sslmode=require&a=b"}},
		{"unicode", "A=héllo 🌍\nB='日本'", map[string]string{"A": "héllo 🌍", "B": "日本"}},
		{"quote then comment", `A="v" # c`, map[string]string{"A": "v"}},
		{"backticks", "A=`it's \"x\"`", map[string]string{"A": `it's "x"`}},
		{"last wins", "A=1\nA=2", map[string]string{"A": "2"}},
		{"no final newline", "A=1", map[string]string{"A": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := Parse(".env", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range entries {
				got[e.Name] = e.Value
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in       string
		line     int
		contains string
	}{
		{"A=1\nthis is not valid\n", 2, "expected NAME=value"},
		{"A=1\n1BAD=x", 2, `invalid variable name (not shown`},
		{"A=1\nB-C=x", 2, `invalid variable name (not shown`},
		{"A=1\n\nB=\"open\nstill open", 3, "unterminated"},
		{"A='x' y", 1, "after closing quote"},
		{"A=1\nNAME", 2, "missing '='"},
	}
	for _, tt := range tests {
		entries, err := Parse("my.env", []byte(tt.in))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("%q: error %v, want a SyntaxError", tt.in, err)
		}
		if entries != nil {
			t.Errorf("%q: partial entries returned with an error", tt.in)
		}
		if se.Line != tt.line || !strings.Contains(err.Error(), tt.contains) || !strings.HasPrefix(err.Error(), "my.env:") {
			t.Errorf("%q: error %q, want line %d containing %q", tt.in, err, tt.line, tt.contains)
		}
	}
}

func TestErrorDoesNotLeakValue(t *testing.T) {
	_, err := Parse("f", []byte(`A="sk_live_SECRET`))
	if err == nil || strings.Contains(err.Error(), "sk_live") {
		t.Fatalf("error %v leaks the value", err)
	}
	// A base64 secret pasted on a line of its own reads as an invalid name
	// followed by "=": the error must not repeat it.
	_, err = Parse("f", []byte("A=1\nc2stbGl2ZS9z+ZWNyZXQ/dmFsdWU=\n"))
	if err == nil || strings.Contains(err.Error(), "c2stbGl2") || !strings.Contains(err.Error(), "f:2: invalid variable name (not shown") {
		t.Fatalf("error %v repeats what may be a value", err)
	}
	// A value that is a valid name on a line of its own: not repeated either.
	_, err = Parse("f", []byte("A=1\nsk_live_PASTEDVALUE\n"))
	if err == nil || strings.Contains(err.Error(), "PASTED") || !strings.Contains(err.Error(), "f:2: missing '='") {
		t.Fatalf("error %v repeats what may be a value", err)
	}
}

var roundTripSeeds = []string{
	"", "plain", "with space", `"double"`, "it's", `both ' and "`, "$HOME ${X} $(rm -rf)",
	"# not a comment", "a=b=c", `back\slash\`, "\\n literal", "line1\nline2", "crlf\r\nend",
	"trailing space ", " leading", "tab\there", "héllo 🌍 日本", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
	"`tick`", "'", "\"", "\\", "\r", "\n",
}

func roundTrip(t *testing.T, value string) {
	t.Helper()
	out := Format(map[string]string{"K": value})
	entries, err := Parse("export", out)
	if err != nil {
		t.Fatalf("value %q: formatted as %q, which does not parse: %v", value, out, err)
	}
	if len(entries) != 1 || entries[0].Value != value {
		t.Fatalf("value %q: formatted as %q, read back %+v", value, out, entries)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, v := range roundTripSeeds {
		roundTrip(t, v)
	}
}

// FuzzRoundTrip checks that Format then Parse returns any value unchanged.
// Environment values cannot contain NUL, so those are skipped.
func FuzzRoundTrip(f *testing.F) {
	for _, v := range roundTripSeeds {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if strings.ContainsRune(value, 0) {
			t.Skip()
		}
		roundTrip(t, value)
	})
}

// FuzzParse checks that the parser never panics and that what it accepts
// has valid names and survives a Format/Parse round trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"A=1", "export A='x'\n#c\nB=\"y\\n\"", "A=\"unterminated", "\uFEFFA=1\r\n", "A=`x`", "=", "A= #c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := Parse("f", []byte(in))
		if err != nil {
			return
		}
		vars := map[string]string{}
		for _, e := range entries {
			if !ValidName(e.Name) {
				t.Fatalf("accepted invalid name %q", e.Name)
			}
			vars[e.Name] = e.Value
		}
		again, err := Parse("f", Format(vars))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		for _, e := range again {
			if vars[e.Name] != e.Value && utf8.ValidString(e.Value) {
				t.Fatalf("%s changed: %q -> %q", e.Name, vars[e.Name], e.Value)
			}
		}
	})
}
