package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func actions(e Entry) string {
	var a []string
	for _, h := range e.History {
		a = append(a, string(h.Action)+":"+string(h.From)+">"+string(h.To))
	}
	return strings.Join(a, " ")
}

func TestQuarantineAndRestore(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "disk.qcow2"), "disk")
	m := writeFile(t, filepath.Join(root, "out", "x", "disk.qcow2"), "second disk, same name")
	img := release("web", "1.0.0", a, m)
	img.ExpiresAt = t0.Add(time.Hour)
	img.Tags[lifecycle.TagStage] = "active" // as a post-processor may record it
	id := mustRecord(t, b, img)
	q := filepath.Join(b.Catalog().QuarantineDir(), id)

	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	assertExists(t, a, "disk") // deprecate touches no file
	// What the planner sees is what lifecycle.Apply says it should.
	g := list(t, b, "web")[0]
	require.True(t, g.DeprecationTime.Equal(g.StageSince), "after deprecate: %+v", g)
	require.Equal(t, "deprecated", g.Tags[lifecycle.TagStage], "after deprecate: %+v", g)
	mustApply(t, b, decision(id, lifecycle.ActionDisable))
	assertGone(t, a)
	assertGone(t, m)
	assertExists(t, filepath.Join(q, "0-disk.qcow2"), "disk")
	assertExists(t, filepath.Join(q, "1-disk.qcow2"), "second disk, same name")
	e := entry(t, b, id)
	require.Equal(t, lifecycle.StageDisabled, e.Stage, "after disable: %+v", e)
	require.Equal(t, filepath.Join("quarantine", id, "0-disk.qcow2"), e.Files[0].Quarantined, "after disable: %+v", e)
	imgs := list(t, b, "web")
	require.Len(t, imgs, 1, "disabled entry listed as %+v", imgs)
	require.Equal(t, "disabled", imgs[0].State, "disabled entry listed as %+v", imgs)

	mustApply(t, b, decision(id, lifecycle.ActionRestore))
	assertExists(t, a, "disk")
	assertExists(t, m, "second disk, same name")
	assertGone(t, q)
	e = entry(t, b, id)
	require.Equal(t, lifecycle.StageActive, e.Stage, "after restore: %+v", e)
	require.Empty(t, e.Files[0].Quarantined, "after restore: %+v", e)
	require.True(t, e.StageSince.After(e.History[2].Time), "after restore, stage since: %+v", e)
	require.True(t, e.DeprecatedAt.IsZero(), "after restore, deprecated at: %+v", e)
	require.False(t, e.ExpiresAt.IsZero(), "a restore keeps the expiry: %+v", e)
	require.Equal(t, "record:>active deprecate:active>deprecated disable:deprecated>disabled restore:disabled>active", actions(e), "history")
}

func TestDeregisterDeletesAndKeepsTombstone(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	id := mustRecord(t, b, release("web", "1.0.0", a))
	for _, act := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable} {
		mustApply(t, b, decision(id, act))
	}
	d := decision(id, lifecycle.ActionDeregister)
	d.DeleteSnapshots = true
	mustApply(t, b, d)
	assertGone(t, a)
	assertGone(t, filepath.Join(b.Catalog().QuarantineDir(), id))

	require.Empty(t, list(t, b, "web"), "tombstone listed by List")
	all, err := b.ListWithTombstones(context.Background(), backend.Query{Family: "web"})
	require.NoError(t, err, "ListWithTombstones")
	require.Len(t, all, 1, "ListWithTombstones = %+v", all)
	require.Equal(t, lifecycle.StageDeregistered, all[0].Stage, "ListWithTombstones = %+v", all)
	e := entry(t, b, id)
	require.True(t, e.Files[0].Deleted, "tombstone files = %+v", e.Files)
	require.Equal(t, sha("a"), e.Files[0].SHA256, "tombstone files = %+v", e.Files)
	require.Equal(t, "record:>active deprecate:active>deprecated disable:deprecated>disabled deregister:disabled>deregistered", actions(e), "history")
	// Again: already there, nothing changes.
	before, _ := os.ReadFile(b.Catalog().Path())
	mustApply(t, b, d)
	after, _ := os.ReadFile(b.Catalog().Path())
	require.Equal(t, string(before), string(after), "repeated deregister changed the catalog")
	contains(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionRestore), false), "deregistered already")
}

