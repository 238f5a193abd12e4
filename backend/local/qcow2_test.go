package local

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// writeQcow2 writes the smallest file our parser accepts as a qcow2 v3
// image: the 20 header bytes we read, padding, and the backing file name.
func writeQcow2(t *testing.T, path, backing string) string {
	t.Helper()
	hdr := make([]byte, 104)
	copy(hdr, qcow2Magic)
	binary.BigEndian.PutUint32(hdr[4:], 3)
	if backing != "" {
		binary.BigEndian.PutUint64(hdr[8:], uint64(len(hdr)))
		binary.BigEndian.PutUint32(hdr[16:], uint32(len(backing)))
	}
	return writeFile(t, path, string(hdr)+backing)
}

func TestQcow2Backing(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content, backing string
		isQ                    bool
	}{
		{"plain", "not an image at all", "", false},
		{"short", "QFI", "", false},
	}
	for _, c := range cases {
		p := writeFile(t, filepath.Join(dir, c.name), c.content)
		b, isQ, err := qcow2Backing(p)
		if assert.NoError(t, err, c.name) {
			assert.Equal(t, c.isQ, isQ, "%s: is qcow2", c.name)
			assert.Equal(t, c.backing, b, "%s: backing", c.name)
		}
	}
	p := writeQcow2(t, filepath.Join(dir, "none.qcow2"), "")
	b, isQ, err := qcow2Backing(p)
	if assert.NoError(t, err, "no backing") {
		assert.True(t, isQ, "no backing: is qcow2")
		assert.Empty(t, b, "no backing")
	}
	p = writeQcow2(t, filepath.Join(dir, "child.qcow2"), "../base/base.qcow2")
	b, isQ, err = qcow2Backing(p)
	if assert.NoError(t, err, "backing") {
		assert.True(t, isQ, "backing: is qcow2")
		assert.Equal(t, "../base/base.qcow2", b, "backing")
	}
	// A header pointing past the end is an error, not a guess.
	hdr := make([]byte, 20)
	copy(hdr, qcow2Magic)
	binary.BigEndian.PutUint64(hdr[8:], 4096)
	binary.BigEndian.PutUint32(hdr[16:], 10)
	p = writeFile(t, filepath.Join(dir, "bad.qcow2"), string(hdr))
	_, _, err = qcow2Backing(p)
	assert.Error(t, err, "truncated backing name accepted")
}

func TestBackingFileProtection(t *testing.T) {
	b, root := setup(t)
	ctx := context.Background()
	base := writeQcow2(t, filepath.Join(root, "out", "base", "base.qcow2"), "")
	baseID := mustRecord(t, b, release("base", "1.0.0", base))
	mustApply(t, b, decision(baseID, lifecycle.ActionDeprecate))
	mustApply(t, b, decision(baseID, lifecycle.ActionDisable))

	// A second base, whose child exists while it is still active.
	base2 := writeQcow2(t, filepath.Join(root, "out", "base", "base2.qcow2"), "")
	base2ID := mustRecord(t, b, release("base", "2.0.0", base2))

	// Children: overlays whose backing file is a base, relative to their own dir.
	child := writeQcow2(t, filepath.Join(root, "out", "web", "web.qcow2"), "../base/base.qcow2")
	childID := mustRecord(t, b, release("web", "1.0.0", child))
	child2 := writeQcow2(t, filepath.Join(root, "out", "web", "web2.qcow2"), filepath.Join(root, "out", "base", "base2.qcow2"))
	child2ID := mustRecord(t, b, release("web", "2.0.0", child2))

	u, err := usageOf(ctx, b, []lifecycle.Image{{ID: baseID}, {ID: base2ID}, {ID: childID}})
	require.NoError(t, err)
	want := lifecycle.Usage{
		{ID: baseID}:  {{Kind: "child-image", ID: childID}},
		{ID: base2ID}: {{Kind: "child-image", ID: child2ID}},
	}
	require.Equal(t, want, u, "Usage")

	// The disabled base's file is a live child's backing file: no delete.
	q := filepath.Join(b.Catalog().QuarantineDir(), baseID, "base.qcow2")
	d := decision(baseID, lifecycle.ActionDeregister)
	d.DeleteSnapshots = true
	for _, dry := range []bool{true, false} {
		contains(t, applyOne(ctx, b, d, dry), "in use by "+childID)
	}
	_, err = os.Stat(q)
	require.NoError(t, err, "backing file gone")
	// Nor may the active base be moved away from under its child.
	mustApply(t, b, decision(base2ID, lifecycle.ActionDeprecate))
	contains(t, applyOne(ctx, b, decision(base2ID, lifecycle.ActionDisable), false), "in use by "+child2ID)
	_, err = os.Stat(base2)
	require.NoError(t, err, "active base moved from under its child")

	// Once the child is retired too, the base may go.
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable, lifecycle.ActionDeregister} {
		mustApply(t, b, decision(childID, a))
	}
	mustApply(t, b, d)
	assertGone(t, q)
}

func TestParentAndSharedFileProtection(t *testing.T) {
	b, root := setup(t)
	ctx := context.Background()
	p := writeFile(t, filepath.Join(root, "out", "p.img"), "p")
	pid := mustRecord(t, b, release("base", "1.0.0", p))
	c := writeFile(t, filepath.Join(root, "out", "c.img"), "c")
	img := release("web", "1.0.0", c)
	img.Parent = pid
	cid := mustRecord(t, b, img)
	u, err := usageOf(ctx, b, []lifecycle.Image{{ID: pid}})
	require.NoError(t, err)
	require.Equal(t, []lifecycle.Consumer{{Kind: "child-image", ID: cid}}, u[lifecycle.Ref{ID: pid}], "Usage = %+v", u)
	mustApply(t, b, decision(pid, lifecycle.ActionDeprecate))
	contains(t, applyOne(ctx, b, decision(pid, lifecycle.ActionDisable), false), "in use by "+cid)
	assertExists(t, p, "p")

	// Two entries listing the same file (a hand-edited catalog: Record
	// tombstones the older claim): retiring one must not take the file
	// from the other.
	s := writeFile(t, filepath.Join(root, "out", "shared.img"), "s")
	a := release("db", "1.0.0", s)
	a.ID = "db-a"
	mustRecord(t, b, a)
	editCatalog(t, b, func(doc *Document) {
		e := *doc.find("db-a")
		e.ID = "db-b"
		doc.Entries = append(doc.Entries, e)
	})
	mustApply(t, b, decision("db-a", lifecycle.ActionDeprecate))
	contains(t, applyOne(ctx, b, decision("db-a", lifecycle.ActionDisable), false), "entry db-b also lists")
	assertExists(t, s, "s")
}
