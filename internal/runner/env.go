package runner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/secr-dev/secr/internal/envdoc"
)

// EnvOptions say how secrets and the inherited environment combine.
type EnvOptions struct {
	// Preserve names inherited variables that keep their value over a
	// secret of the same name; PreserveAll keeps every inherited value.
	Preserve    []string
	PreserveAll bool
	// Only, when set, injects just these secrets; each must exist.
	Only []string
	// Pristine starts from an empty environment plus PristineKeep.
	Pristine bool
	// AllowReserved lets secrets replace PATH, HOME, SHELL, USER and LD_*.
	AllowReserved bool
	// Drop names variables removed from the result (SECR_TOKEN).
	Drop []string
}

// PristineKeep are the inherited variables --pristine keeps.
var PristineKeep = []string{"PATH", "HOME", "USER", "LANG", "TERM"}

// Reserved reports whether a secret named name would replace a variable
// that decides how programs are found and run.
func Reserved(name string) bool {
	switch name {
	case "PATH", "HOME", "SHELL", "USER":
		return true
	}
	return strings.HasPrefix(name, "LD_")
}

// BuildEnv combines base and secrets under o. secrets are sorted by name,
// each name once, as envdoc.Doc.Secrets gives them (any other order is
// sorted first, on a copy). The result is base in its order, without the
// variables that secrets replace or o drops, followed by the applied
// secrets as "NAME=value", sorted by name; applied is how many those are,
// so they are the last applied entries of env (what CheckSize needs). warn
// receives one message per secret that was skipped.
//
// It makes no map and sorts nothing for the usual sorted input: a binary
// search per inherited variable, and one pass over the secrets that writes
// every "NAME=value" into one string.
func BuildEnv(base []string, secrets []envdoc.Secret, o EnvOptions, warn func(format string, args ...any)) (env []string, applied int, err error) {
	if !sortedByName(secrets) {
		secrets = envdoc.SortByName(secrets)
	}
	if len(o.Only) > 0 {
		chosen := make([]envdoc.Secret, 0, len(o.Only))
		var missing []string
		for _, n := range o.Only {
			i, ok := find(secrets, n)
			if !ok {
				missing = append(missing, n)
				continue
			}
			chosen = append(chosen, secrets[i])
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return nil, 0, fmt.Errorf("--only names %s, which the environment does not have", strings.Join(missing, ", "))
		}
		secrets = envdoc.SortByName(chosen)
	}
	if o.Pristine {
		var kept []string
		for _, kv := range base {
			if k, _, _ := strings.Cut(kv, "="); slices.Contains(PristineKeep, k) {
				kept = append(kept, kv)
			}
		}
		base = kept
	}
	// inherited is needed only to let inherited values win.
	var inherited map[string]bool
	if o.PreserveAll || len(o.Preserve) > 0 {
		inherited = make(map[string]bool, len(base))
		for _, kv := range base {
			k, _, _ := strings.Cut(kv, "=")
			inherited[k] = true
		}
	}
	// skip says why a secret is not applied: "" when it is.
	skip := func(n string) string {
		switch {
		case Reserved(n) && !o.AllowReserved:
			return "reserved"
		case (o.PreserveAll || slices.Contains(o.Preserve, n)) && inherited[n]:
			return "preserved" // the inherited value wins
		case slices.Contains(o.Drop, n):
			return "dropped"
		}
		return ""
	}
	env = make([]string, 0, len(base)+len(secrets))
	for _, kv := range base {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || slices.Contains(o.Drop, k) {
			continue
		}
		if _, replaced := find(secrets, k); replaced && skip(k) == "" {
			continue
		}
		env = append(env, kv)
	}
	size := 0
	for i := range secrets {
		size += len(secrets[i].Name) + 1 + len(secrets[i].Value)
	}
	// Every "NAME=value" is a substring of one string: a Builder never
	// changes bytes it has written, so each String() stays valid.
	var b strings.Builder
	b.Grow(size)
	for i := range secrets {
		n := secrets[i].Name
		switch skip(n) {
		case "":
		case "reserved":
			warn("secret %s was not applied: it would replace %s (pass --allow-reserved to allow it)", n, n)
			continue
		default:
			continue
		}
		start := b.Len()
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(secrets[i].Value)
		env = append(env, b.String()[start:])
		applied++
	}
	return env, applied, nil
}

func compareName(s envdoc.Secret, name string) int { return strings.Compare(s.Name, name) }

// find returns where name is in secrets, sorted by name.
func find(secrets []envdoc.Secret, name string) (int, bool) {
	return slices.BinarySearchFunc(secrets, name, compareName)
}

func sortedByName(secrets []envdoc.Secret) bool {
	for i := 1; i < len(secrets); i++ {
		if secrets[i-1].Name >= secrets[i].Name {
			return false
		}
	}
	return true
}
