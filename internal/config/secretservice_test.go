//go:build linux || freebsd || openbsd || netbsd || dragonfly

package config

import (
	"errors"
	"path/filepath"
	"testing"
)

// OSKeyring without a session bus is "no keyring" (the fallback case), and
// secr never launches a bus.
func TestOSKeyringWithoutBus(t *testing.T) {
	k := OSKeyring(func(string) string { return "" })
	if _, ok := k.(*SecretService); !ok {
		t.Skip("not a Secret Service platform")
	}
	if _, err := k.Get(server); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("Get without a bus: %v", err)
	}
	// A bus address nothing listens on is no keyring either.
	k = &SecretService{Address: "unix:path=" + filepath.Join(t.TempDir(), "no-bus")}
	if err := k.Set(server, "label", "v"); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("Set with a dead bus address: %v", err)
	}
}
