//go:build unix

package runner

import (
	"fmt"
	"strings"
	"syscall"
)

// ParseSignal parses a signal name such as SIGHUP or HUP.
func ParseSignal(name string) (syscall.Signal, error) {
	sigs := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
		"TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2}
	if s, ok := sigs[strings.TrimPrefix(strings.ToUpper(name), "SIG")]; ok {
		return s, nil
	}
	return 0, fmt.Errorf("unknown signal %q: use SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGQUIT or SIGTERM", name)
}
