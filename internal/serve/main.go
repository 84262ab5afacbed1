package serve

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/cli"
)

// Main is the secr-server program: `secr server` with args (the arguments
// after "server"), the server linked in. It returns the exit code.
func Main(args []string) int {
	d := cli.SystemDeps()
	d.Server = func() *cobra.Command { return NewCommand(d.Getenv) }
	if len(args) != 1 || args[0] != "--version" {
		args = append([]string{"server"}, args...)
	}
	err := cli.Run(context.Background(), args, d)
	return cli.Report(err, d.IO.ErrOut)
}
