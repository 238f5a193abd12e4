package local

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Backend is the local catalog as a backend.Backend. It records and acts;
// it never decides (the planner does).
type Backend struct {
	cat   *Catalog
	err   error // from Open, returned by every method: New cannot fail
	clock func() time.Time
}

var _ backend.Backend = (*Backend)(nil)

// New returns the backend for the catalog in dir ("" means DefaultDir).
// clock is injectable for tests; nil means time.Now.
func New(dir string, clock func() time.Time, opts ...Option) *Backend {
	if clock == nil {
		clock = time.Now
	}
	c, err := Open(dir, opts...)
	return &Backend{cat: c, err: err, clock: clock}
}

// Name is shown in reports.
func (b *Backend) Name() string { return "local" }

// Catalog gives access to paths and the raw document (reports, tests).
func (b *Backend) Catalog() *Catalog { return b.cat }

func (b *Backend) now() time.Time { return b.clock().UTC() }

// List returns the family's entries (of q.Channel when set) in recording
// order. Tombstones (deregistered entries) are left out, as the
// backend.Backend contract asks ("every stage but deregistered-and-gone"),
// so the planner never counts or acts on them; ListWithTombstones returns
// them for reports.
func (b *Backend) List(ctx context.Context, q backend.Query) ([]lifecycle.Image, error) {
	return b.list(ctx, q, false)
}

// ListWithTombstones is List plus deregistered entries (Stage deregistered,
// State "deregistered"), for reports that show what was retired.
func (b *Backend) ListWithTombstones(ctx context.Context, q backend.Query) ([]lifecycle.Image, error) {
	return b.list(ctx, q, true)
}

func (b *Backend) list(ctx context.Context, q backend.Query, tombstones bool) ([]lifecycle.Image, error) {
	if b.err != nil {
		return nil, b.err
	}
	doc, err := b.cat.Read(ctx)
	if err != nil {
		return nil, err
	}
	out := []lifecycle.Image{}
	for i := range doc.Entries {
		e := &doc.Entries[i]
		if (q.Family != "" && e.Family != q.Family) || (q.Channel != "" && e.Channel != q.Channel) {
			continue
		}
		if !e.live() && !tombstones {
			continue
		}
		img := e.image()
		img.Managed = b.cat.ours(e)
		out = append(out, img)
	}
	return out, nil
}

// Usage reports, for each given image in the catalog, the live entries that
// were built from it (Parent) or whose qcow2 uses one of its files as
// backing file, as Kind "child-image". Images with no consumer are absent.
func (b *Backend) Usage(ctx context.Context, images []lifecycle.Image) (lifecycle.Usage, error) {
	if b.err != nil {
		return nil, b.err
	}
	doc, err := b.cat.Read(ctx)
	if err != nil {
		return nil, err
	}
	// A dry-run Record writes nothing: its image is passed in but is not in
	// the catalog. Count it as the live entry the real run would have
	// recorded, so its parent and backing file are in use in both runs.
	for _, img := range images {
		if img.ID == "" || doc.find(img.ID) != nil || img.Stage == lifecycle.StageDeregistered {
			continue
		}
		e := Entry{ID: img.ID, Family: img.Family, Stage: lifecycle.StageActive, Managed: img.Managed, Parent: img.Parent}
		for _, p := range img.Snapshots {
			e.Files = append(e.Files, FileRef{Path: p})
		}
		doc.Entries = append(doc.Entries, e)
	}
	backing, err := b.cat.backingUsers(doc)
	if err != nil {
		return nil, err
	}
	u := lifecycle.Usage{}
	for _, img := range images {
		e := doc.find(img.ID)
		if e == nil {
			continue
		}
		if cs := b.cat.consumers(doc, e, backing); len(cs) > 0 {
			u[img.Ref()] = cs
		}
	}
	return u, nil
}

// Record creates the entry of a new build, or converges an existing one.
// img.Snapshots lists the artifact files (artifact.Files()); each must exist
// under the artifact root and is hashed. The id is img.ID, or
// "<family>-<version>-<12 hex of the files' sha256>" when empty, so a re-run
// of the same build finds its entry. With dryRun it checks and writes nothing.
func (b *Backend) Record(ctx context.Context, img lifecycle.Image, dryRun bool) (lifecycle.Image, error) {
	if b.err != nil {
		return img, b.err
	}
	if img.Family == "" {
		return img, fmt.Errorf("local catalog: record %q: family is required", img.Name)
	}
	files, err := b.describeFiles(img.Snapshots)
	if err != nil {
		return img, fmt.Errorf("local catalog: record %s: %w", img.Family, err)
	}
	id := img.ID
	if id == "" {
		id = makeID(img, files)
	}
	if err := validID(id); err != nil {
		return img, fmt.Errorf("local catalog: record: %w", err)
	}
	now := b.now()
	var recorded lifecycle.Image
	record := func(doc *Document) error {
		if err := recordInto(doc, id, img, files, now); err != nil {
			return err
		}
		recorded = doc.find(id).image()
		return nil
	}
	if dryRun {
		doc, err := b.cat.Read(ctx)
		if err != nil {
			return img, err
		}
		if err := record(doc); err != nil {
			return img, err
		}
		return recorded, writable(b.cat.Dir())
	}
	if err := b.cat.Update(ctx, record); err != nil {
		return img, err
	}
	return recorded, nil
}

