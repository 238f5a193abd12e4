package local

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Region is the region of every local image: a catalog is one place.
const Region = "local"

// Backend is the local catalog as a backend.Backend. It records and acts;
// it never decides (the planner does).
type Backend struct {
	cat   *Catalog
	err   error // from Open, returned by every method: New cannot fail
	clock func() time.Time
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Files   = (*Backend)(nil)
)

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

// NewReleases describes a build's artifact as one release: its files.
func (b *Backend) NewReleases(a packersdk.Artifact, release lifecycle.Image) ([]lifecycle.Image, error) {
	if len(a.Files()) == 0 {
		return nil, fmt.Errorf("the artifact of builder %s has no files for the local catalog: use a builder that writes files, or set sweep = true", a.BuilderId())
	}
	release.Region = Region
	release.Snapshots = slices.Clone(a.Files())
	return []lifecycle.Image{release}, nil
}

// List returns the family's entries (of q.Channel when set) in recording
// order. Tombstones are left out (the contract: "every stage but gone"); an
// entry whose files vanished is listed as gone (State deregistered), so it
// never counts as a release and the planner records it as retired; an
// entry whose files changed is listed with State "changed" and skipped.
func (b *Backend) List(ctx context.Context, q backend.Query) (backend.Listing, error) {
	imgs, err := b.list(ctx, q, false)
	return backend.Listing{Images: imgs}, err
}

// ListWithTombstones is List plus deregistered entries, for reports that
// show what was retired.
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
		if (q.Family != "" && !q.AllFamilies && e.Family != q.Family) || (q.Channel != "" && e.Channel != q.Channel) {
			continue
		}
		if !e.live() && !tombstones {
			continue
		}
		out = append(out, b.cat.current(e))
	}
	return out, nil
}

// Usage reports, for each given image, the live entries built from it
// (Parent) or whose qcow2 uses one of its files as backing file, as
// "child-image". It fails closed: when the catalog cannot be read every
// image is in use by an unknown consumer; when one entry's qcow2 header
// cannot be read, that entry and its parent are.
func (b *Backend) Usage(ctx context.Context, images []lifecycle.Image) lifecycle.Usage {
	u := lifecycle.Usage{}
	unknown := func(img lifecycle.Image, why error) {
		u[img.Ref()] = append(u[img.Ref()], lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: why.Error()})
	}
	doc, err := b.read(ctx)
	if err != nil {
		for _, img := range images {
			unknown(img, err)
		}
		return u
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
	deps := b.cat.dependencies(doc)
	for _, img := range images {
		e := doc.find(img.ID)
		if e == nil {
			continue
		}
		if cs := deps.consumers(e); len(cs) > 0 {
			u[img.Ref()] = cs
		}
		if err := deps.unreadable[e.ID]; err != nil {
			unknown(img, err)
		}
	}
	for id, err := range deps.unreadable {
		e := doc.find(id)
		if e == nil || e.Parent == "" {
			continue
		}
		if i := slices.IndexFunc(images, func(i lifecycle.Image) bool { return i.ID == e.Parent }); i >= 0 {
			unknown(images[i], fmt.Errorf("child %s: %w", id, err))
		}
	}
	return u
}

func (b *Backend) read(ctx context.Context) (*Document, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.cat.Read(ctx)
}

