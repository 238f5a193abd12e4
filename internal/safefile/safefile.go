// Package safefile writes files the way the catalog and the reports need:
// complete or not at all (temp file, fsync, rename), never through a
// symlink, and with the permissions the umask allows, so that another user
// (a data source run by someone else) can read them.
package safefile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CreateTemp creates a new file in dir named after pattern (its last "*"
// replaced by random text), mode 0666 less the umask: os.CreateTemp makes
// 0600 files, which other users cannot read once renamed into place.
func CreateTemp(dir, pattern string) (*os.File, error) {
	for range 100 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		name := pattern
		if i := strings.LastIndex(pattern, "*"); i >= 0 {
			name = pattern[:i] + hex.EncodeToString(b[:]) + pattern[i+1:]
		} else {
			name += hex.EncodeToString(b[:])
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("creating a temp file in %s: too many collisions", dir)
}

// Write replaces path with data atomically. The rename replaces a symlink
// at path rather than writing where it points.
func Write(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after the rename
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WriteNew writes data at path only if nothing is there yet (not even a
// dangling symlink), atomically: a hard link of the complete temp file
// fails when the name exists. It reports fs.ErrExist in that case.
func WriteNew(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// No hard links on this file system: an exclusive create is the
		// next best (a reader may then see a partial file for a moment).
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if cerr != nil {
			return cerr
		}
		_, werr := f.Write(data)
		return errors.Join(werr, f.Sync(), f.Close())
	}
	return SyncDir(filepath.Dir(path))
}

func writeTemp(path string, data []byte) (string, error) {
	f, err := CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return "", err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Dirs is a set of directories whose entries changed (renames, creations,
// removes). Syncing them once, before the catalog records the change, makes
// a batch of a thousand moves durable without a thousand fsyncs.
type Dirs map[string]bool

// Add notes that dir's entries changed.
func (d Dirs) Add(dirs ...string) {
	for _, dir := range dirs {
		d[dir] = true
	}
}

// Sync makes every change noted so far durable, and forgets them.
func (d Dirs) Sync() error {
	if len(d) == 0 {
		return nil
	}
	err := syncDirs(slices.Sorted(maps.Keys(d)))
	clear(d)
	return err
}
