package local

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/safefile"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// testHookAfterFileOp, when set, runs after Apply's file operations and
// before the catalog write; an error aborts the write, simulating a crash
// at the worst moment.
var testHookAfterFileOp func(id string) error

// Apply carries the run's decisions out, in order, in one catalog
// transaction:
//
//	deprecate   mark the entry (no file is touched)
//	disable     move its files to <dir>/quarantine/<id>/ (restorable)
//	deregister  with DeleteSnapshots delete the quarantined files, else leave
//	            them in quarantine; either way the entry becomes a tombstone
//	restore     move quarantined files back to their paths, stage active
//
// File operations run first, under the exclusive lock, then one atomic
// catalog write records every stage, stage_since and history event. Every
// file operation is idempotent, so after a crash before the write, running
// the same decisions again converges. A decision whose target stage is
// already reached succeeds with Changed false (a re-run, or a concurrent
// run that got there first). Keep and skip do nothing. A cancelled context
// stops between decisions; what was done is still written.
//
// With dryRun every check runs (entry, transition, pins, dependents, path
// safety, files present and unchanged, directories writable) and nothing
// on disk changes, not even the catalog.
func (b *Backend) Apply(ctx context.Context, ds []lifecycle.Decision, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(ds))
	for i, d := range ds {
		results[i].Ref, results[i].Image = d.Image.Ref(), d.Image
	}
	if !slices.ContainsFunc(ds, func(d lifecycle.Decision) bool { return d.Action.Mutates() }) {
		return results
	}
	now := b.now()
	run := func(doc *Document) error {
		deps, dirs := b.cat.dependencies(doc), safefile.Dirs{}
		for i, d := range ds {
			if !d.Action.Mutates() {
				continue
			}
			if err := ctx.Err(); err != nil {
				results[i].Err = err
				continue
			}
			r := &results[i]
			r.Changed, r.Note, r.Err = b.cat.apply(doc, deps, d, now, dryRun, dirs)
		}
		// Every move and delete is durable before the catalog says so.
		return dirs.Sync()
	}
	var err error
	if b.err != nil {
		err = b.err
	} else if dryRun {
		var doc *Document
		if doc, err = b.cat.Read(ctx); err == nil {
			err = run(doc)
		}
	} else if err = b.cat.premark(ctx, ds); err == nil {
		err = b.cat.Update(context.WithoutCancel(ctx), run)
	}
	if err != nil {
		for i, d := range ds {
			if d.Action.Mutates() && results[i].Err == nil {
				results[i].Err, results[i].Changed = err, false
			}
		}
	}
	return results
}

// premark writes the marker of each disable that carries one before its
// files move: a run killed between the moves and the catalog write then
// leaves the entry marked with the build it was disabled for
// (lifecycle.Plan, rule 0). A deprecate moves no file: its marker goes
// with its stage.
func (c *Catalog) premark(ctx context.Context, ds []lifecycle.Decision) error {
	marks := func(d lifecycle.Decision) bool { return d.Action == lifecycle.ActionDisable && d.SupersededBy.ID != "" }
	if !slices.ContainsFunc(ds, marks) {
		return nil
	}
	return c.Update(context.WithoutCancel(ctx), func(doc *Document) error {
		for _, d := range ds {
			if e := doc.find(d.Image.ID); marks(d) && e != nil && c.ours(e) && e.Stage == lifecycle.StageDeprecated {
				e.SupersededBy = d.SupersededBy.String()
			}
		}
		return nil
	})
}

