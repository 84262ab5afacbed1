package runner

import (
	"fmt"
	"slices"
	"sort"
	"strings"
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

// BuildEnv combines base and secrets under o and reports how many secrets
// it applied. warn receives one message per secret that was skipped.
func BuildEnv(base []string, secrets map[string]string, o EnvOptions, warn func(format string, args ...any)) ([]string, int, error) {
	chosen := secrets
	if len(o.Only) > 0 {
		chosen = make(map[string]string, len(o.Only))
		var missing []string
		for _, n := range o.Only {
			v, ok := secrets[n]
			if !ok {
				missing = append(missing, n)
				continue
			}
			chosen[n] = v
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return nil, 0, fmt.Errorf("--only names %s, which the environment does not have", strings.Join(missing, ", "))
		}
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
	inherited := make(map[string]bool, len(base))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		inherited[k] = true
	}
	apply := make(map[string]string, len(chosen))
	for n, v := range chosen {
		switch {
		case Reserved(n) && !o.AllowReserved:
			warn("secret %s was not applied: it would replace %s (pass --allow-reserved to allow it)", n, n)
		case inherited[n] && (o.PreserveAll || slices.Contains(o.Preserve, n)):
			// The inherited value wins.
		default:
			apply[n] = v
		}
	}
	applied := 0
	for n := range apply {
		if !slices.Contains(o.Drop, n) {
			applied++
		}
	}
	return MergeEnv(base, apply, o.Drop...), applied, nil
}
