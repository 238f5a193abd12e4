package aws

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Orphans are the family's tagged snapshots no live image refers to; an
// image disabled or deprecated still holds its snapshot, and a region that
// cannot be looked at is reported, with nothing found there.
func TestOrphansAreSnapshotsNoImageHolds(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	e := newEmu(t, func() time.Time { return now })
	be := e.backend(Options{Regions: []string{"us-east-1", "eu-west-1"}, ManagedBy: lifecycle.DefaultManagedBy})
	ours := func(version string) map[string]string {
		return map[string]string{lifecycle.TagFamily: "web", lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagVersion: version}
	}
	snapshot := func(region, id string) string {
		return e.image(region, id).BlockDevices[0].SnapshotID
	}
	gone := e.ami("us-east-1", ec2emu.DefaultAccount, "web-1.0.0", nil)
	disabled := e.ami("us-east-1", ec2emu.DefaultAccount, "web-1.1.0", nil)
	goneSnap, disabledSnap := snapshot("us-east-1", gone), snapshot("us-east-1", disabled)
	e.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		r.Tags[goneSnap], r.Tags[disabledSnap] = ours("1.0.0"), ours("1.1.0")
		r.Images[disabled].State = "disabled"
		delete(r.Images, gone)
	})
	found, failed := be.Orphans(context.Background(), "web")
	require.Empty(t, failed)
	require.Equal(t, []backend.Orphan{{Region: "us-east-1", ID: goneSnap, Version: "1.0.0", Bytes: 8 << 30}}, found)

	e.s.SetFault(ec2emu.Fault{Region: "eu-west-1", Action: "DescribeSnapshots", Probability: 1, Kind: ec2emu.ServerError})
	found, failed = be.Orphans(context.Background(), "web")
	require.Len(t, failed, 1)
	require.Equal(t, "eu-west-1", failed[0].Region)
	require.ErrorContains(t, failed[0].Err, "DescribeSnapshots")
	require.Len(t, found, 1, "the other region is still looked at")
}

// DeleteOrphans deletes orphaned snapshots, but keeps the one whose
// release's AMI is in the Recycle Bin and every one of a region whose bin
// holds an AMI without a release stamp; a dry run deletes nothing; a bin
// that cannot be read keeps its region's.
func TestDeleteOrphansKeepsWhatTheRecycleBinMayNeed(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	e := newEmu(t, func() time.Time { return now })
	be := e.backend(Options{Regions: []string{"us-east-1", "eu-west-1"}, ManagedBy: lifecycle.DefaultManagedBy})
	later := now.Add(7 * 24 * time.Hour)
	binned := func(region, id, description string) {
		e.s.Update(func(st *ec2emu.State) {
			st.Region(region).Deregistered[id] = &ec2emu.Image{ID: id, Name: id, OwnerID: ec2emu.DefaultAccount, State: "deregistered",
				Description: description, CreationDate: now.Add(-time.Hour), DeregisteredAt: &now, BinUntil: &later}
		})
	}
	stamped := func(id, version string) string {
		s, ok := lifecycle.Stamp(lifecycle.Image{ID: id, Family: "web", Version: version, Channel: "stable", ReleasedAt: now.Add(-time.Hour)}, lifecycle.DefaultManagedBy)
		require.True(t, ok)
		return lifecycle.StampedDescription("web "+version, s)
	}
	binned("us-east-1", "ami-00000000000000b11", stamped("ami-00000000000000b11", "1.1.0"))
	binned("us-east-1", "ami-00000000000000b22", stamped("ami-00000000000000b22", "9.0.0")) // another release: holds nothing of ours
	binned("eu-west-1", "ami-00000000000000b33", "built by hand")
	orphans := []backend.Orphan{{Region: "us-east-1", ID: "snap-0000000000000a100", Version: "1.0.0", Bytes: 8 << 30},
		{Region: "us-east-1", ID: "snap-0000000000000a110", Version: "1.1.0", Bytes: 8 << 30},
		{Region: "eu-west-1", ID: "snap-0000000000000a130", Version: "1.3.0", Bytes: 8 << 30}}
	e.s.Update(func(st *ec2emu.State) {
		for _, o := range orphans {
			st.Region(o.Region).Snapshots[o.ID] = &ec2emu.Snapshot{ID: o.ID, OwnerID: ec2emu.DefaultAccount, VolumeSize: 8, State: "completed", StartTime: now}
		}
	})
	fate := func(rs []backend.OrphanResult) map[string]string {
		out := map[string]string{}
		for _, r := range rs {
			switch {
			case r.Err != nil:
				out[r.Version] = "error: " + r.Err.Error()
			case r.Deleted:
				out[r.Version] = "deleted"
			default:
				out[r.Version] = r.Note
			}
		}
		return out
	}
	want := map[string]string{"1.0.0": "deleted",
		"1.1.0": "kept: its release's AMI ami-00000000000000b11 is in the Recycle Bin and may be restored",
		"1.3.0": "kept: the Recycle Bin holds AMIs without a release stamp (ami-00000000000000b33), whose snapshots cannot be told apart"}
	require.Equal(t, want, fate(be.DeleteOrphans(context.Background(), "web", orphans, true)))
	for _, o := range orphans {
		require.True(t, e.snapshotExists(o.Region, o.ID), "a dry run deletes nothing")
	}
	require.Equal(t, want, fate(be.DeleteOrphans(context.Background(), "web", orphans, false)))
	require.False(t, e.snapshotExists("us-east-1", "snap-0000000000000a100"))
	require.True(t, e.snapshotExists("us-east-1", "snap-0000000000000a110"))
	require.True(t, e.snapshotExists("eu-west-1", "snap-0000000000000a130"))
	require.Equal(t, "deleted", fate(be.DeleteOrphans(context.Background(), "web", orphans[:1], false))["1.0.0"], "gone since: done")

	e.s.Deny("*", "ListImagesInRecycleBin")
	got := fate(be.DeleteOrphans(context.Background(), "web", orphans, false))
	require.Contains(t, got["1.0.0"], "error: kept: the Recycle Bin of us-east-1 could not be read")
}
