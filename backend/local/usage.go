package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// deps is who depends on what in one catalog document, computed once per
// run: every qcow2 header is read once, not once per decision.
type deps struct {
	c *Catalog
	// backing maps the real path of every backing file used by a live
	// entry's qcow2 image to the ids of those entries.
	backing map[string][]string
	// children maps an id to the live entries that name it as Parent.
	children map[string][]string
	// unreadable holds the entries whose qcow2 header could not be read:
	// what they back is unknown, so they (and their parent) count as used.
	unreadable map[string]error
	// claims maps the real path of every file a live entry lists to the
	// entries listing it; real caches realPath, which costs syscalls.
	claims map[string][]claim
	real   map[string]string
	doc    *Document
}

// claim is file idx of entry id.
type claim struct {
	id  string
	idx int
}

func (d *deps) realPath(recorded string) string {
	if p, ok := d.real[recorded]; ok {
		return p
	}
	p := d.c.realPath(recorded)
	d.real[recorded] = p
	return p
}

// dependencies reads who depends on what. A backing name is resolved
// against the directory of the image's recorded (home) path, the way qemu
// resolves it once the image is where it belongs, even while the image
// itself sits in quarantine. One unreadable header fails that entry only.
func (c *Catalog) dependencies(doc *Document) *deps {
	d := &deps{c: c, backing: map[string][]string{}, children: map[string][]string{}, unreadable: map[string]error{},
		claims: map[string][]claim{}, real: map[string]string{}, doc: doc}
	for i := range doc.Entries {
		e := &doc.Entries[i]
		if !e.live() {
			continue
		}
		if e.Parent != "" {
			d.children[e.Parent] = append(d.children[e.Parent], e.ID)
		}
		for j, f := range e.Files {
			if f.Deleted {
				continue
			}
			key := d.realPath(f.Path)
			d.claims[key] = append(d.claims[key], claim{e.ID, j})
			home, cur := c.absPath(f.Path), c.quarantineLoc(e, j)
			inQuarantine, err := exists(cur)
			if err != nil { // unknown: guessing "not there" could hide a backing file
				d.unreadable[e.ID] = err
				continue
			}
			if !inQuarantine {
				cur = home
			}
			name, isQ, err := qcow2Backing(cur)
			if errors.Is(err, fs.ErrNotExist) {
				continue // a missing file backs nothing
			}
			if err != nil {
				d.unreadable[e.ID] = err
				continue
			}
			if !isQ || name == "" {
				continue
			}
			if !filepath.IsAbs(name) {
				name = filepath.Join(filepath.Dir(home), name)
			}
			backing := resolveExisting(name)
			d.backing[backing] = append(d.backing[backing], e.ID)
		}
	}
	return d
}

// consumers returns the live entries other than e that use it as a parent,
// either by id (Parent) or by qcow2 backing file.
func (d *deps) consumers(e *Entry) []lifecycle.Consumer {
	ids := map[string]bool{}
	for _, id := range d.children[e.ID] {
		if id != e.ID {
			ids[id] = true
		}
	}
	for _, f := range e.Files {
		for _, id := range d.backing[d.realPath(f.Path)] {
			if id != e.ID {
				ids[id] = true
			}
		}
	}
	out := make([]lifecycle.Consumer, 0, len(ids))
	for id := range ids {
		out = append(out, lifecycle.Consumer{Kind: lifecycle.ConsumerChildImage, ID: id})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// usage is who uses e now, for lifecycle.CheckTransition: its children,
// and an unknown consumer when its own qcow2 header or a child's cannot be
// read (fail closed).
func (d *deps) usage(e *Entry) []lifecycle.Consumer {
	cs := d.consumers(e)
	if err := d.unreadable[e.ID]; err != nil {
		cs = append(cs, lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: "qcow2 header unreadable: " + err.Error()})
	}
	for _, child := range d.children[e.ID] {
		if err := d.unreadable[child]; err != nil {
			cs = append(cs, lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: fmt.Sprintf("child %s: qcow2 header unreadable: %v", child, err)})
		}
	}
	return cs
}

// checkNoDependents refuses to move or delete e's files while anything live
// still needs them: a child (by id or qcow2 backing file), another entry
// that lists the same file, or an unreadable qcow2 that might.
func (d *deps) checkNoDependents(e *Entry) error {
	var why []string
	for _, u := range d.consumers(e) {
		why = append(why, "child image "+u.ID)
	}
	if err := d.unreadable[e.ID]; err != nil {
		why = append(why, fmt.Sprintf("its own qcow2 header, unreadable (%v)", err))
	}
	for _, child := range d.children[e.ID] {
		if err := d.unreadable[child]; err != nil {
			why = append(why, fmt.Sprintf("child %s, whose qcow2 header is unreadable", child))
		}
	}
	// Another live entry that lists one of the same files (claims were
	// taken once; whether they still hold is read from the document now).
	for _, f := range e.Files {
		if f.Deleted {
			continue
		}
		for _, cl := range d.claims[d.realPath(f.Path)] {
			if cl.id == e.ID {
				continue
			}
			if o := d.doc.find(cl.id); o != nil && o.live() && !o.Files[cl.idx].Deleted {
				why = append(why, fmt.Sprintf("entry %s also lists %s", o.ID, f.Path))
			}
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("refusing to retire the files of %s: still needed by %s", e.ID, strings.Join(why, ", "))
	}
	return nil
}

// filesState says whether a live entry's files are where the catalog
// records them, with their recorded size: "" when they are,
// lifecycle.StateDeregistered when every file vanished (the release is
// gone, whatever the catalog says), stateChanged when a file is missing or
// is not the recorded one. A stat per file: hashing every release on every
// run would cost minutes on real images; moves and deletes still hash.
func (c *Catalog) filesState(e *Entry) string {
	missing, changed := 0, 0
	for i, f := range e.Files {
		if f.Deleted {
			missing++
			continue
		}
		// Where the catalog says the file is, else where a move that
		// crashed before the catalog write left it.
		loc, twin := c.absPath(f.Path), c.quarantineLoc(e, i)
		if f.Quarantined != "" {
			loc, twin = twin, loc
		}
		fi, err := os.Stat(loc)
		if errors.Is(err, fs.ErrNotExist) {
			fi, err = os.Stat(twin)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing++
		case err != nil || !fi.Mode().IsRegular() || fi.Size() != f.Size:
			changed++
		}
	}
	switch {
	case len(e.Files) > 0 && missing == len(e.Files):
		return lifecycle.StateDeregistered
	case missing > 0 || changed > 0:
		return stateChanged
	}
	return ""
}

// stateChanged is the backend state of an entry whose files are not the
// recorded ones: the planner skips it and the data source never returns it.
const stateChanged = "changed"
