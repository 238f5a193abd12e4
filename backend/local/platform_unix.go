//go:build unix

package local

import (
	"errors"

	"golang.org/x/sys/unix"
)

// canWrite asks the kernel whether we may create and remove entries in dir,
// without creating anything (a dry run leaves no trace).
func canWrite(dir string) error { return unix.Access(dir, unix.W_OK) }

// crossDevice reports whether a rename failed because src and dst are on
// different file systems, so the move must copy.
func crossDevice(err error) bool { return errors.Is(err, unix.EXDEV) }
