//go:build !(linux || freebsd || openbsd || netbsd || dragonfly || darwin || windows)

package config

// OSKeyring is no keyring on this platform.
func OSKeyring(func(string) string) Keyring {
	return noKeyring{why: "secr supports no keyring on this platform"}
}
