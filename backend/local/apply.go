package local

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// testHookAfterFileOp, when set, runs after Apply's file operations and
// before the catalog write; an error aborts the write, simulating a crash
// at the worst moment.
var testHookAfterFileOp func(id string) error

// Apply carries one decision out:
//
//	deprecate   mark the entry (no file is touched)
//	disable     move its files to <dir>/quarantine/<id>/ (restorable)
//	deregister  with DeleteSnapshots delete the quarantined files, else leave
//	            them in quarantine; either way the entry becomes a tombstone
//	restore     move quarantined files back to their paths, stage active
//
// File operations run first, then one atomic catalog write records stage,
// stage_since and a history event, all under the exclusive lock. Every file
// operation is idempotent, so after a crash between the two, running the
// same decision again converges. Applying a decision whose target stage is
// already reached succeeds without change. Keep and skip do nothing.
//
// With dryRun every check runs (entry, transition, pins, dependents, path
// safety, files present and unchanged, directories writable) and nothing
// on disk changes, not even the catalog.
func (b *Backend) Apply(ctx context.Context, d lifecycle.Decision, dryRun bool) error {
	if b.err != nil {
		return b.err
	}
	switch d.Action {
	case lifecycle.ActionKeep, lifecycle.ActionSkip, "":
		return nil
	case lifecycle.ActionDeprecate, lifecycle.ActionDisable, lifecycle.ActionDeregister, lifecycle.ActionRestore, lifecycle.ActionRecord:
	default:
		return fmt.Errorf("local catalog: unknown action %q for %s", d.Action, d.Image.ID)
	}
	now := b.now()
	if dryRun {
		doc, err := b.cat.Read(ctx)
		if err != nil {
			return err
		}
		return b.cat.apply(doc, d, now, true)
	}
	return b.cat.Update(ctx, func(doc *Document) error {
		return b.cat.apply(doc, d, now, false)
	})
}

func (c *Catalog) apply(doc *Document, d lifecycle.Decision, now time.Time, dry bool) error {
	e := doc.find(d.Image.ID)
	if e == nil {
		return fmt.Errorf("local catalog: %s %s: no such entry in %s", d.Action, d.Image.ID, c.Path())
	}
	from, to := e.Stage, d.Target()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("local catalog: %s %s: %s", d.Action, e.ID, fmt.Sprintf(format, args...))
	}
	reason := d.Reason
	if !c.ours(e) {
		return fail("entry is managed by %q, not %q", e.Tags[lifecycle.TagManagedBy], c.managedBy)
	}

	switch d.Action {
	case lifecycle.ActionDeprecate:
		if from == to {
			return nil
		}
		if from != lifecycle.StageActive {
			return fail("entry is %s, only an active entry can be deprecated", from)
		}

	case lifecycle.ActionDisable:
		if err := retirable(e, d); err != nil {
			return fail("%v", err)
		}
		if from == to {
			return nil
		}
		if from != lifecycle.StageDeprecated {
			return fail("entry is %s; stages are never skipped, deprecate it first", from)
		}
		if err := c.checkNoDependents(doc, e); err != nil {
			return err
		}
		for i := range e.Files {
			if err := c.moveOne(e, i, true, dry); err != nil {
				if !dry {
					// Put back what was already moved: the entry stays
					// deprecated, and a deprecated release still launches.
					for j := i - 1; j >= 0; j-- {
						if rerr := c.moveOne(e, j, false, false); rerr != nil {
							err = fmt.Errorf("%w; moving %s back also failed: %v", err, e.Files[j].Path, rerr)
						}
					}
					removeEmptyDir(filepath.Join(c.QuarantineDir(), e.ID))
				}
				return fail("%v", err)
			}
		}

	case lifecycle.ActionDeregister:
		if err := retirable(e, d); err != nil {
			return fail("%v", err)
		}
		if from == to && (!d.DeleteSnapshots || allDeleted(e)) {
			return nil
		}
		if from != to && from != lifecycle.StageDisabled {
			return fail("entry is %s; stages are never skipped, disable it first", from)
		}
		// In use means never deregistered, whether or not files go too.
		if err := c.checkNoDependents(doc, e); err != nil {
			return err
		}
		if d.DeleteSnapshots {
			for i := range e.Files {
				if err := c.deleteOne(e, i, dry); err != nil {
					return fail("%v", err)
				}
			}
			if from == to {
				reason += " (deleted the files kept at deregistration)"
			}
		} else if !allDeleted(e) {
			reason += "; files kept in " + filepath.Join(quarantine, e.ID)
		}

	case lifecycle.ActionRestore:
		if from == to {
			return nil
		}
		if from == lifecycle.StageDeregistered {
			return fail("entry is deregistered (a tombstone); record the files again as a new release instead")
		}
		for i := range e.Files {
			if err := c.moveOne(e, i, false, dry); err != nil {
				return fail("%v", err)
			}
		}
	}

	if dry {
		return nil
	}
	if testHookAfterFileOp != nil {
		if err := testHookAfterFileOp(e.ID); err != nil {
			return err
		}
	}
	if d.Action == lifecycle.ActionDeregister || d.Action == lifecycle.ActionRestore {
		removeEmptyDir(filepath.Join(c.QuarantineDir(), e.ID))
	}
	// The transition itself is the planner's (lifecycle.Apply), so the
	// catalog records exactly what the next plan expects to see: stage and
	// stage_since and deprecation time (a restore keeps the expiry).
	img := lifecycle.Apply(e.image(), d, now)
	e.Stage, e.StageSince, e.DeprecatedAt, e.ExpiresAt = img.Stage, img.StageSince.UTC(), img.DeprecationTime.UTC(), img.ExpiresAt.UTC()
	e.History = append(e.History, Event{Time: now, Action: d.Action, Reason: reason, From: from, To: to})
	return nil
}

// retirable refuses to disable or deregister what must be kept. The entry
// is the source of truth; the decision's copy is checked too so a stale
// catalog cannot hide a pin the planner saw.
func retirable(e *Entry, d lifecycle.Decision) error {
	switch {
	case e.Pinned || d.Image.Pinned:
		return fmt.Errorf("entry is pinned (keep-forever)")
	case e.Protected || d.Image.Protected:
		return fmt.Errorf("entry is protected")
	case !e.Managed:
		return fmt.Errorf("entry is not managed by the plugin")
	}
	return nil
}

func allDeleted(e *Entry) bool {
	for _, f := range e.Files {
		if !f.Deleted {
			return false
		}
	}
	return true
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
func (c *Catalog) moveOne(e *Entry, i int, in, dry bool) error {
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
	if err := moveFile(src, dst, *f, dry); err != nil {
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
func (c *Catalog) deleteOne(e *Entry, i int, dry bool) error {
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
	if err := deleteFile(loc, *f, dry); err != nil {
		return err
	}
	if !dry {
		f.Deleted, f.Quarantined = true, ""
	}
	return nil
}
