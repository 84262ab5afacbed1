package cli

import (
	"fmt"
	"slices"
	"strings"
)

// formatNextJS writes vars as a .env file that Next.js (@next/env: dotenv,
// then dotenv-expand) reads back exactly. Backtick quotes keep quotes, #,
// backslashes and newlines literal; dotenv-expand turns \$ back into $. A
// backtick cannot be quoted inside backticks, and the loader turns CR into
// LF, so such values are refused rather than silently changed.
func formatNextJS(vars map[string]string) ([]byte, error) {
	var b strings.Builder
	for _, n := range sortedKeys(vars) {
		v := vars[n]
		if strings.ContainsAny(v, "`\r") {
			return nil, fmt.Errorf("cannot write %s for Next.js: its value contains a backtick or a carriage return, which Next.js's .env loader cannot read back exactly", n)
		}
		b.WriteString(n + "=`" + strings.ReplaceAll(v, "$", `\$`) + "`\n")
	}
	return []byte(b.String()), nil
}

// warnNextJS points out what surprises people with Next.js: a variable set
// in the process environment wins over .env.local, and NEXT_PUBLIC_ values
// are compiled into the JavaScript sent to browsers.
func (d *Deps) warnNextJS(names []string) {
	var inherited []string
	for _, kv := range d.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		inherited = append(inherited, k)
	}
	for _, n := range names {
		if slices.Contains(inherited, n) {
			d.IO.Warnf("%s is already set in this environment: Next.js will use that value, not the one from secr", n)
		}
		if strings.HasPrefix(n, "NEXT_PUBLIC_") {
			d.IO.Warnf("%s is inlined into the client bundle: anyone who loads your site can read it", n)
		}
	}
}