// describeFiles checks and hashes the artifact files. Paths given relative
// (to the working directory, as packer reports them) are stored relative to
// the artifact root, absolute ones as given.
func (b *Backend) describeFiles(paths []string) ([]FileRef, error) {
	out := []FileRef{}
	seen := map[string]bool{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		stored := abs
		if !filepath.IsAbs(p) {
			if stored, err = filepath.Rel(b.cat.ArtifactRoot(), abs); err != nil {
				return nil, err
			}
		}
		if seen[stored] {
			continue
		}
		seen[stored] = true
		loc, err := b.cat.safePath(stored)
		if err != nil {
			return nil, fmt.Errorf("artifact file %s: %w (artifact files must lie under the directory that contains the catalog directory: put catalog_dir beside the build's output)", p, err)
		}
		if within(loc, resolveExisting(b.cat.Dir())) {
			return nil, fmt.Errorf("artifact file %s lies inside the catalog directory %s", p, b.cat.Dir())
		}
		if ok, err := exists(loc); err != nil || !ok {
			return nil, fmt.Errorf("artifact file %s does not exist (resolved to %s)", p, loc)
		}
		size, sum, err := hashFile(loc)
		if err != nil {
			return nil, err
		}
		out = append(out, FileRef{Path: stored, Size: size, SHA256: sum})
	}
	return out, nil
}

// recordInto applies one Record to the document. Re-recording the same
// content changes nothing; new files under an existing id (a rebuild with a
// fixed id) replace the old ones, while the entry is still active.
func recordInto(doc *Document, id string, img lifecycle.Image, files []FileRef, now time.Time) error {
	e := doc.find(id)
	if e == nil {
		released := img.ReleasedAt
		if released.IsZero() {
			released = now
		}
		doc.Entries = append(doc.Entries, Entry{
			ID: id, Stage: lifecycle.StageActive, StageSince: now, ReleasedAt: released.UTC(),
			Managed: true, Files: files,
			History: []Event{{Time: now, Action: ActionRecord, Reason: "recorded new build", To: lifecycle.StageActive}},
		})
		setMeta(&doc.Entries[len(doc.Entries)-1], img)
		return nil
	}
	if e.Family != img.Family {
		return fmt.Errorf("local catalog: record: id %s already belongs to family %q, not %q", id, e.Family, img.Family)
	}
	// A retired entry is never revived or rewritten by a build: the new
	// build would silently inherit a retired stage (and, for a tombstone,
	// vanish from List). Identical content means a reproducible rebuild of
	// a retired release: the user restores it or bumps the version.
	if e.Stage != lifecycle.StageActive {
		return fmt.Errorf("local catalog: record: entry %s already exists and is %s (a rebuild of a retired release?): restore it, or record the build under a new version or id", id, e.Stage)
	}
	if !sameFiles(e.Files, files) {
		e.Files = files
		e.History = append(e.History, Event{Time: now, Action: ActionRecord, Reason: "re-recorded: artifact files changed", From: e.Stage, To: e.Stage})
	}
	setMeta(e, img)
	return nil
}

// sameFiles compares what identifies the content, not where it sits now.
func sameFiles(a, b []FileRef) bool {
	return slices.EqualFunc(a, b, func(x, y FileRef) bool {
		return x.Path == y.Path && x.Size == y.Size && x.SHA256 == y.SHA256
	})
}

// setMeta copies the release metadata the build owns. Stage, history and
// released_at belong to the catalog and are left alone. A build can set a
// pin or a protection but never clears one: a re-record of the same build
// must not expose a release someone chose to keep.
func setMeta(e *Entry, img lifecycle.Image) {
	e.Family, e.Version, e.Channel, e.Name = img.Family, img.Version, img.Channel, img.Name
	e.BuildTime, e.ExpiresAt = img.BuildTime.UTC(), img.ExpiresAt.UTC()
	e.Pinned, e.Protected, e.Parent = e.Pinned || img.Pinned, e.Protected || img.Protected, img.Parent
	e.Tags = maps.Clone(img.Tags)
	if len(e.Tags) == 0 {
		e.Tags = nil
	}
}
