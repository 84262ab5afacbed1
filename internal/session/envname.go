package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
)

// envAliases are the short names people bring from other tools (Doppler's
// dev/stg/prd, Infisical's dev/staging/prod). They apply only when the
// project has no environment of that exact name.
var envAliases = map[string]string{
	"dev": "development", "develop": "development",
	"stg": "staging", "stage": "staging",
	"prod": "production", "prd": "production",
}

// MatchEnv picks the environment that name means among names: itself, or
// the full name of an alias (with ok and a notice for the user), or nothing
// with a suggestion of the closest names.
func MatchEnv(name string, names []string) (match string, notice string, err error) {
	if slices.Contains(names, name) {
		return name, "", nil
	}
	if full, ok := envAliases[name]; ok && slices.Contains(names, full) {
		return full, fmt.Sprintf("secr: environment %q is taken as %q", name, full), nil
	}
	var close []string
	for _, n := range names {
		if strings.HasPrefix(n, name) || strings.HasPrefix(name, n) || editDistance(name, n) <= 2 {
			close = append(close, n)
		}
	}
	notFound := &noEnvError{name}
	if len(close) > 0 {
		return "", "", WithHint(notFound, "did you mean %s? (environments: %s)", quoteAll(close, " or "), strings.Join(names, ", "))
	}
	return "", "", WithHint(notFound, "the environments are %s; create one with 'secr envs create %s'", strings.Join(names, ", "), name)
}

// noEnvError is a project without the environment asked for. It matches
// client.ErrNotFound, like the server's answer it explains.
type noEnvError struct{ name string }

func (e *noEnvError) Error() string        { return fmt.Sprintf("no environment %q", e.name) }
func (e *noEnvError) Is(target error) bool { return target == client.ErrNotFound }

// resolveEnv is called when the server found no environment t.Env: it
// lists the project's environments and returns t with the environment an
// alias means, or an error that suggests the closest names. When the
// project itself cannot be listed, notFound is returned as it was.
func (s *Session) resolveEnv(ctx context.Context, t Target, notFound error) (Target, error) {
	// The names come from the verified chain: a server that hid an
	// environment could otherwise steer "dev" to "development".
	st, err := s.Chain(ctx, t.Org)
	if errors.Is(err, ErrIntegrity) {
		return t, err
	}
	if err != nil {
		return t, notFound
	}
	prj, ok := st.LookupProject(t.Project)
	if !ok {
		return t, notFound
	}
	if _, ok := st.LookupEnv(prj, t.Env); ok {
		return t, WithHint(integrityErrorf("the server says %s/%s has no environment %q, which its org chain has", t.Org, t.Project, t.Env),
			"contact your secr server's administrator")
	}
	match, notice, err := MatchEnv(t.Env, projectEnvNames(st, prj))
	if err != nil {
		return t, fmt.Errorf("%s/%s: %w", t.Org, t.Project, err)
	}
	s.opts.infof("%s", notice)
	t.Env = match
	return t, nil
}

// isEnvNotFound reports whether err is the server's "no such environment"
// for a request by name.
func isEnvNotFound(err error, t Target) bool {
	return errors.Is(err, client.ErrNotFound) && t.Org != "" && t.Project != "" && api.ValidSlug(t.Env)
}

func quoteAll(names []string, sep string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, sep)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
