package local

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// "2.0 beta" and "2.0_beta" read alike once sanitised; with equal content
// they used to get one id, and the second record merged into the first.
func TestVersionsAlikeOnceSanitisedAreTwoReleases(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "a", "disk.img"), "same")
	c := writeFile(t, filepath.Join(root, "c", "disk.img"), "same")
	id1 := mustRecord(t, b, release("web", "2.0 beta", a))
	id2 := mustRecord(t, b, release("web", "2.0_beta", c))
	require.NotEqual(t, id1, id2)
	require.ElementsMatch(t, []string{"2.0 beta", "2.0_beta"}, versions(list(t, b, "web")))
}

func TestRecordNeverMergesAnotherRelease(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	img := release("web", "1.0.0", a)
	img.ID = "web-fixed"
	mustRecord(t, b, img)
	img.Version = "1.0.1"
	contains(t, recordErr(b, img, false), "already belongs to web 1.0.0", "never merges")
	img.Version, img.Family = "1.0.0", "db"
	contains(t, recordErr(b, img, false), "already belongs to web 1.0.0")
	require.Equal(t, "1.0.0", entry(t, b, "web-fixed").Version)
}

// A rebuild that writes the same path with new content leaves one live
// entry for that path: the older claim is a tombstone that says why.
func TestOverwrittenPathLeavesOneClaim(t *testing.T) {
	b, root := setup(t)
	p := filepath.Join(root, "out", "disk.img")
	writeFile(t, p, "build 1")
	old := mustRecord(t, b, release("web", "22.04", p))
	writeFile(t, p, "build 2")
	res := b.Record(context.Background(), []lifecycle.Image{release("web", "22.04", p)}, false)[0]
	require.NoError(t, res.Err)
	require.Contains(t, res.Note, old)
	require.NotEqual(t, old, res.Ref.ID)
	e := entry(t, b, old)
	require.Equal(t, lifecycle.StageDeregistered, e.Stage)
	require.Contains(t, e.History[len(e.History)-1].Reason, "overwritten by build "+res.Ref.ID)
	live := list(t, b, "web")
	require.Len(t, live, 1)
	require.Equal(t, res.Ref.ID, live[0].ID)
	assertExists(t, p, "build 2")
}

// A release whose files vanished lists as gone: it takes no keep slot, so
// the release still on disk is never retired for it.
func TestVanishedFilesListAsGone(t *testing.T) {
	b, root := setup(t)
	old := writeFile(t, filepath.Join(root, "1", "disk.img"), "1")
	mustRecord(t, b, release("web", "1.0.0", old))
	gone := writeFile(t, filepath.Join(root, "2", "disk.img"), "2")
	goneID := mustRecord(t, b, release("web", "2.0.0", gone))
	require.NoError(t, os.Remove(gone))

	imgs := list(t, b, "web")
	byID := map[string]lifecycle.Image{}
	for _, img := range imgs {
		byID[img.ID] = img
	}
	require.Equal(t, lifecycle.StateDeregistered, byID[goneID].State)
	pol := lifecycle.DefaultPolicy()
	one := 1
	pol.KeepReleases, pol.MinAge = one, 0
	_, err := b.Files(context.Background(), byID[goneID].Ref())
	require.ErrorContains(t, err, "no such file")
	plan := lifecycle.Plan(imgs, b.Usage(context.Background(), imgs), pol, t0.Add(90*24*time.Hour), nil)
	for _, d := range plan {
		switch d.Image.Version {
		case "1.0.0":
			require.Equal(t, lifecycle.ActionKeep, d.Action, "the last release on disk: %s", d.Reason)
		case "2.0.0":
			require.Equal(t, lifecycle.ActionRecord, d.Action, d.Reason)
		}
	}
	// Carried out, the vanished release is a tombstone that says why, and
	// the next sweep has nothing more to do with it.
	for _, r := range b.Apply(context.Background(), plan, false) {
		require.NoError(t, r.Err)
	}
	e := entry(t, b, goneID)
	require.Equal(t, lifecycle.StageDeregistered, e.Stage)
	require.Contains(t, e.History[len(e.History)-1].Reason, "its files vanished")
	require.Len(t, list(t, b, "web"), 1)
}

