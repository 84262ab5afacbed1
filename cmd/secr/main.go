// Command secr is both the secr CLI and the secr server.
package main

import (
	"context"
	"os"

	"github.com/secr-dev/secr/internal/cli"
)

func main() {
	err := cli.Run(context.Background(), os.Args[1:], cli.SystemDeps())
	os.Exit(cli.Report(err, os.Stderr))
}