func TestDeregisterWithoutDeleteKeepsQuarantine(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	id := mustRecord(t, b, release("web", "1.0.0", a))
	for _, act := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable, lifecycle.ActionDeregister} {
		mustApply(t, b, decision(id, act))
	}
	q := filepath.Join(b.Catalog().QuarantineDir(), id, "a.img")
	assertExists(t, q, "a")
	e := entry(t, b, id)
	require.Equal(t, lifecycle.StageDeregistered, e.Stage, "entry %+v", e)
	require.Contains(t, e.History[3].Reason, "file kept in quarantine", "entry %+v", e)
	// A later deregister with delete_snapshots finishes the job.
	d := decision(id, lifecycle.ActionDeregister)
	d.DeleteSnapshots = true
	mustApply(t, b, d)
	assertGone(t, q)
	e = entry(t, b, id)
	require.True(t, e.Files[0].Deleted, "entry %+v", e)
	require.Len(t, e.History, 5, "entry %+v", e)
}

func TestStagesAreNeverSkipped(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	id := mustRecord(t, b, release("web", "1.0.0", a))
	contains(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionDisable), false), "image is active; stages are never skipped")
	contains(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionDeregister), false), "image is active; stages are never skipped")
	contains(t, applyOne(context.Background(), b, decision("nope", lifecycle.ActionDeprecate), false), "no such entry")
	assertExists(t, a, "a")
	// keep and skip do nothing, even for unknown ids.
	mustApply(t, b, decision("nope", lifecycle.ActionKeep))
}

func TestPinnedAndProtectedAreNeverRetired(t *testing.T) {
	b, root := setup(t)
	p := writeFile(t, filepath.Join(root, "out", "pinned.img"), "p")
	img := release("web", "1.0.0", p)
	img.Pinned = true
	pid := mustRecord(t, b, img)
	contains(t, applyOne(context.Background(), b, decision(pid, lifecycle.ActionDeprecate), false), "pinned")
	editCatalog(t, b, func(d *Document) { d.find(pid).Stage = lifecycle.StageDeprecated })
	for _, dry := range []bool{true, false} {
		contains(t, applyOne(context.Background(), b, decision(pid, lifecycle.ActionDisable), dry), "pinned")
	}
	assertExists(t, p, "p")

	r := writeFile(t, filepath.Join(root, "out", "protected.img"), "r")
	img = release("web", "1.0.1", r)
	img.Protected = true
	rid := mustRecord(t, b, img)
	// Reach disabled by hand-editing: the guard must hold at every stage.
	editCatalog(t, b, func(d *Document) { d.find(rid).Stage = lifecycle.StageDisabled })
	dd := decision(rid, lifecycle.ActionDeregister)
	dd.DeleteSnapshots = true
	contains(t, applyOne(context.Background(), b, dd, false), "protected")
	assertExists(t, r, "r")

	// A pin seen by the planner counts even if the catalog lost it.
	x := writeFile(t, filepath.Join(root, "out", "x.img"), "x")
	xid := mustRecord(t, b, release("web", "1.0.2", x))
	mustApply(t, b, decision(xid, lifecycle.ActionDeprecate))
	d := decision(xid, lifecycle.ActionDisable)
	d.Image.Pinned = true
	contains(t, applyOne(context.Background(), b, d, false), "pinned")
	assertExists(t, x, "x")
}

func TestPathEscapesAreRefused(t *testing.T) {
	// Record refuses files outside the artifact root, directly or via a link.
	b, root := setup(t)
	victim := writeFile(t, filepath.Join(t.TempDir(), "victim.img"), "precious")
	contains(t, recordErr(b, release("web", "0", victim), false), "outside the artifact root")
	link := filepath.Join(root, "out", "link.img")
	os.MkdirAll(filepath.Dir(link), 0o755)
	require.NoError(t, os.Symlink(victim, link))
	contains(t, recordErr(b, release("web", "0", link), false), "symlink to "+victim)

	// Apply refuses tampered catalogs (dry or not, disable or delete).
	cases := map[string]func(e *Entry, root, victim string) string{
		"dotdot": func(e *Entry, root, victim string) string {
			rel, _ := filepath.Rel(root, victim) // "../002/victim.img"
			e.Files[0].Path = rel
			return "contains '..'"
		},
		"absolute outside": func(e *Entry, root, victim string) string {
			e.Files[0].Path = victim
			return "outside the artifact root"
		},
		"symlink to outside": func(e *Entry, root, victim string) string {
			os.Remove(e.Files[0].Path)
			require.NoError(t, os.Symlink(victim, e.Files[0].Path))
			return "symlink to " + victim
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			b, root := setup(t)
			outside := t.TempDir()
			victim := writeFile(t, filepath.Join(outside, "victim.img"), "precious")
			f := writeFile(t, filepath.Join(root, "out", "f.img"), "precious") // same content as the victim
			id := mustRecord(t, b, release("web", "1.0.0", f))
			mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
			var want string
			editCatalog(t, b, func(d *Document) { want = tamper(d.find(id), root, victim) })
			before := tree(t, outside)
			for _, dry := range []bool{true, false} {
				contains(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionDisable), dry), want)
			}
			// Also when the entry is already disabled and the files get deleted.
			editCatalog(t, b, func(d *Document) { d.find(id).Stage = lifecycle.StageDisabled })
			dd := decision(id, lifecycle.ActionDeregister)
			dd.DeleteSnapshots = true
			for _, dry := range []bool{true, false} {
				contains(t, applyOne(context.Background(), b, dd, dry), want)
			}
			assertSameTree(t, before, tree(t, outside))
			assertExists(t, victim, "precious")
		})
	}
}