// apply carries one decision out on doc and says whether anything changed
// and what detail the report should show. lifecycle.CheckTransition, on
// the entry as it is now, decides whether the decision still holds; this
// function adds what only the catalog knows (the managed-by marker, files
// another entry depends on, paths) and moves the files.
func (c *Catalog) apply(doc *Document, deps *deps, d lifecycle.Decision, now time.Time, dry bool, dirs safefile.Dirs) (changed bool, note string, err error) {
	e := doc.find(d.Image.ID)
	if e == nil {
		return false, "", fmt.Errorf("local catalog: %s %s: no such entry in %s", d.Action, d.Image.ID, c.Path())
	}
	// A failed item leaves its entry as it was, as if the run had crashed
	// before the catalog write: what the files look like now is for the
	// re-run to find out, never half-recorded.
	saved := *e
	saved.Files, saved.History = slices.Clone(e.Files), slices.Clone(e.History)
	defer func() {
		if err != nil {
			*e = saved
		}
	}()
	if d.Image.Region != Region {
		return false, "", fmt.Errorf("local catalog: %s %s: region %q is not %q", d.Action, d.Image.ID, d.Image.Region, Region)
	}
	fail := func(err error) error { return fmt.Errorf("local catalog: %w", err) }
	if !c.ours(e) {
		return false, "", fail(fmt.Errorf("%s %s: entry is managed by %q, not %q", d.Action, e.ID, e.Tags[lifecycle.TagManagedBy], c.managedBy))
	}
	cur := c.current(e)
	from, to := e.Stage, d.Target()
	err = lifecycle.CheckTransition(cur, d, deps.usage(e), now)
	switch {
	case errors.Is(err, lifecycle.ErrAlreadyDone) && from == to && lifecycle.MarkerOnly(cur, d):
		// Bookkeeping of a run, not a stage: the history has no event for it.
		if !dry {
			e.SupersededBy = d.SupersededBy.String()
		}
		return true, "", nil
	case errors.Is(err, lifecycle.ErrAlreadyDone) && from == to:
		return false, "", nil
	case errors.Is(err, lifecycle.ErrAlreadyDone):
		// Done on disk, not in the catalog (a crash before the write):
		// record the stage only.
		note = "found done, recorded"
		if dry {
			return true, note, nil
		}
		return true, note, c.record(e, cur, d, now, note)
	case err != nil:
		return false, "", fail(err)
	}
	switch d.Action {
	case lifecycle.ActionDisable:
		if err := deps.checkNoDependents(e); err != nil {
			return false, "", fail(err)
		}
		for i := range e.Files {
			if err := c.moveOne(e, i, true, dry, dirs); err != nil {
				if !dry {
					// Put back what was already moved: the entry stays
					// deprecated, and a deprecated release still launches.
					for j := i - 1; j >= 0; j-- {
						if rerr := c.moveOne(e, j, false, false, dirs); rerr != nil {
							err = fmt.Errorf("%w; moving %s back also failed: %v", err, e.Files[j].Path, rerr)
						}
					}
					removeEmptyDir(filepath.Join(c.QuarantineDir(), e.ID), dirs)
				}
				return false, "", fail(fmt.Errorf("disable %s: %w", e.ID, err))
			}
		}

	case lifecycle.ActionDeregister:
		// In use means never deregistered, whether or not files go too.
		if err := deps.checkNoDependents(e); err != nil {
			return false, "", fail(err)
		}
		n := 0
		for i, f := range e.Files {
			if !d.DeleteSnapshots || f.Deleted || d.Snapshots != nil && !slices.Contains(d.Snapshots, f.Path) {
				continue
			}
			if err := c.deleteOne(e, i, dry, dirs); err != nil {
				return false, "", fail(fmt.Errorf("deregister %s: %w", e.ID, err))
			}
			n++
		}
		if from == to {
			note = fmt.Sprintf("deleted the %d file%s kept at deregistration", n, plural(n))
		}
		if kept := len(e.Files) - n - deleted(e); kept > 0 && !dry {
			note = strings.TrimPrefix(note+fmt.Sprintf("; %d file%s kept in %s", kept, plural(kept), filepath.Join(quarantine, e.ID)), "; ")
		}

	case lifecycle.ActionRestore:
		for i := range e.Files {
			if err := c.moveOne(e, i, false, dry, dirs); err != nil {
				return false, "", fail(fmt.Errorf("restore %s: %w", e.ID, err))
			}
		}

	case lifecycle.ActionRecord:
		if to == lifecycle.StageDeregistered {
			note = "its files vanished"
			if from == lifecycle.StageDisabled && !slices.ContainsFunc(e.Files, func(f FileRef) bool { return f.Quarantined == "" }) {
				// Only a deregistration deletes quarantined files: ours,
				// killed before its catalog write, or someone's by hand.
				note = "its files vanished from quarantine (a deregistration interrupted before its catalog write, or deleted by hand)"
			}
		}
	}

	if dry {
		return true, note, nil
	}
	if testHookAfterFileOp != nil {
		if err = testHookAfterFileOp(e.ID); err != nil {
			return false, "", err
		}
	}
	if d.Action == lifecycle.ActionRecord && to == lifecycle.StageDeregistered {
		for i := range e.Files {
			e.Files[i].Deleted, e.Files[i].Quarantined = true, ""
		}
	}
	if to == lifecycle.StageDeregistered || d.Action == lifecycle.ActionRestore {
		removeEmptyDir(filepath.Join(c.QuarantineDir(), e.ID), dirs)
	}
	return true, note, c.record(e, cur, d, now, note)
}

