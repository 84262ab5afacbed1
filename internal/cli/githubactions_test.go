package cli

import (
	"bytes"
	"os"
	"path/filepath"
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
