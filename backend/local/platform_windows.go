package local

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// syncDir is a no-op: Windows cannot flush a directory handle
// (FlushFileBuffers fails with "Access is denied", golang/go#75541), and
// NTFS journals the rename itself.
func syncDir(string) error { return nil }

// canWrite tries to create and remove a file in dir: Windows has no
// access(2), and ACLs decide what the read-only attribute does not.
func canWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".lifecycle-probe-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// crossDevice reports whether a rename failed because src and dst are on
// different volumes, so the move must copy.
func crossDevice(err error) bool { return errors.Is(err, windows.ERROR_NOT_SAME_DEVICE) }
