package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// A disable that fails on one file must not leave the other files of the
// (still deprecated, still launchable) release in quarantine.
func TestFailedDisableLeavesNoFileInQuarantine(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "disk a")
	c := writeFile(t, filepath.Join(root, "out", "b.img"), "disk b")
	id := mustRecord(t, b, release("web", "1.0.0", a, c))
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate))
	writeFile(t, c, "rebuilt by someone else")
	require.Error(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionDisable), false), "disable of a changed file succeeded")
	assertExists(t, a, "disk a")
	require.Equal(t, lifecycle.StageDeprecated, entry(t, b, id).Stage, "stage after the failed disable")
	_, err := os.Stat(filepath.Join(b.Catalog().QuarantineDir(), id))
	assert.Error(t, err, "quarantine dir of %s left behind", id)
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
	require.NoError(t, err)
	for name, b := range map[string]*Backend{"team-a": teamA, "team-b": teamB} {
		imgs, err := listImages(ctx, b, backend.Query{Family: "web"})
		require.NoError(t, err, "%s: list", name)
		require.Len(t, imgs, 1, "%s: list = %v", name, imgs)
		assert.Equal(t, name == "team-a", imgs[0].Managed, "%s sees managed", name)
	}
	d := lifecycle.Decision{Image: rec, Action: lifecycle.ActionDeprecate}
	err = applyOne(ctx, teamB, d, false)
	assert.ErrorContains(t, err, `managed by "team-a", not "team-b"`, "team-b deprecated team-a's release")
	assert.NoError(t, applyOne(ctx, teamA, d, false), "team-a cannot deprecate its own release")
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
	require.Error(t, err, "deregistered a parent that a live child uses")
	assert.Equal(t, lifecycle.StageDisabled, entry(t, b, parent).Stage, "parent's stage after the refusal")
}
