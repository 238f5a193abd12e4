package local

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Who depends on an entry. Usage reports it to the planner; Apply checks it
// again before moving or deleting files (defense in depth: a planner bug or
// a stale plan must not break a child image).

// realPath is the location of a recorded path with symlinks resolved, the
// form in which paths are compared.
func (c *Catalog) realPath(recorded string) string {
	return resolveExisting(c.absPath(recorded))
}

// backingUsers maps the real path of every backing file used by a live
// entry's qcow2 image to the ids of those entries. A backing name is
// resolved against the directory of the image's recorded (home) path, the
// way qemu resolves it once the image is where it belongs, even while the
// image itself sits in quarantine.
func (c *Catalog) backingUsers(doc *Document) (map[string][]string, error) {
	users := map[string][]string{}
	for i := range doc.Entries {
		e := &doc.Entries[i]
		if !e.live() {
			continue
		}
		for j, f := range e.Files {
			if f.Deleted {
				continue
			}
			home, cur := c.absPath(f.Path), c.quarantineLoc(e, j)
			inQuarantine, err := exists(cur)
			if err != nil { // unknown: guessing "not there" could hide a backing file
				return nil, fmt.Errorf("local catalog: entry %s: %w", e.ID, err)
			}
			if !inQuarantine {
				cur = home
			}
			name, isQ, err := qcow2Backing(cur)
			if errors.Is(err, fs.ErrNotExist) {
				continue // a missing file backs nothing
			}
			if err != nil {
				return nil, fmt.Errorf("local catalog: entry %s: %w", e.ID, err)
			}
			if !isQ || name == "" {
				continue
			}
			if !filepath.IsAbs(name) {
				name = filepath.Join(filepath.Dir(home), name)
			}
			key := resolveExisting(name)
			users[key] = append(users[key], e.ID)
		}
	}
	return users, nil
}

// consumers returns the live entries other than e that use it as a parent,
// either by id (Parent) or by qcow2 backing file.
func (c *Catalog) consumers(doc *Document, e *Entry, backing map[string][]string) []lifecycle.Consumer {
	ids := map[string]bool{}
	for i := range doc.Entries {
		o := &doc.Entries[i]
		if o.ID != e.ID && o.live() && o.Parent == e.ID {
			ids[o.ID] = true
		}
	}
	for _, f := range e.Files {
		for _, id := range backing[c.realPath(f.Path)] {
			if id != e.ID {
				ids[id] = true
			}
		}
	}
	out := make([]lifecycle.Consumer, 0, len(ids))
	for id := range ids {
		out = append(out, lifecycle.Consumer{Kind: "child-image", ID: id})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// checkNoDependents refuses to move or delete e's files while anything live
// still needs them: a child (by id or qcow2 backing file) or another entry
// that lists the same file (a build that wrote to the same output path).
func (c *Catalog) checkNoDependents(doc *Document, e *Entry) error {
	backing, err := c.backingUsers(doc)
	if err != nil {
		return err
	}
	var why []string
	for _, u := range c.consumers(doc, e, backing) {
		why = append(why, "child image "+u.ID)
	}
	mine := map[string]string{}
	for _, f := range e.Files {
		if !f.Deleted {
			mine[c.realPath(f.Path)] = f.Path
		}
	}
	for i := range doc.Entries {
		o := &doc.Entries[i]
		if o.ID == e.ID || !o.live() {
			continue
		}
		for _, f := range o.Files {
			if p, ok := mine[c.realPath(f.Path)]; ok && !f.Deleted {
				why = append(why, fmt.Sprintf("entry %s also lists %s", o.ID, p))
			}
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("refusing to retire the files of %s: still needed by %s", e.ID, strings.Join(why, ", "))
	}
	return nil
}
