//go:build secr_client_only

package main

import "github.com/secr-dev/secr/internal/cli"

// wireServer: this build has no server (see server_wire.go).
func wireServer(*cli.Deps) {}
