//go:build !unix

package runner

import (
	"errors"
	"os"
)

func mkfifo(path string) error {
	return errors.New("--mount needs named pipes, which this platform lacks")
}

func openReadNonblock(path string) (*os.File, error) { return nil, os.ErrNotExist }

const noFollow = 0
