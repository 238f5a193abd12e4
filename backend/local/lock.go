package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gofrs/flock"
)

// lock takes the advisory lock on catalog.lock: exclusive to write, shared
// to read. The lock lives on its own file because catalog.json is replaced
// by rename: a lock on the old inode would guard nothing. gofrs/flock maps
// it to flock(2) on Linux and the BSDs, LockFileEx on Windows and fcntl on
// Solaris, so every released platform gets the same exclusion (the SDK's
// filelock wrapper is a no-op on Solaris and always creates the file). The
// wait runs in a goroutine so that ctx can still cancel it.
func (c *Catalog) lock(ctx context.Context, exclusive bool) (func(), error) {
	path := filepath.Join(c.dir, lockName)
	var f *flock.Flock
	take := func() error { return f.Lock() }
	if exclusive {
		f = flock.New(path, flock.SetFlag(os.O_RDWR|os.O_CREATE), flock.SetPermissions(0o666))
	} else {
		// Readers open read-only and never create the file, so a user who
		// may only read the catalog can still list it, and a read leaves
		// no trace.
		f = flock.New(path, flock.SetFlag(os.O_RDONLY))
		take = func() error { return f.RLock() }
	}
	done := make(chan error, 1)
	go func() {
		for {
			err := take()
			if !errors.Is(err, syscall.EINTR) {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("local catalog: lock %s: %w", path, err)
		}
		// Unlock also closes the file.
		return func() { f.Unlock() }, nil
	case <-ctx.Done():
		// The goroutine may still get the lock: release it when it does.
		go func() {
			if <-done == nil {
				f.Unlock()
			}
		}()
		return nil, fmt.Errorf("local catalog: waiting for lock %s: %w", path, ctx.Err())
	}
}
