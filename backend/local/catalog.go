// Package local is the backend for file-based artifacts (qemu qcow2, the
// file builder, exports): a JSON catalog beside the artifacts records every
// release and its stage, and retiring moves files into a quarantine before
// they are ever deleted.
//
// The catalog is one human-readable file, catalog.json, guarded by an
// advisory lock on a separate catalog.lock (shared to read, exclusive to
// write; see lock.go) and always replaced atomically (temp file, fsync, rename, fsync
// dir), so a reader never sees a half-written file and a killed writer
// leaves the previous version intact. The previous version is kept as
// catalog.json.bak on every write.
package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/crashpoint"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/safefile"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// DefaultDir is where the catalog lives when no directory is given.
const DefaultDir = ".packer-lifecycle"

const (
	catalogName = "catalog.json"
	lockName    = "catalog.lock"
	bakSuffix   = ".bak"
	tmpPattern  = "catalog-*.tmp"
	quarantine  = "quarantine"
)

// Catalog is the catalog file of one directory. It holds no state besides
// paths: every operation re-reads the file under the lock, so several
// processes (parallel packer builds) can share one catalog.
type Catalog struct {
	dir       string // absolute catalog directory
	root      string // absolute artifact root
	managedBy string // the marker of entries we may retire; "" accepts any
}

// Option configures Open.
type Option func(*Catalog)

// WithArtifactRoot sets the directory artifact files must live under.
// Default: the directory containing the catalog directory (the packer
// working directory for the default ./.packer-lifecycle).
func WithArtifactRoot(root string) Option {
	return func(c *Catalog) { c.root = root }
}

// WithManagedBy sets the managed-by marker (lifecycle:managed-by tag) that
// entries must carry to count as managed: two teams sharing a catalog with
// different markers never retire each other's releases.
func WithManagedBy(marker string) Option {
	return func(c *Catalog) { c.managedBy = marker }
}

// ours reports whether the entry is managed by this catalog's marker.
func (c *Catalog) ours(e *Entry) bool {
	return e.Managed && (c.managedBy == "" || e.Tags[lifecycle.TagManagedBy] == c.managedBy)
}

// Open returns the catalog in dir ("" means DefaultDir). It creates nothing:
// the directory appears on the first write, so a dry run leaves no trace.
func Open(dir string, opts ...Option) (*Catalog, error) {
	if dir == "" {
		dir = DefaultDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local catalog: %w", err)
	}
	c := &Catalog{dir: abs, root: filepath.Dir(abs)}
	for _, o := range opts {
		o(c)
	}
	if c.root, err = filepath.Abs(c.root); err != nil {
		return nil, fmt.Errorf("local catalog: artifact root: %w", err)
	}
	return c, nil
}

// Dir is the absolute catalog directory.
func (c *Catalog) Dir() string { return c.dir }

// Path is the absolute path of catalog.json.
func (c *Catalog) Path() string { return filepath.Join(c.dir, catalogName) }

// ArtifactRoot is the directory artifact files must live under.
func (c *Catalog) ArtifactRoot() string { return c.root }

// QuarantineDir is where disabled entries' files are moved.
func (c *Catalog) QuarantineDir() string { return filepath.Join(c.dir, quarantine) }

// Read returns the current content under a shared lock. A missing catalog
// reads as empty, without creating anything. Without a lock file (a catalog
// copied or checked out without it) no writer holds the lock, and since
// catalog.json is only ever replaced by rename, reading it without one is
// safe: a read creates nothing, so a dry run leaves no trace.
func (c *Catalog) Read(ctx context.Context) (*Document, error) {
	if _, err := os.Stat(c.Path()); errors.Is(err, fs.ErrNotExist) {
		return &Document{Schema: SchemaVersion}, nil
	}
	if _, err := os.Stat(filepath.Join(c.dir, lockName)); errors.Is(err, fs.ErrNotExist) {
		doc, _, err := c.load()
		return doc, err
	}
	unlock, err := c.lock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	doc, _, err := c.load()
	return doc, err
}

// Update runs fn on the current content under the exclusive lock and writes
// the result atomically. When fn returns an error nothing is written. A
// catalog that does not parse is never overwritten: Update fails before fn.
func (c *Catalog) Update(ctx context.Context, fn func(*Document) error) error {
	if err := os.MkdirAll(c.dir, 0o777); err != nil {
		return fmt.Errorf("local catalog: %w", err)
	}
	unlock, err := c.lock(ctx, true)
	if err != nil {
		return err
	}
	defer unlock()
	doc, old, err := c.load()
	if err != nil {
		return err
	}
	c.removeStaleTemps()
	if err := fn(doc); err != nil {
		return err
	}
	return c.write(doc, old)
}

