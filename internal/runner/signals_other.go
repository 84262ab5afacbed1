//go:build !unix

package runner

import (
	"errors"
	"syscall"
)

// ParseSignal is not available without Unix signals.
func ParseSignal(name string) (syscall.Signal, error) {
	return 0, errors.New("--on-change signal needs Unix signals")
}