func TestCrashBetweenFileOpAndCatalogWriteConverges(t *testing.T) {
	steps := []lifecycle.Decision{
		decision("", lifecycle.ActionDeprecate),
		decision("", lifecycle.ActionDisable),
		decision("", lifecycle.ActionRestore),
		decision("", lifecycle.ActionDeprecate),
		decision("", lifecycle.ActionDisable),
		{Action: lifecycle.ActionDeregister, DeleteSnapshots: true, Reason: "test deregister"},
	}
	// run carries the steps out; with crash, each step first "crashes" after
	// its file operations (hook error: no catalog write) and is then re-run.
	run := func(t *testing.T, crash bool) (string, string) {
		root := t.TempDir()
		now := t0
		b := New(filepath.Join(root, DefaultDir), func() time.Time { return now })
		a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
		c := writeFile(t, filepath.Join(root, "out", "c.img"), "c")
		id := mustRecord(t, b, release("web", "1.0.0", a, c))
		for i, d := range steps {
			d.Image.ID = id
			now = t0.Add(time.Duration(i+1) * time.Hour)
			if crash {
				testHookAfterFileOp = func(string) error { return errors.New("simulated crash") }
				err := applyOne(context.Background(), b, d, false)
				testHookAfterFileOp = nil
				if d.Action != lifecycle.ActionDeprecate { // deprecate has no file op, hence no crash point
					contains(t, err, "simulated crash")
				}
				if d.Action != lifecycle.ActionDeprecate {
					require.NotEqual(t, d.Action.Target(), entry(t, b, id).Stage, "%s: catalog written despite the crash", d.Action)
				}
			}
			mustApply(t, b, d)
		}
		data, _ := os.ReadFile(b.Catalog().Path())
		return strings.ReplaceAll(string(data), root, "ROOT"), strings.Join(sortedKeys(tree(t, root), root), "\n")
	}
	wantCat, wantTree := run(t, false)
	gotCat, gotTree := run(t, true)
	require.Equal(t, wantCat, gotCat, "catalog after crashes differs")
	require.Equal(t, wantTree, gotTree, "tree after crashes differs")
}

func TestFileMovedByHandBeforeApply(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	id := mustRecord(t, b, release("web", "1.0.0", a))
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	q := filepath.Join(b.Catalog().QuarantineDir(), id, "a.img")
	os.MkdirAll(filepath.Dir(q), 0o755)
	require.NoError(t, os.Rename(a, q)) // what a crash right after the move leaves
	mustApply(t, b, decision(id, lifecycle.ActionDisable))
	e := entry(t, b, id)
	require.Equal(t, lifecycle.StageDisabled, e.Stage, "entry %+v", e)
	require.NotEmpty(t, e.Files[0].Quarantined, "entry %+v", e)
	// A file lost from both places is an error, not a silent success.
	os.Remove(q)
	contains(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionRestore), false), "deregistered already")
}

func TestDisableRefusesAFileThatChanged(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "old")
	id := mustRecord(t, b, release("web", "1.0.0", a))
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	writeFile(t, a, "rebuilt in place, not recorded")
	for _, dry := range []bool{true, false} {
		contains(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionDisable), dry), `state "changed"`)
	}
	assertExists(t, a, "rebuilt in place, not recorded")
}

func TestRestoreRefusesToOverwriteANewFile(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "old")
	id := mustRecord(t, b, release("web", "1.0.0", a))
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	mustApply(t, b, decision(id, lifecycle.ActionDisable))
	writeFile(t, a, "new build at the same path")
	contains(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionRestore), false), "occupied")
	assertExists(t, a, "new build at the same path")
}

