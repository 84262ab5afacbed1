//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris)

package cli

import "golang.org/x/term"

func readPassword(fd int) ([]byte, error) { return term.ReadPassword(fd) }