// load parses catalog.json. Errors name the file and the position of the
// JSON error and point at the backup, because the fix is a human decision.
func (c *Catalog) load() (*Document, []byte, error) {
	path := c.Path()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Document{Schema: SchemaVersion}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("local catalog: %w", err)
	}
	var doc Document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, c.corrupt(data, err)
	}
	switch {
	case doc.Schema > SchemaVersion:
		return nil, nil, fmt.Errorf("local catalog %s has schema %d; this plugin reads schema %d: upgrade the plugin", path, doc.Schema, SchemaVersion)
	case doc.Schema < 1:
		return nil, nil, fmt.Errorf("local catalog %s is corrupt: missing or invalid \"schema\" (want %d); it was left unchanged — restore it from %s", path, SchemaVersion, path+bakSuffix)
	}
	seen := make(map[string]bool, len(doc.Entries))
	for _, e := range doc.Entries {
		if err := validID(e.ID); err != nil || seen[e.ID] {
			return nil, nil, fmt.Errorf("local catalog %s is corrupt: bad or duplicate entry id %q; it was left unchanged — restore it from %s", path, e.ID, path+bakSuffix)
		}
		seen[e.ID] = true
	}
	return &doc, data, nil
}

func (c *Catalog) corrupt(data []byte, err error) error {
	var off int64
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	}
	pos := ""
	if off > 0 {
		// Offset counts the bytes read, so the offending byte is off-1.
		at := min(int(off), len(data)) - 1
		line := 1 + bytes.Count(data[:at], []byte("\n"))
		col := at - bytes.LastIndexByte(data[:at], '\n')
		pos = fmt.Sprintf(" at line %d, column %d (byte offset %d)", line, col, at)
	}
	return fmt.Errorf("local catalog %s is corrupt%s: %v; it was left unchanged — restore it from %s", c.Path(), pos, err, c.Path()+bakSuffix)
}

// write replaces catalog.json atomically and keeps the previous version as
// catalog.json.bak. A write that changes nothing is skipped, so idempotent
// re-runs neither touch the file nor push the real previous version out of
// the backup. Order matters: the new content is durable in the temp
// file before anything is renamed, so a crash at any step leaves either the
// old or the new catalog, never a mix.
func (c *Catalog) write(doc *Document, old []byte) error {
	doc.Schema = SchemaVersion
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("local catalog: encode: %w", err)
	}
	data = append(data, '\n')
	if old != nil && bytes.Equal(data, old) {
		return nil
	}

	tmp, err := safefile.CreateTemp(c.dir, tmpPattern)
	if err != nil {
		return fmt.Errorf("local catalog: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("local catalog: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("local catalog: fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("local catalog: %w", err)
	}
	crashpoint.Hit("wrote " + tmp.Name())
	if err := c.backup(); err != nil {
		return err
	}
	crashpoint.Hit("backed up " + c.Path())
	if err := os.Rename(tmp.Name(), c.Path()); err != nil {
		return fmt.Errorf("local catalog: %w", err)
	}
	crashpoint.Hit("replaced " + c.Path())
	return safefile.SyncDir(c.dir)
}

// backup makes catalog.json.bak the current (soon previous) version. A hard
// link costs nothing and is atomic via rename; the rename of the new catalog
// then gives catalog.json a new inode while .bak keeps the old one.
func (c *Catalog) backup() error {
	cur, bak := c.Path(), c.Path()+bakSuffix
	if _, err := os.Stat(cur); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	tmp := bak + ".tmp"
	os.Remove(tmp)
	if err := os.Link(cur, tmp); err != nil {
		// Filesystems without hard links: copy instead.
		data, rerr := os.ReadFile(cur)
		if rerr != nil {
			return fmt.Errorf("local catalog: backup: %w", rerr)
		}
		if werr := writeFileSync(tmp, data); werr != nil {
			return fmt.Errorf("local catalog: backup: %w", werr)
		}
	}
	if err := os.Rename(tmp, bak); err != nil {
		return fmt.Errorf("local catalog: backup: %w", err)
	}
	// When bak is catalog.json already (a writer killed after its backup
	// and before its rename), rename(2) of two links to one file does
	// nothing and leaves tmp: drop it.
	os.Remove(tmp)
	return nil
}

// removeStaleTemps deletes temp files of writers killed mid-write. Only
// called under the exclusive lock, when no other writer can own one.
func (c *Catalog) removeStaleTemps() {
	matches, _ := filepath.Glob(filepath.Join(c.dir, tmpPattern))
	for _, m := range matches {
		os.Remove(m)
	}
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
