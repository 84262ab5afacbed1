package cli

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/ghaenv"
	"github.com/secr-dev/secr/internal/session"
)

func TestExportGitHubActions(t *testing.T) {
	values := map[string]string{
		"PEM":     "-----BEGIN KEY-----\nMIIBOgIBAAJB\n-----END KEY-----",
		"INJECT":  "a\nEOF\nINJECTED=1\nghadelimiter_123\nsecr_00\r\nx%0AEVIL=1\n",
		"PERCENT": "100%0D%25",
		"EMPTY":   "",
		"PLAIN":   `it's "q" $x #y`,
	}
	var secrets []session.Secret
	for n, v := range values {
		secrets = append(secrets, session.Secret{Name: n, Value: v})
	}
	secrets = append(secrets, session.Secret{Name: "PUBLIC_URL", Value: "https://example.com", NotSecret: true})
	values["PUBLIC_URL"] = "https://example.com"

	envFile := filepath.Join(t.TempDir(), "github_env")
	os.WriteFile(envFile, []byte("EXISTING=1\n"), 0o600)
	var out bytes.Buffer
	if err := exportGitHubActions(&out, envFile, secrets); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(envFile)
	got, err := ghaenv.Parse(string(data))
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
	if err := exportGitHubActions(&out, "", secrets); err == nil {
		t.Error("exported without GITHUB_ENV")
	}
}

// The runner rejects ::add-mask:: with empty or whitespace-only data (a
// warning annotation in the job's summary), so neither a blank value nor a
// blank line of a multi-line value is registered; the variables are still
// exported unchanged.
func TestExportGitHubActionsSkipsBlankMasks(t *testing.T) {
	values := map[string]string{
		"SPACES":   "   ",
		"TABS":     "\t \t",
		"NBSP":     "\u00a0\u2003",
		"NEWLINES": "\n\r\n",
		"GAPS":     "first\n   \n\tsecond\n\n",
	}
	var secrets []session.Secret
	for _, n := range slices.Sorted(maps.Keys(values)) {
		secrets = append(secrets, session.Secret{Name: n, Value: values[n]})
	}
	envFile := filepath.Join(t.TempDir(), "github_env")
	var out bytes.Buffer
	if err := exportGitHubActions(&out, envFile, secrets); err != nil {
		t.Fatal(err)
	}
	var masks []string
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		data, ok := strings.CutPrefix(line, "::add-mask::")
		if !ok {
			t.Fatalf("stdout line is not a mask command: %q", line)
		}
		data = strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(data)
		if strings.TrimSpace(data) == "" || strings.Trim(data, " \t\r\n\u00a0\u2003") == "" {
			t.Errorf("blank mask registered: %q", data)
		}
		masks = append(masks, data)
	}
	want := []string{values["GAPS"], "first", "\tsecond"}
	if strings.Join(masks, "|") != strings.Join(want, "|") {
		t.Errorf("masks %q, want %q", masks, want)
	}
	data, _ := os.ReadFile(envFile)
	got, err := ghaenv.Parse(string(data))
	if err != nil {
		t.Fatal(err)
	}
	for n, v := range values {
		if got[n] != v {
			t.Errorf("%s = %q, want %q", n, got[n], v)
		}
	}
}

// formatNextJS (nextjs.go) names every value it cannot write, not only the
// first, and points to `secr run -- next build`, which needs no file.
func TestFormatNextJSNamesEveryRefusedValue(t *testing.T) {
	out, err := formatNextJS(map[string]string{"OK": "fine $x", "TICK": "a`b", "CR": "a\r\nb", "ALSO_TICK": "`"})
	if err == nil {
		t.Fatalf("wrote %q", out)
	}
	if !strings.Contains(err.Error(), "cannot write ALSO_TICK, CR, TICK for Next.js: their values contain") || strings.Contains(err.Error(), "OK") {
		t.Errorf("error: %v", err)
	}
	if !strings.Contains(session.Hint(err), "secr run -- next build") {
		t.Errorf("no hint pointing to secr run: %#v", err)
	}
	if _, err := formatNextJS(map[string]string{"ONE": "`"}); err == nil || !strings.Contains(err.Error(), "cannot write ONE for Next.js: its value contains") {
		t.Errorf("one refused value: %v", err)
	}
	if out, err := formatNextJS(map[string]string{"OK": "fine $x"}); err != nil || string(out) != "OK=`fine \\$x`\n" {
		t.Errorf("good value: %q %v", out, err)
	}
}