// Record creates the entries of new builds, or converges existing ones, in
// one catalog transaction. img.Snapshots lists the artifact files; each
// must exist under the artifact root and is hashed. The id is img.ID, or
// "<family>-<version>-<12 hex>" where the hex digests the family, the exact
// version and the files' content, so a re-run of the same build finds its
// entry and two releases never share one. An image with State
// backend.StatePending is recorded as pending; recording it again without
// that state makes it a release. With dryRun it checks and writes nothing.
func (b *Backend) Record(ctx context.Context, images []lifecycle.Image, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(images))
	type prepared struct {
		id    string
		files []FileRef
	}
	preps := make([]prepared, len(images))
	ok := false
	for i, img := range images {
		results[i].Ref, results[i].Image = img.Ref(), img
		files, id, err := b.prepare(img)
		if err != nil {
			results[i].Err = err
			continue
		}
		preps[i], results[i].Ref.ID, ok = prepared{id, files}, id, true
	}
	if !ok {
		return results
	}
	now := b.now()
	record := func(doc *Document) error {
		for i, img := range images {
			if results[i].Err != nil {
				continue
			}
			r := &results[i]
			r.Changed, r.Note, r.Err = b.cat.recordInto(doc, preps[i].id, img, preps[i].files, now)
			if r.Err == nil {
				r.Image = doc.find(preps[i].id).image()
				r.Image.Managed = b.cat.ours(doc.find(preps[i].id))
			}
		}
		return nil
	}
	var err error
	if dryRun {
		var doc *Document
		if doc, err = b.cat.Read(ctx); err == nil {
			record(doc)
			err = writable(b.cat.Dir())
		}
	} else {
		err = b.cat.Update(ctx, record)
	}
	if err != nil {
		for i := range results {
			if results[i].Err == nil {
				results[i].Err, results[i].Changed = err, false
			}
		}
	}
	return results
}

// prepare checks and hashes an image's files and chooses its id.
func (b *Backend) prepare(img lifecycle.Image) ([]FileRef, string, error) {
	if b.err != nil {
		return nil, "", b.err
	}
	if img.Family == "" {
		return nil, "", fmt.Errorf("local catalog: record %q: family is required", img.Name)
	}
	files, err := b.describeFiles(img.Snapshots)
	if err != nil {
		return nil, "", fmt.Errorf("local catalog: record %s %s: %w", img.Family, img.Version, err)
	}
	id := img.ID
	if id == "" {
		id = makeID(img, files)
	}
	if err := validID(id); err != nil {
		return nil, "", fmt.Errorf("local catalog: record: %w", err)
	}
	return files, id, nil
}

