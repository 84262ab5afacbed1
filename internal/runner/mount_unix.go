//go:build unix

package runner

import (
	"os"
	"syscall"
)

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

func openReadNonblock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// noFollow makes opening a symbolic link at the mount path fail.
const noFollow = syscall.O_NOFOLLOW
