//go:build !unix

package cli

import "golang.org/x/term"

func readPassword(fd int) ([]byte, error) { return term.ReadPassword(fd) }
