package session

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/client"
)

func envNames(envs []*Env) string {
	var n []string
	for _, e := range envs {
		n = append(n, e.Name)
	}
	return strings.Join(n, ",")
}

// TestReadableEnvs: a user gets every environment it holds a key for,
// skipping the others with a warning and without dropping its offline
// cache; named environments must all open; a service token gets its own.
func TestReadableEnvs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.session()
	f.set(s, "DEV_KEY", "dev-value-1234")
	staging := f.target
	staging.Env = "staging"
	if _, err := s.Update(ctx, staging, func(e *Editor) error { return e.Set("STAGING_KEY", "staging-value-1234", true) }); err != nil {
		t.Fatal(err)
	}

	envs, err := s.ReadableEnvs(ctx, f.target, nil)
	if err != nil || envNames(envs) != "development,production,staging" {
		t.Fatalf("all environments: %q, %v", envNames(envs), err)
	}
	if v, _ := envs[2].Lookup("STAGING_KEY"); v.Value != "staging-value-1234" || !v.NotSecret {
		t.Fatalf("staging not decrypted: %+v", v.NotSecret)
	}

	// ada loses her key for production (as a developer without a grant).
	f.exec(`DELETE FROM grants WHERE env_id = (SELECT e.id FROM environments e JOIN projects p ON p.id = e.project_id
		JOIN orgs o ON o.id = p.org_id WHERE o.name = ? AND e.name = 'production')`, f.target.Org)
	s = f.session()
	if !s.cacheHas(s.cacheKey(f.target)) {
		t.Fatal("development was not cached by the first scan")
	}
	f.warns = nil
	envs, err = s.ReadableEnvs(ctx, f.target, nil)
	if err != nil || envNames(envs) != "development,staging" {
		t.Fatalf("without production: %q, %v", envNames(envs), err)
	}
	if len(f.warns) != 1 || !strings.Contains(f.warns[0], "skipping environment") {
		t.Fatalf("warnings: %q", f.warns)
	}
	if !s.cacheHas(s.cacheKey(f.target)) {
		t.Fatal("a 403 for production dropped the offline cache of development")
	}
	// Named: exactly those, and one without a key is an error.
	if envs, err := s.ReadableEnvs(ctx, f.target, []string{"staging"}); err != nil || envNames(envs) != "staging" {
		t.Fatalf("--env staging: %q, %v", envNames(envs), err)
	}
	if _, err := s.ReadableEnvs(ctx, f.target, []string{"development", "production"}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("--env production without a key: %v", err)
	}
	if _, err := s.ReadableEnvs(ctx, Target{API: f.target.API}, nil); err == nil || !strings.Contains(err.Error(), "no project selected") {
		t.Fatalf("no project: %v", err)
	}

	// A service token: its own environment only.
	tok, _, err := s.CreateToken(ctx, staging, TokenRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	f.env["SECR_TOKEN"] = tok
	ts, err := Authenticate(Target{API: f.target.API}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if envs, err := ts.ReadableEnvs(ctx, Target{API: f.target.API}, nil); err != nil || envNames(envs) != "staging" {
		t.Fatalf("token: %q, %v", envNames(envs), err)
	}
	if _, err := ts.ReadableEnvs(ctx, Target{API: f.target.API}, []string{"development"}); err == nil || !strings.Contains(err.Error(), "not \"development\"") {
		t.Fatalf("token asked for another environment: %v", err)
	}
}