// record writes the stage d reached into e, with a history event. The
// transition itself is the planner's (lifecycle.Apply), so the catalog
// records exactly what the next plan expects to see: stage, stage_since and
// deprecation time (a restore keeps the expiry).
func (c *Catalog) record(e *Entry, cur lifecycle.Image, d lifecycle.Decision, now time.Time, note string) error {
	from := e.Stage
	img := lifecycle.Apply(cur, d, now)
	e.Stage, e.StageSince, e.DeprecatedAt, e.ExpiresAt = img.Stage, img.StageSince.UTC(), img.DeprecationTime.UTC(), img.ExpiresAt.UTC()
	e.SupersededBy = img.SupersededBy.String()
	reason := d.Reason
	if note != "" {
		reason += "; " + note
	}
	e.History = append(e.History, Event{Time: now, Action: d.Action, Reason: reason, From: from, To: e.Stage})
	return nil
}

// current is the entry as the planner would see it now, files included.
func (c *Catalog) current(e *Entry) lifecycle.Image {
	img := e.image()
	img.Managed = c.ours(e)
	if e.live() && !e.Pending {
		if state := c.filesState(e); state != "" {
			img.State = state
		}
	}
	return img
}

func deleted(e *Entry) int {
	n := 0
	for _, f := range e.Files {
		if f.Deleted {
			n++
		}
	}
	return n
}

// quarantineLoc is where file i of e goes when disabled. It is derived from
// the id and the recorded path, never read back from the catalog, so a
// tampered "quarantined" field cannot redirect a move or a delete. When two
// files of the entry share a name, every file gets its index as prefix
// ("0-x", "1-x", "2-1-x"): distinct prefixes keep all names distinct, which
// prefixing only the repeated names would not (a file named "1-x").
func (c *Catalog) quarantineLoc(e *Entry, i int) string {
	name := filepath.Base(e.Files[i].Path)
	seen := make(map[string]bool, len(e.Files))
	for _, f := range e.Files {
		base := filepath.Base(f.Path)
		if seen[base] {
			name = strconv.Itoa(i) + "-" + name
			break
		}
		seen[base] = true
	}
	return filepath.Join(c.QuarantineDir(), e.ID, name)
}

// moveOne moves file i of e into quarantine (in) or back home (!in), after
// checking both ends, and records where it is.
func (c *Catalog) moveOne(e *Entry, i int, in, dry bool, dirs safefile.Dirs) error {
	f := &e.Files[i]
	if f.Deleted {
		return fmt.Errorf("file %s was deleted", f.Path)
	}
	home, err := c.safeHome(f.Path)
	if err != nil {
		return err
	}
	ql := c.quarantineLoc(e, i)
	q, err := c.safePath(ql)
	if err != nil {
		return err
	}
	src, dst := home, q
	if !in {
		src, dst = q, home
	}
	if err := moveFile(src, dst, *f, dry, dirs); err != nil {
		return err
	}
	if !dry {
		f.Quarantined = ""
		if in {
			f.Quarantined, _ = filepath.Rel(c.dir, ql)
		}
	}
	return nil
}

// deleteOne deletes file i of e from quarantine. Only a file that was never
// quarantined (hand-edited catalog) is deleted from its home path: a file
// found there after quarantine is someone else's, even with equal content.
// A file already gone counts as deleted, so a re-run after a crash converges.
func (c *Catalog) deleteOne(e *Entry, i int, dry bool, dirs safefile.Dirs) error {
	f := &e.Files[i]
	if f.Deleted {
		return nil
	}
	loc, err := c.safePath(c.quarantineLoc(e, i))
	if err != nil {
		return err
	}
	if ok, err := exists(loc); err != nil {
		return err
	} else if !ok && f.Quarantined == "" {
		if loc, err = c.safeHome(f.Path); err != nil {
			return err
		}
	}
	if err := deleteFile(loc, *f, dry, dirs); err != nil {
		return err
	}
	if !dry {
		f.Deleted, f.Quarantined = true, ""
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