func TestChangedFilesAreNeitherPlannedNorHandedOut(t *testing.T) {
	b, root := setup(t)
	p := writeFile(t, filepath.Join(root, "out", "disk.img"), "12345")
	id := mustRecord(t, b, release("web", "1.0.0", p))
	writeFile(t, p, "123456")
	img := list(t, b, "web")[0]
	require.Equal(t, stateChanged, img.State)
	_, err := b.Files(context.Background(), img.Ref())
	require.ErrorContains(t, err, "not the recorded file")
	for _, d := range lifecycle.Plan([]lifecycle.Image{img}, nil, lifecycle.DefaultPolicy(), t0.Add(365*24*time.Hour), nil) {
		require.Equal(t, lifecycle.ActionSkip, d.Action, d.Reason)
	}
	require.Equal(t, lifecycle.StageActive, entry(t, b, id).Stage)
}

func TestPendingIsNoReleaseUntilReleased(t *testing.T) {
	b, root := setup(t)
	p := writeFile(t, filepath.Join(root, "out", "disk.img"), "x")
	img := release("web", "1.0.0", p)
	img.State = backend.StatePending
	ref, err := recordOne(context.Background(), b, img, false)
	require.NoError(t, err)
	_, err = b.Files(context.Background(), ref.Ref())
	require.ErrorContains(t, err, "pending")
	require.True(t, entry(t, b, ref.ID).Pending)
	img.State = lifecycle.StateAvailable
	_, err = recordOne(context.Background(), b, img, false)
	require.NoError(t, err)
	files, err := b.Files(context.Background(), ref.Ref())
	require.NoError(t, err)
	require.Equal(t, p, files[0].Path)
	require.False(t, entry(t, b, ref.ID).Pending)
}

// One malformed qcow2 used to fail the usage check of every entry in the
// catalog (every family's run). Now it fails closed for itself and its
// parent only.
func TestUnreadableQcow2FailsOnlyItsEntryAndParent(t *testing.T) {
	b, root := setup(t)
	ctx := context.Background()
	parent := mustRecord(t, b, release("base", "1.0.0", writeQcow2(t, filepath.Join(root, "base", "b.qcow2"), "")))
	child := release("app", "1.0.0", writeQcow2(t, filepath.Join(root, "app", "a.qcow2"), ""))
	child.Parent = parent
	childID := mustRecord(t, b, child)
	other := mustRecord(t, b, release("db", "1.0.0", writeQcow2(t, filepath.Join(root, "db", "d.qcow2"), "")))
	// Break the child's header (same size).
	p := filepath.Join(root, "app", "a.qcow2")
	data, _ := os.ReadFile(p)
	data[8] = 0x7f
	data[19] = 10
	require.NoError(t, os.WriteFile(p, data, 0o644))

	imgs := append(append(list(t, b, "base"), list(t, b, "app")...), list(t, b, "db")...)
	u := b.Usage(ctx, imgs)
	unknown := func(id string) bool {
		for _, c := range u[lifecycle.Ref{Region: Region, ID: id}] {
			if c.Kind == lifecycle.ConsumerUnknown {
				return true
			}
		}
		return false
	}
	require.True(t, unknown(childID), "the entry itself")
	require.True(t, unknown(parent), "what it might back")
	require.False(t, unknown(other), "another family's run goes on")
	mustApply(t, b, decision(other, lifecycle.ActionDeprecate))
	mustApply(t, b, decision(other, lifecycle.ActionDisable))
	mustApply(t, b, decision(parent, lifecycle.ActionDeprecate))
	contains(t, applyOne(ctx, b, decision(parent, lifecycle.ActionDisable), false), "unreadable")
}

// catalog.json used to be created 0600 (os.CreateTemp): a second user's
// data source could not read it.
func TestCatalogHonoursTheUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	b, root := setup(t)
	mustRecord(t, b, release("web", "1.0.0", writeFile(t, filepath.Join(root, "out", "a.img"), "a")))
	fi, err := os.Stat(b.Catalog().Path())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

