package safefile

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncDirs flushes each file system the directories live on once
// (syncfs(2)): one call instead of one fsync per directory. A directory
// that no longer exists has nothing left to flush.
func syncDirs(dirs []string) error {
	seen := map[uint64]bool{}
	for _, dir := range dirs {
		d, err := os.Open(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(d.Fd()), &st); err != nil {
			d.Close()
			return fmt.Errorf("stat %s: %w", dir, err)
		}
		if dev := uint64(st.Dev); !seen[dev] {
			seen[dev] = true
			if err := unix.Syncfs(int(d.Fd())); err != nil {
				d.Close()
				return fmt.Errorf("syncfs %s: %w", dir, err)
			}
		}
		d.Close()
	}
	return nil
}
