//go:build unix

package runner

import (
	"runtime"
	"syscall"
)

// perVariableLimit: only Linux limits a single variable's size.
const perVariableLimit = runtime.GOOS == "linux"

// argLimit is how many bytes of arguments and environment (strings and
// pointers) execve accepts. Linux: a quarter of the stack limit, at most
// 6 MiB (three quarters of the default 8 MiB stack) and at least 128 KiB.
// Elsewhere: ARG_MAX, 1 MiB on macOS and the BSDs we build for.
func argLimit() int {
	if runtime.GOOS != "linux" {
		return 1 << 20
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &rl); err != nil {
		return 2 << 20
	}
	limit := uint64(6 << 20)
	if cur := uint64(rl.Cur); cur/4 < limit { // Cur is int64 on some systems
		limit = cur / 4
	}
	return int(max(limit, 128<<10))
}
