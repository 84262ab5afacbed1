// Command secr is the secr CLI. `secr server` runs the secr-server
// program (cmd/secr-server).
package main

import (
	"context"
	"os"

	"github.com/secr-dev/secr/internal/cli"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run wires the CLI to the real process and returns the exit code.
func run(args []string) int {
	d := cli.SystemDeps()
	err := cli.Run(context.Background(), args, d)
	return cli.Report(err, d.IO.ErrOut)
}
