package runner

import (
	"errors"
	"os/exec"
	"slices"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	base := []string{"PATH=/bin", "SECR_TOKEN=secr_st_x", "API_KEY=old", "HOME=/h", "NOEQUALS", "=weird"}
	got := MergeEnv(base, map[string]string{"API_KEY": "new", "B": "b=1", "A": ""}, "SECR_TOKEN")
	want := []string{"PATH=/bin", "HOME=/h", "A=", "API_KEY=new", "B=b=1"}
	if !slices.Equal(got, want) {
		t.Fatalf("MergeEnv = %q, want %q", got, want)
	}
}

func TestResolve(t *testing.T) {
	c, err := Resolve(nil, "echo hi && exit 3", nil, exec.LookPath)
	if err != nil || !slices.Equal(c.Args, []string{"sh", "-c", "echo hi && exit 3"}) {
		t.Fatalf("shell command: %+v, %v", c, err)
	}
	if _, err := Resolve([]string{"x"}, "y", nil, exec.LookPath); err == nil {
		t.Fatal("both argv and --command accepted")
	}
	if _, err := Resolve(nil, "", nil, exec.LookPath); err == nil {
		t.Fatal("empty command accepted")
	}
	if _, err := Resolve([]string{"definitely-not-a-command-xyz"}, "", nil, exec.LookPath); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing command: %v", err)
	}
}
