//go:build unix

package safefile

import (
	"fmt"
	"os"
)

// SyncDir makes a rename in dir durable: without it a power loss can undo
// it.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
