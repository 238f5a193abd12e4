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
