// Command secr-server is the secr server, which `secr server` runs: the
// same flags, the same behaviour. It is a program of its own so that the
// secr CLI, which starts in front of every program 'secr run' launches,
// does not load the server and its database drivers.
package main

import (
	"os"
	"runtime/debug"

	"github.com/secr-dev/secr/internal/serve"
)

// The server's garbage collector settings when the operator set none
// (docs/server.md, "Memory"). Its live heap is small (a few MB: caches,
// connections) and every request allocates, so at Go's default (GOGC=100)
// the collector ran every few milliseconds under load; gcPercent lets the
// heap grow to five times the live heap instead, and memoryLimit bounds
// what that may cost: past it the collector runs as often as it must to
// stay under it, whatever gcPercent says.
const (
	gcPercent   = 400
	memoryLimit = 256 << 20
)

func main() {
	gcDefaults(os.Getenv)
	os.Exit(serve.Main(os.Args[1:]))
}

// gcDefaults applies gcPercent and memoryLimit unless GOGC is set (then
// the runtime has applied the operator's settings); GOMEMLIMIT, when set,
// is kept.
func gcDefaults(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(gcPercent)
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
