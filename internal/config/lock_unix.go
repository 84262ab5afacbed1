//go:build unix

package config

import (
	"os"
	"syscall"
)

// lockFile holds an exclusive advisory lock on path (created 0600) until
// the returned function is called, so that read-modify-write cycles of
// several secr processes on one state file do not lose each other's
// updates.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
