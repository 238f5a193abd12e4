package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// A re-record of the same build (a re-run after a crash, a reproducible
// rebuild) must not silently drop a pin or a protection set on the entry
// since: the next plan would then retire a release the user chose to keep.
func TestReRecordKeepsPinAndProtection(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "disk.img"), "v1")
	img := release("web", "1.0.0", a)
	id := mustRecord(t, b, img)
	editCatalog(t, b, func(d *Document) {
		e := d.find(id)
		e.Pinned, e.Protected = true, true
	})
	mustRecord(t, b, img) // img.Pinned and img.Protected are false
	if e := entry(t, b, id); !e.Pinned || !e.Protected {
		t.Fatalf("re-record cleared pin/protection: pinned=%v protected=%v", e.Pinned, e.Protected)
	}
}

// A disable that fails on one file must not leave the other files of the
// (still deprecated, still launchable) release in quarantine.
func TestFailedDisableLeavesNoFileInQuarantine(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "disk a")
	c := writeFile(t, filepath.Join(root, "out", "b.img"), "disk b")
	id := mustRecord(t, b, release("web", "1.0.0", a, c))
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	writeFile(t, c, "rebuilt by someone else")
	if err := applyOne(context.Background(), b, decision(id, lifecycle.ActionDisable), false); err == nil {
		t.Fatal("disable of a changed file succeeded")
	}
	assertExists(t, a, "disk a")
	if e := entry(t, b, id); e.Stage != lifecycle.StageDeprecated {
		t.Fatalf("stage %s, want deprecated", e.Stage)
	}
	if _, err := os.Stat(filepath.Join(b.Catalog().QuarantineDir(), id)); err == nil {
		t.Errorf("quarantine dir of %s left behind", id)
	}
}

// A dry-run Record writes nothing, so the new build is handed to Usage
// without being in the catalog. Its parent and the file its qcow2 image is
// backed by must still count as used, or a dry run plans to disable the
// parent that the real run (which records first) keeps.
func TestUsageCountsAnUnrecordedNewBuild(t *testing.T) {
	b, root := setup(t)
	pf := writeQcow2(t, filepath.Join(root, "out", "base.qcow2"), "")
	parent := mustRecord(t, b, release("base", "1.0.0", pf))
	other := writeQcow2(t, filepath.Join(root, "out", "base2.qcow2"), "")
	byFile := mustRecord(t, b, release("base", "2.0.0", other))
	cf := writeQcow2(t, filepath.Join(root, "out", "child.qcow2"), "base2.qcow2")
	child := release("app", "1.0.0", cf)
	rec, err := recordOne(context.Background(), b, withParent(child, parent), true)
	if err != nil {
		t.Fatal(err)
	}
	imgs := append(list(t, b, "base"), rec)
	u, err := usageOf(context.Background(), b, imgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{parent, byFile} {
		ref := lifecycle.Ref{Region: "local", ID: id}
		if len(u[ref]) != 1 || u[ref][0].ID != rec.ID {
			t.Errorf("usage of %s = %v, want the unrecorded child %s", id, u[ref], rec.ID)
		}
	}
}

func withParent(img lifecycle.Image, parent string) lifecycle.Image {
	img.Parent = parent
	return img
}

// A hand-edited catalog may name the catalog's own files (its lock, its
// backup, another entry's quarantined file) as an entry's artifact; Record
// refuses such paths, and so must Apply, or a disable moves the lock away
// (breaking mutual exclusion) and a delete removes another release's file.
func TestApplyRefusesHomePathsInsideTheCatalogDir(t *testing.T) {
	b, root := setup(t)
	f := writeFile(t, filepath.Join(root, "out", "f.img"), "")
	id := mustRecord(t, b, release("web", "1.0.0", f))
	g := writeFile(t, filepath.Join(root, "out", "g.img"), "other")
	other := mustRecord(t, b, release("web", "2.0.0", g))
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable} {
		mustApply(t, b, decision(other, a))
	}
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	lock := filepath.Join(DefaultDir, lockName)
	editCatalog(t, b, func(d *Document) { d.find(id).Files[0].Path = lock }) // empty, like f.img
	for _, dry := range []bool{true, false} {
		contains(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionDisable), dry), "inside the catalog directory")
	}
	assertExists(t, filepath.Join(root, lock), "")

	theirs := filepath.Join(DefaultDir, quarantine, other, "g.img")
	editCatalog(t, b, func(d *Document) {
		e := d.find(id)
		e.Stage = lifecycle.StageDisabled
		e.Files[0] = FileRef{Path: theirs, Size: 5, SHA256: sha("other")}
	})
	os.Remove(filepath.Join(root, DefaultDir, quarantine, id, "f.img"))
	dd := decision(id, lifecycle.ActionDeregister)
	dd.DeleteSnapshots = true
	for _, dry := range []bool{true, false} {
		contains(t, applyOne(context.Background(), b, dd, dry), "inside the catalog directory")
	}
	assertExists(t, filepath.Join(root, theirs), "other")
}

