package cli

import (
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	if v := buildVersion(); v == "" || v == "dev" {
		t.Fatalf("an unstamped build reports %q", v)
	}
	old := Version
	defer func() { Version = old }()
	Version = "1.2.3"
	io, out, _ := TestIO("")
	if err := runVersion(t.Context(), &versionOptions{d: &Deps{IO: io}}); err != nil || !strings.HasPrefix(out.String(), "secr 1.2.3 (go") {
		t.Fatalf("secr version: %q, %v", out.String(), err)
	}
}
