//go:build !secr_client_only

package main

import (
	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/cli"
	"github.com/secr-dev/secr/internal/serve"
)

// wireServer adds `secr server`. A build with -tags secr_client_only
// leaves it (and the database drivers) out, to measure what linking the
// server costs the client's start (go run ./bench -client-only).
func wireServer(d *cli.Deps) {
	d.Server = func() *cobra.Command { return serve.NewCommand(d.Getenv) }
}
