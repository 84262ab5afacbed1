//go:build !unix && !windows

package config

// lockFile is a no-op where secr has no file locks (neither Unix nor
// Windows): two processes recording marks at once may lose an update.
func lockFile(string) (func(), error) { return func() {}, nil }
