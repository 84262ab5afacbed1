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
// LF, so such values are refused rather than silently changed: the error
// names every one of them and the way around the file altogether.
func formatNextJS(vars map[string]string) ([]byte, error) {
	var b strings.Builder
	var bad []string
	for _, n := range sortedKeys(vars) {
		v := vars[n]
		if strings.ContainsAny(v, "`\r") {
			bad = append(bad, n)
			continue
		}
		b.WriteString(n + "=`" + strings.ReplaceAll(v, "$", `\$`) + "`\n")
	}
	if len(bad) > 0 {
		one := len(bad) == 1
		return nil, withHint(fmt.Errorf("cannot write %s for Next.js: %s a backtick or a carriage return, which Next.js's .env loader cannot read back exactly; nothing was written",
			strings.Join(bad, ", "), map[bool]string{true: "its value contains", false: "their values contain"}[one]),
			"change %s, or skip the file and run the build as 'secr run -- next build', which passes every value through the environment unchanged",
			map[bool]string{true: "that value", false: "those values"}[one])
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
