package cli

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/runner"
)

// serverProgram is the program `secr server` runs.
const serverProgram = "secr-server"

// newServerCmd is `secr server`: the server itself inside secr-server,
// else a launcher that replaces secr with secr-server, passing every
// argument on (its flags and --help are secr-server's).
//
// The server is a program of its own so that secr, which starts in front of
// every program 'secr run' launches, neither loads nor initialises the
// server and its database drivers: half the binary, and about a millisecond
// of every run (docs/performance.md).
func newServerCmd(d *Deps) *cobra.Command {
	if d.Server != nil {
		return d.Server()
	}
	return &cobra.Command{
		Use:   "server [flags]",
		Short: "Run a secr server (embedded SQLite by default, or PostgreSQL)",
		Long: `Run the secr API server: the secr-server program, which release archives,
packages and the container image install beside secr (from source: go install
./cmd/secr ./cmd/secr-server). 'secr server --help' shows its flags.`,
		Example: `  secr server
  secr server --listen 0.0.0.0:7700 --tls-cert cert.pem --tls-key key.pem
  secr server --db postgres://secr@db.internal/secr --signup closed`,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			path, err := findServer(d)
			if err != nil {
				return err
			}
			return d.Exec(&runner.Command{Path: path, Args: append([]string{path}, args...), Env: d.Environ()})
		},
	}
}

// findServer looks for secr-server beside this program (symlinks
// resolved: a package manager's bin directory links to the real files),
// then on PATH.
func findServer(d *Deps) (string, error) {
	name := serverProgram
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			p := filepath.Join(filepath.Dir(exe), name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	if p, err := d.LookPath(serverProgram); err == nil {
		return p, nil
	}
	return "", withHint(errors.New("secr server runs the secr-server program, which is neither beside secr nor on PATH"),
		"install secr-server from the same release as secr (the archives, packages and container image hold both), or from source: go install github.com/secr-dev/secr/cmd/secr-server@%s", installVersion())
}

// installVersion is what to put after @ in go install: this build's
// version when it is a release, else latest.
func installVersion() string {
	if v := buildVersion(); len(v) > 1 && v[0] == 'v' {
		return v
	}
	return "latest"
}