func TestDryRunChangesNothing(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	img := release("web", "1.0.0", a)

	// Dry Record on a fresh tree does not even create the catalog dir.
	before := tree(t, root)
	require.NoError(t, recordErr(b, img, true), "dry Record")
	assertSameTree(t, before, tree(t, root))
	id := mustRecord(t, b, img)

	del := decision(id, lifecycle.ActionDeregister)
	del.DeleteSnapshots = true
	steps := []lifecycle.Decision{
		decision(id, lifecycle.ActionDeprecate),
		decision(id, lifecycle.ActionDisable),
		decision(id, lifecycle.ActionRestore), // back from disabled: files move home
		decision(id, lifecycle.ActionDeprecate),
		decision(id, lifecycle.ActionRestore), // back from deprecated
		decision(id, lifecycle.ActionDeprecate),
		decision(id, lifecycle.ActionDisable),
		decision(id, lifecycle.ActionDeregister), // keep files in quarantine
		del,                                      // then delete them
	}
	for i, d := range steps {
		before := tree(t, root)
		require.NoError(t, applyOne(context.Background(), b, d, true), "step %d dry %s", i, d.Action)
		assertSameTree(t, before, tree(t, root))
		// Dry and real runs agree on failures too.
		wrong := decision(id, lifecycle.ActionDisable)
		dryErr := applyOne(context.Background(), b, wrong, true)
		assertSameTree(t, before, tree(t, root))
		if dryErr != nil {
			realErr := applyOne(context.Background(), b, wrong, false)
			require.EqualError(t, realErr, dryErr.Error(), "step %d: real error differs from the dry one", i)
			assertSameTree(t, before, tree(t, root))
		}
		mustApply(t, b, d)
	}

	// Dry runs see problems on disk: a vanished file fails the check.
	f := writeFile(t, filepath.Join(root, "out", "f.img"), "f")
	fid := mustRecord(t, b, release("web", "2.0.0", f))
	mustApply(t, b, decision(fid, lifecycle.ActionDeprecate))
	os.Remove(f)
	contains(t, applyOne(context.Background(), b, decision(fid, lifecycle.ActionDisable), true), "deregistered already")
}

func sortedKeys(m map[string]string, root string) []string {
	var out []string
	for k, v := range m {
		if strings.HasSuffix(k, ".bak") || strings.HasSuffix(k, "catalog.json") || strings.HasSuffix(k, "catalog.lock") {
			v = "" // content compared separately (catalog) or irrelevant
		}
		// Keep kind and content hash, drop mtimes (two runs differ there).
		fields := strings.Fields(v)
		if len(fields) >= 3 {
			fields = append(fields[:2], fields[3:]...)
		}
		out = append(out, strings.ReplaceAll(k, root, "ROOT")+" "+strings.Join(fields, " "))
	}
	sort.Strings(out)
	return out
}

func TestRelativePathsAreStoredRelativeToTheRoot(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	b := New("", stepClock()) // ./.packer-lifecycle, artifact root "."
	writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	id := mustRecord(t, b, release("web", "1.0.0", "out/a.img"))
	require.Equal(t, "out/a.img", entry(t, b, id).Files[0].Path, "stored path")
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	mustApply(t, b, decision(id, lifecycle.ActionDisable))
	assertExists(t, filepath.Join(root, DefaultDir, "quarantine", id, "a.img"), "a")
	contains(t, recordErr(b, release("web", "2", "../elsewhere.img"), false), "contains '..'")
}

// TestQuarantineNamesNeverCollide: with a/x, b/x and c/1-x in one entry the
// index prefix of one file must not equal another file's own name.
func TestQuarantineNamesNeverCollide(t *testing.T) {
	b, root := setup(t)
	files := []string{
		writeFile(t, filepath.Join(root, "out", "a", "x"), "first x"),
		writeFile(t, filepath.Join(root, "out", "b", "x"), "second x"),
		writeFile(t, filepath.Join(root, "out", "c", "1-x"), "a file named 1-x"),
	}
	id := mustRecord(t, b, release("web", "1.0.0", files...))
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	mustApply(t, b, decision(id, lifecycle.ActionDisable))
	mustApply(t, b, decision(id, lifecycle.ActionRestore))
	for i, content := range []string{"first x", "second x", "a file named 1-x"} {
		assertExists(t, files[i], content)
	}
}
