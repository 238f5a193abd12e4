//go:build unix && !linux

package safefile

import (
	"errors"
	"os"
)

// syncDirs fsyncs each directory (no syncfs here).
func syncDirs(dirs []string) error {
	for _, dir := range dirs {
		if err := SyncDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