// One run is one catalog transaction: after a batch, the backup is the
// catalog as it was before the run, not some state half-way through.
func TestBatchIsOneCatalogWrite(t *testing.T) {
	b, root := setup(t)
	var ds []lifecycle.Decision
	for i := range 20 {
		p := writeFile(t, filepath.Join(root, "out", string(rune('a'+i))+".img"), string(rune('a'+i)))
		ds = append(ds, decision(mustRecord(t, b, release("web", "1.0."+string(rune('0'+i%10))+string(rune('a'+i)), p)), lifecycle.ActionDeprecate))
	}
	before, err := os.ReadFile(b.Catalog().Path())
	require.NoError(t, err)
	for i := range ds {
		ds[i] = current(b, ds[i])
	}
	for _, r := range b.Apply(context.Background(), ds, false) {
		require.NoError(t, r.Err)
		require.True(t, r.Changed)
	}
	bak, err := os.ReadFile(b.Catalog().Path() + bakSuffix)
	require.NoError(t, err)
	require.Equal(t, string(before), string(bak))
}

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
	e := entry(t, b, id)
	require.True(t, e.Pinned && e.Protected, "re-record cleared pin/protection: pinned=%v protected=%v", e.Pinned, e.Protected)
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
	require.NoError(t, err)
	imgs := append(list(t, b, "base"), rec)
	u, err := usageOf(context.Background(), b, imgs)
	require.NoError(t, err)
	for _, id := range []string{parent, byFile} {
		ref := lifecycle.Ref{Region: "local", ID: id}
		ok := len(u[ref]) == 1 && u[ref][0].ID == rec.ID
		assert.True(t, ok, "usage of %s = %v, want the unrecorded child %s", id, u[ref], rec.ID)
	}
}

func withParent(img lifecycle.Image, parent string) lifecycle.Image {
	img.Parent = parent
	return img
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
	require.NoError(t, os.Remove(filepath.Join(b.Catalog().Dir(), lockName)))
	c := writeFile(t, filepath.Join(root, "out", "c.img"), "c")
	before := tree(t, root)
	require.NoError(t, recordErr(b, release("web", "2.0.0", c), true), "dry-run record")
	require.NoError(t, applyOne(context.Background(), b, decision(id, lifecycle.ActionDeprecate), true), "dry-run deprecate")
	list(t, b, "web")
	assertSameTree(t, before, tree(t, root))
}

// pin_releases in a sweep pins an existing local release (it used to need a
// hand edit of catalog.json); the planner then keeps it forever.
func TestPinExistingRelease(t *testing.T) {
	b, root := setup(t)
	id := mustRecord(t, b, release("web", "1.0.0", writeFile(t, filepath.Join(root, "out", "a.img"), "a")))
	img := list(t, b, "web")[0]
	dry := b.Pin(context.Background(), []lifecycle.Image{img}, true, true)[0]
	require.NoError(t, dry.Err)
	require.True(t, dry.Changed)
	require.False(t, entry(t, b, id).Pinned, "a dry run writes nothing")
	res := b.Pin(context.Background(), []lifecycle.Image{img}, true, false)[0]
	require.NoError(t, res.Err)
	require.True(t, res.Changed)
	require.True(t, entry(t, b, id).Pinned)
	require.True(t, list(t, b, "web")[0].Pinned)
	again := b.Pin(context.Background(), []lifecycle.Image{img}, true, false)[0]
	require.NoError(t, again.Err)
	require.False(t, again.Changed, "pinning what is pinned changes nothing")
	res = b.Pin(context.Background(), []lifecycle.Image{img}, false, false)[0]
	require.NoError(t, res.Err)
	require.False(t, entry(t, b, id).Pinned)
	ghost := img
	ghost.ID = "nope"
	require.ErrorContains(t, b.Pin(context.Background(), []lifecycle.Image{ghost}, true, false)[0].Err, "no such release")
}
