//go:build unix

package local

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncDir makes a rename durable: without it a power loss can undo it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("local catalog: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("local catalog: fsync %s: %w", dir, err)
	}
	return nil
}

// canWrite asks the kernel whether we may create and remove entries in dir,
// without creating anything (a dry run leaves no trace).
func canWrite(dir string) error { return unix.Access(dir, unix.W_OK) }

// crossDevice reports whether a rename failed because src and dst are on
// different file systems, so the move must copy.
func crossDevice(err error) bool { return errors.Is(err, unix.EXDEV) }