// The refusal of a file outside the artifact root must not tell the user to
// set an "artifact root": no configuration option of that name exists.
func TestOutsideRootErrorNamesAFix(t *testing.T) {
	b, _ := setup(t)
	victim := writeFile(t, filepath.Join(t.TempDir(), "x.img"), "x")
	err := recordErr(b, release("web", "0", victim), false)
	contains(t, err, "outside the artifact root", "catalog_dir")
}

// A catalog checked into git comes without its lock file; a dry run (or a
// datasource read) must still leave the tree exactly as it was.
func TestReadWithoutLockFileCreatesNothing(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	id := mustRecord(t, b, release("web", "1.0.0", a))
	if err := os.Remove(filepath.Join(b.Catalog().Dir(), lockName)); err != nil {
		t.Fatal(err)
	}
	c := writeFile(t, filepath.Join(root, "out", "c.img"), "c")
	before := tree(t, root)
	if err := recordErr(b, release("web", "2.0.0", c), true); err != nil {
		t.Fatal(err)
	}
	if err := applyOne(context.Background(), b, decision(id, lifecycle.ActionDeprecate), true); err != nil {
		t.Fatal(err)
	}
	list(t, b, "web")
	assertSameTree(t, before, tree(t, root))
}

// TestManagedByMarkerSeparatesOwners: entries recorded under another
// managed-by marker are listed as unmanaged and refused by Apply, so two
// teams sharing one catalog never retire each other's releases.
func TestManagedByMarkerSeparatesOwners(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, DefaultDir)
	ctx := context.Background()
	teamA := New(dir, stepClock(), WithManagedBy("team-a"))
	teamB := New(dir, stepClock(), WithManagedBy("team-b"))
	img := release("web", "1.0.0", writeFile(t, filepath.Join(root, "out", "a.img"), "a"))
	img.Tags = map[string]string{lifecycle.TagManagedBy: "team-a"}
	rec, err := recordOne(ctx, teamA, img, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*Backend{"team-a": teamA, "team-b": teamB} {
		imgs, err := listImages(ctx, b, backend.Query{Family: "web"})
		if err != nil || len(imgs) != 1 {
			t.Fatalf("%s: list = %v, %v", name, imgs, err)
		}
		if want := name == "team-a"; imgs[0].Managed != want {
			t.Errorf("%s sees managed = %v, want %v", name, imgs[0].Managed, want)
		}
	}
	d := lifecycle.Decision{Image: rec, Action: lifecycle.ActionDeprecate}
	if err := applyOne(ctx, teamB, d, false); err == nil || !strings.Contains(err.Error(), `managed by "team-a", not "team-b"`) {
		t.Errorf("team-b deprecated team-a's release: err = %v", err)
	}
	if err := applyOne(ctx, teamA, d, false); err != nil {
		t.Errorf("team-a cannot deprecate its own release: %v", err)
	}
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

// TestDeregisterWithoutDeleteStillRefusesWhileInUse: a child recorded after
// its parent was disabled keeps the parent from deregistration, even when
// the files would stay in quarantine.
func TestDeregisterWithoutDeleteStillRefusesWhileInUse(t *testing.T) {
	b, root := setup(t)
	parent := mustRecord(t, b, release("web", "1.0.0", writeFile(t, filepath.Join(root, "out", "p.img"), "parent")))
	mustApply(t, b, decision(parent, lifecycle.ActionDeprecate))
	mustApply(t, b, decision(parent, lifecycle.ActionDisable))
	child := release("app", "1.0.0", writeFile(t, filepath.Join(root, "out", "c.img"), "child"))
	child.Parent = parent
	mustRecord(t, b, child)
	err := applyOne(context.Background(), b, decision(parent, lifecycle.ActionDeregister), false)
	if err == nil {
		t.Fatal("deregistered a parent that a live child uses")
	}
	if e := entry(t, b, parent); e.Stage != lifecycle.StageDisabled {
		t.Errorf("parent is %s after the refusal, want disabled", e.Stage)
	}
}
