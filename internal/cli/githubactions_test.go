package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/envdoc"
)

// parseGitHubEnv reads a GITHUB_ENV file the way the Actions runner does on
// Linux (FileCommandManager's SetEnvFileCommand): lines end at "\n"; a
// NAME=VALUE line, or a NAME<<DELIM line whose value is everything up to a
// line equal to DELIM (the final "\n" before it excluded).
func parseGitHubEnv(text string) (map[string]string, error) {
	vars := map[string]string{}
	index := 0
	readLine := func() (line string, nl bool, ok bool) {
		if index >= len(text) {
			return "", false, false
		}
		start := index
		lf := strings.IndexByte(text[index:], '\n')
		if lf < 0 {
			index = len(text)
			return text[start:], false, true
		}
		index += lf + 1
		return text[start : index-1], true, true
	}
	for {
		line, _, ok := readLine()
		if !ok {
			return vars, nil
		}
		if line == "" {
			continue
		}
		eq, hd := strings.Index(line, "="), strings.Index(line, "<<")
		switch {
		case eq >= 0 && (hd < 0 || eq < hd):
			vars[line[:eq]] = line[eq+1:]
		case hd >= 0:
			name, delim := line[:hd], line[hd+2:]
			if name == "" || delim == "" {
				return nil, errors.New("invalid heredoc")
			}
			start, end := index, index
			for {
				l, nl, ok := readLine()
				if !ok {
					return nil, errors.New("matching delimiter not found")
				}
				if l == delim {
					break
				}
				if !nl {
					return nil, errors.New("EOF marker missing new line")
				}
				end = index - 1
			}
			if end > start {
				vars[name] = text[start:end]
			} else {
				vars[name] = ""
			}
		default:
			return nil, errors.New("invalid format " + line)
		}
	}
}

func TestExportGitHubActions(t *testing.T) {
	doc := envdoc.New()
	values := map[string]string{
		"PEM":     "-----BEGIN KEY-----\nMIIBOgIBAAJB\n-----END KEY-----",
		"INJECT":  "a\nEOF\nINJECTED=1\nghadelimiter_123\nsecr_00\r\nx%0AEVIL=1\n",
		"PERCENT": "100%0D%25",
		"EMPTY":   "",
		"PLAIN":   `it's "q" $x #y`,
	}
	for n, v := range values {
		if err := doc.Set(n, v, false); err != nil {
			t.Fatal(err)
		}
	}
	doc.Set("PUBLIC_URL", "https://example.com", true)
	values["PUBLIC_URL"] = "https://example.com"

	envFile := filepath.Join(t.TempDir(), "github_env")
	os.WriteFile(envFile, []byte("EXISTING=1\n"), 0o600)
	var out bytes.Buffer
	if err := exportGitHubActions(&out, envFile, doc); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(envFile)
	got, err := parseGitHubEnv(string(data))
	if err != nil {
		t.Fatalf("runner would reject GITHUB_ENV: %v\n%s", err, data)
	}
	if got["EXISTING"] != "1" || got["INJECTED"] != "" || got["EVIL"] != "" || len(got) != len(values)+1 {
		t.Fatalf("variables: %q", got)
	}
	for n, v := range values {
		if got[n] != v {
			t.Errorf("%s = %q, want %q", n, got[n], v)
		}
	}

	// stdout holds only mask commands, and every secret value and line is masked.
	masked := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		data, ok := strings.CutPrefix(line, "::add-mask::")
		if !ok {
			t.Fatalf("stdout line is not a mask command: %q", line)
		}
		masked[strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(data)] = true
	}
	for _, n := range []string{"PEM", "INJECT", "PERCENT", "PLAIN"} {
		if !masked[values[n]] {
			t.Errorf("%s is not masked", n)
		}
		for _, line := range strings.FieldsFunc(values[n], func(r rune) bool { return r == '\n' || r == '\r' }) {
			if !masked[line] {
				t.Errorf("line %q of %s is not masked", line, n)
			}
		}
	}
	if masked["https://example.com"] || masked[""] {
		t.Error("not-secret or empty values were masked")
	}
	if err := exportGitHubActions(&out, "", doc); err == nil {
		t.Error("exported without GITHUB_ENV")
	}
}
