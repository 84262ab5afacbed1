package cli

import (
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/session"
)

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
