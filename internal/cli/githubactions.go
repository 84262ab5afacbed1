package cli

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"github.com/secr-dev/secr/internal/session"
)

// escapeCommandData escapes a workflow command's data the way the Actions
// runner unescapes it.
func escapeCommandData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// exportGitHubActions registers every secret value with the runner's log
// masker (before anything else is written), then appends each variable to
// the $GITHUB_ENV file as a NAME<<DELIMITER block with a fresh random
// delimiter, one append per variable. Values marked not secret are not
// masked, nor is an empty or whitespace-only value or line: the runner
// refuses to mask those (it logs a warning annotation instead), and a mask
// of blanks would hide nothing anyway. No value is printed except inside
// ::add-mask::, which the runner consumes.
func exportGitHubActions(out io.Writer, envFile string, secrets []session.Secret) error {
	if envFile == "" {
		return usageErrorf("GITHUB_ENV is not set: --format github-actions runs inside a GitHub Actions step")
	}
	var masks strings.Builder
	for _, sec := range secrets {
		if err := session.ValidateName(sec.Name); err != nil {
			return err
		}
		if blank(sec.Value) || sec.NotSecret {
			continue
		}
		masks.WriteString("::add-mask::" + escapeCommandData(sec.Value) + "\n")
		// The runner matches log lines one at a time: a multi-line value
		// also needs each of its lines registered.
		if strings.ContainsAny(sec.Value, "\r\n") {
			for _, line := range strings.FieldsFunc(sec.Value, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if blank(line) {
					continue
				}
				masks.WriteString("::add-mask::" + escapeCommandData(line) + "\n")
			}
		}
	}
	if _, err := io.WriteString(out, masks.String()); err != nil {
		return err
	}
	f, err := os.OpenFile(envFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open GITHUB_ENV: %w", err)
	}
	defer f.Close()
	for _, sec := range secrets {
		n, v := sec.Name, sec.Value
		delim, err := heredocDelimiter()
		if err != nil {
			return err
		}
		if strings.Contains(v, delim) {
			return fmt.Errorf("the value of %s contains the random delimiter chosen for it; refusing to write it", n)
		}
		if _, err := f.WriteString(n + "<<" + delim + "\n" + v + "\n" + delim + "\n"); err != nil {
			return fmt.Errorf("append %s to GITHUB_ENV: %w", n, err)
		}
	}
	return f.Close()
}

// blank reports whether s is empty or only whitespace, which the runner's
// add-mask command rejects (string.IsNullOrWhiteSpace).
func blank(s string) bool {
	return strings.TrimFunc(s, unicode.IsSpace) == ""
}

// heredocDelimiter returns a fresh delimiter with 128 random bits.
func heredocDelimiter() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "secr_" + hex.EncodeToString(b[:]), nil
}
