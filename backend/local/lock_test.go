package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/require"
)

// The lock keeps its semantics on every platform: writers exclude everyone,
// readers share with readers, and a reader never creates the lock file.
func TestLockSemantics(t *testing.T) {
	c, err := Open(filepath.Join(t.TempDir(), DefaultDir))
	require.NoError(t, err)
	path := filepath.Join(c.Dir(), lockName)
	ctx := context.Background()
	// probe is another process's view of the lock (a separate open file).
	probe := func(exclusive bool) bool {
		p := flock.New(path, flock.SetFlag(os.O_RDONLY))
		try := p.TryRLock
		if exclusive {
			p = flock.New(path, flock.SetFlag(os.O_RDWR))
			try = p.TryLock
		}
		ok, err := try()
		require.NoError(t, err)
		if ok {
			require.NoError(t, p.Unlock())
		}
		return ok
	}

	require.NoError(t, os.MkdirAll(c.Dir(), 0o755))
	_, err = c.lock(ctx, false)
	require.ErrorIs(t, err, os.ErrNotExist, "a reader must not create the lock file")
	require.NoFileExists(t, path)

	unlock, err := c.lock(ctx, true)
	require.NoError(t, err)
	require.FileExists(t, path, "the writer creates the lock file")
	require.False(t, probe(false), "a writer excludes readers")
	require.False(t, probe(true), "a writer excludes writers")
	unlock()
	require.True(t, probe(true), "unlock releases")

	unlock, err = c.lock(ctx, false)
	require.NoError(t, err)
	require.True(t, probe(false), "readers share")
	require.False(t, probe(true), "a reader excludes writers")
	unlock()

	// A writer waiting behind another gives up when its context ends.
	unlock, err = c.lock(ctx, true)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.lock(cctx, true)
	require.ErrorIs(t, err, context.Canceled)
	unlock()
	// The abandoned wait gets the lock and must release it, or this blocks.
	unlock, err = c.lock(ctx, true)
	require.NoError(t, err)
	unlock()
}
