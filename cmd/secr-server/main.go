// Command secr-server is the secr server, which `secr server` runs: the
// same flags, the same behaviour. It is a program of its own so that the
// secr CLI, which starts in front of every program 'secr run' launches,
// does not load the server and its database drivers.
package main

import (
	"os"

	"github.com/secr-dev/secr/internal/serve"
)

func main() {
	os.Exit(serve.Main(os.Args[1:]))
}
