//go:build !unix

package config

// lockFile is a no-op where secr has no advisory locks (Windows): two
// processes recording marks at the same instant may lose one update there.
func lockFile(string) (func(), error) { return func() {}, nil }
