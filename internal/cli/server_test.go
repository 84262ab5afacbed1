package cli

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/runner"
	"github.com/secr-dev/secr/internal/session"
)

// TestServerLauncher: in secr (no server linked), `secr server ARGS`
// replaces itself with secr-server ARGS, flags and --help included.
func TestServerLauncher(t *testing.T) {
	var ran *runner.Command
	d := &Deps{
		IO:       &IOStreams{},
		Getenv:   func(string) string { return "" },
		Environ:  func() []string { return []string{"HOME=/h"} },
		LookPath: func(name string) (string, error) { return "/opt/bin/" + name, nil },
		Exec:     func(c *runner.Command) error { ran = c; return nil },
	}
	if err := Run(context.Background(), []string{"server", "--listen", "127.0.0.1:0", "--help"}, d); err != nil {
		t.Fatal(err)
	}
	if ran == nil || ran.Path != "/opt/bin/secr-server" || !slices.Equal(ran.Args, []string{"/opt/bin/secr-server", "--listen", "127.0.0.1:0", "--help"}) || !slices.Equal(ran.Env, []string{"HOME=/h"}) {
		t.Fatalf("ran %+v", ran)
	}
}

// TestServerLauncherMissing: without secr-server beside secr or on PATH,
// the error says what to install.
func TestServerLauncherMissing(t *testing.T) {
	d := &Deps{
		IO:       &IOStreams{},
		Getenv:   func(string) string { return "" },
		LookPath: func(string) (string, error) { return "", exec.ErrNotFound },
		Exec:     func(*runner.Command) error { t.Fatal("exec without a program"); return nil },
	}
	err := Run(context.Background(), []string{"server"}, d)
	if err == nil || !strings.Contains(err.Error(), "secr-server") || !strings.Contains(session.Hint(err), "go install github.com/secr-dev/secr/cmd/secr-server@") {
		t.Fatalf("got %v", err)
	}
}