// Forget removes entries that are still pending: a run that failed after
// recording its new build, whose artifact Packer destroys.
func (b *Backend) Forget(ctx context.Context, refs []lifecycle.Ref) []backend.Result {
	results := make([]backend.Result, len(refs))
	for i, r := range refs {
		results[i].Ref = r
	}
	if b.err != nil {
		for i := range results {
			results[i].Err = b.err
		}
		return results
	}
	err := b.cat.Update(ctx, func(doc *Document) error {
		for i, r := range refs {
			if e := doc.find(r.ID); e != nil && e.Pending {
				doc.Entries = slices.DeleteFunc(doc.Entries, func(x Entry) bool { return x.ID == r.ID })
				results[i].Changed = true
			}
		}
		return nil
	})
	if err != nil {
		for i := range results {
			results[i].Err = err
		}
	}
	return results
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

// recordInto applies one Record to the document and says whether anything
// changed. Re-recording the same build changes nothing (but a pending entry
// becomes a release). An id that belongs to a different release is refused,
// never merged. Another live entry whose files sat at the paths this build
// just wrote lost them: it is tombstoned, so no two entries ever claim one
// file.
func (c *Catalog) recordInto(doc *Document, id string, img lifecycle.Image, files []FileRef, now time.Time) (bool, string, error) {
	pending := img.State == backend.StatePending
	e := doc.find(id)
	if e != nil {
		if e.Family != img.Family || e.Version != img.Version {
			return false, "", fmt.Errorf("local catalog: record %s %s: id %s already belongs to %s %s; a record never merges two releases (set a different id or version)", img.Family, img.Version, id, e.Family, e.Version)
		}
		if !sameFiles(e.Files, files) {
			return false, "", fmt.Errorf("local catalog: record %s: the entry records other files (%s); a record never rewrites a release: set a different id", id, filesList(e.Files))
		}
		// A retired entry is never revived by a build. A deprecated one
		// still has its files in place, byte for byte what was just built:
		// nothing to record, and failing would make Packer delete them.
		switch e.Stage {
		case lifecycle.StageActive:
		case lifecycle.StageDeprecated:
			return false, fmt.Sprintf("the same build is recorded already as %s, which stays deprecated (a rebuild does not revive it: restore it, or build a new version)", id), nil
		default:
			return false, "", fmt.Errorf("local catalog: record: entry %s already exists and is %s (a rebuild of a retired release?): restore it, or record the build under a new version or id", id, e.Stage)
		}
	}
	note := c.claimPaths(doc, id, files, now)
	if e == nil {
		released := img.ReleasedAt
		if released.IsZero() {
			released = now
		}
		doc.Entries = append(doc.Entries, Entry{
			ID: id, Stage: lifecycle.StageActive, StageSince: now, ReleasedAt: released.UTC(),
			Managed: true, Files: files, Pending: pending,
			History: []Event{{Time: now, Action: ActionRecord, Reason: recordReason(pending), To: lifecycle.StageActive}},
		})
		setMeta(&doc.Entries[len(doc.Entries)-1], img)
		return true, note, nil
	}
	changed := note != ""
	if e.Pending && !pending {
		// Pending was this run's own business: the history keeps one
		// record event, the way a run that never failed leaves it.
		e.Pending, e.StageSince, changed = false, now, true
		for i := range e.History {
			if e.History[i].Action == ActionRecord && e.History[i].From == "" {
				e.History[i].Reason = recordReason(false)
			}
		}
	}
	// The same build again is the same release: its times, expiry and
	// metadata stay as first recorded. It may add a pin or a protection,
	// never clear one: a re-record must not expose a release someone chose
	// to keep.
	if img.Pinned && !e.Pinned || img.Protected && !e.Protected {
		e.Pinned, e.Protected, changed = e.Pinned || img.Pinned, e.Protected || img.Protected, true
	}
	return changed, note, nil
}

func recordReason(pending bool) string {
	if pending {
		return "recorded new build (pending until its run succeeds)"
	}
	return "recorded new build"
}

// claimPaths tombstones the other live entries that list a file at one of
// the paths just written (the builder overwrote them) and returns a note.
func (c *Catalog) claimPaths(doc *Document, id string, files []FileRef, now time.Time) string {
	mine := map[string]bool{}
	for _, f := range files {
		mine[c.realPath(f.Path)] = true
	}
	var lost []string
	for i := range doc.Entries {
		o := &doc.Entries[i]
		if o.ID == id || !o.live() {
			continue
		}
		for j, f := range o.Files {
			if f.Deleted || f.Quarantined != "" || !mine[c.realPath(f.Path)] {
				continue
			}
			o.Files[j].Deleted = true
			lost = append(lost, o.ID)
			from := o.Stage
			o.Stage, o.StageSince, o.Pending = lifecycle.StageDeregistered, now, false
			o.History = append(o.History, Event{Time: now, Action: lifecycle.ActionDeregister, From: from, To: lifecycle.StageDeregistered,
				Reason: fmt.Sprintf("its file %s was overwritten by build %s", f.Path, id)})
		}
	}
	if len(lost) == 0 {
		return ""
	}
	slices.Sort(lost)
	return fmt.Sprintf("overwrote the files of %s (recorded as deregistered)", slices.Compact(lost))
}

// sameFiles compares what identifies the content, not where it sits now.
func sameFiles(a, b []FileRef) bool {
	return slices.EqualFunc(a, b, func(x, y FileRef) bool {
		return x.Path == y.Path && x.Size == y.Size && x.SHA256 == y.SHA256
	})
}

func filesList(fs []FileRef) string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fmt.Sprintf("%s sha256 %.12s…", f.Path, f.SHA256)
	}
	return fmt.Sprint(out)
}

// setMeta copies the release metadata the build owns into a new entry.
func setMeta(e *Entry, img lifecycle.Image) {
	e.Family, e.Version, e.Channel, e.Name = img.Family, img.Version, img.Channel, img.Name
	e.BuildTime, e.ExpiresAt = img.BuildTime.UTC(), img.ExpiresAt.UTC()
	e.Pinned, e.Protected, e.Parent = img.Pinned, img.Protected, img.Parent
	e.Tags = maps.Clone(img.Tags)
	if len(e.Tags) == 0 {
		e.Tags = nil
	}
}
