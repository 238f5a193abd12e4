package aws

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// fixture is one emulator, one backend and a clock the test moves.
type fixture struct {
	*emu
	t   *testing.T
	be  *Backend
	at  time.Time
	ctx context.Context
}

func newFixture(t *testing.T, opts Options) *fixture {
	f := &fixture{t: t, at: t0, ctx: context.Background()}
	f.emu = newEmu(t, func() time.Time { return f.at })
	f.be = f.backend(opts)
	return f
}

// build records a build of family at version made in every region, pending
// then released, and returns it per region.
func (f *fixture) build(family, version string, regions ...string) map[string]lifecycle.Image {
	id := ""
	for i, r := range regions {
		if i > 0 {
			id += ","
		}
		id += r + ":" + f.ami(r, account, family+"-"+version, nil)
	}
	rel := release(family, version, f.at)
	imgs, err := f.be.NewReleases(artifact(id, "ami-00000000000000001"), rel)
	require.NoError(f.t, err)
	for i := range imgs {
		imgs[i].State = backend.StatePending
	}
	out := map[string]lifecycle.Image{}
	for _, res := range f.be.Record(f.ctx, imgs, false) {
		require.NoError(f.t, res.Err)
		res.Image.State = lifecycle.StateAvailable
		out[res.Ref.Region] = res.Image
	}
	var again []lifecycle.Image
	for _, img := range out {
		again = append(again, img)
	}
	for _, res := range f.be.Record(f.ctx, again, false) {
		require.NoError(f.t, res.Err)
		out[res.Ref.Region] = res.Image
	}
	return out
}

func (f *fixture) listed(family string) map[lifecycle.Ref]lifecycle.Image {
	l, err := f.be.List(f.ctx, backend.Query{Family: family})
	require.NoError(f.t, err)
	require.Empty(f.t, l.Failed)
	out := map[lifecycle.Ref]lifecycle.Image{}
	for _, img := range l.Images {
		out[img.Ref()] = img
	}
	return out
}

func TestRecordTagsAMIAndSnapshotsInOneCallPerRegion(t *testing.T) {
	f := newFixture(t, Options{})
	id1 := f.ami("us-east-1", account, "web-1", nil)
	id2 := f.ami("eu-west-1", account, "web-1", nil)
	rel := release("web", "1.0.0", f.at)
	rel.ExpiresAt = f.at.Add(90 * 24 * time.Hour)
	imgs, err := f.be.NewReleases(artifact("eu-west-1:"+id2+",us-east-1:"+id1, "ami-00000000000000abc"), rel)
	require.NoError(t, err)
	require.Len(t, imgs, 2)
	for i := range imgs {
		require.Equal(t, "ami-00000000000000abc", imgs[i].Parent, "the parent defaults to the build's SourceAMI")
		imgs[i].State = backend.StatePending
	}
	f.s.ResetCounters()
	for _, res := range f.be.Record(f.ctx, imgs, false) {
		require.NoError(t, res.Err)
		require.True(t, res.Changed)
	}
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		require.Equal(t, 1, f.s.Calls(r, "CreateTags"), r)
		require.Zero(t, f.s.Calls(r, "EnableImageDeprecation"), "%s: a pending build is not deprecated at its expiry yet", r)
	}
	img := f.image("eu-west-1", id2)
	snap := img.BlockDevices[0].SnapshotID
	for _, res := range []string{id2, snap} {
		tags := f.tags("eu-west-1", res)
		require.Equal(t, "pending", tags[lifecycle.TagStage], res)
		require.Equal(t, "web", tags[lifecycle.TagFamily], res)
		require.Equal(t, "ami-00000000000000abc", tags[lifecycle.TagParent], res)
		require.Equal(t, lifecycle.DefaultManagedBy, tags[lifecycle.TagManagedBy], res)
	}
	l := f.listed("web")
	require.Len(t, l, 2, "both regions are listed: the artifact's regions join the sweep")
	for _, img := range l {
		require.Equal(t, backend.StatePending, img.State)
	}

	for i := range imgs {
		imgs[i].State = lifecycle.StateAvailable
	}
	for _, res := range f.be.Record(f.ctx, imgs, false) {
		require.NoError(t, res.Err)
	}
	require.Equal(t, "active", f.tags("eu-west-1", id2)[lifecycle.TagStage])
	require.Equal(t, "active", f.tags("eu-west-1", snap)[lifecycle.TagStage])
	require.NotNil(t, f.image("eu-west-1", id2).DeprecationTime, "a release that expires is deprecated by EC2 at its expiry")
	require.Equal(t, rel.ExpiresAt, *f.image("eu-west-1", id2).DeprecationTime)
}

func TestForeignAndUnmarkedAMIsAreNeverManaged(t *testing.T) {
	f := newFixture(t, Options{})
	ours := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	foreign := f.ami("us-east-1", "210987654321", "web-x", map[string]string{lifecycle.TagFamily: "web", lifecycle.TagManagedBy: lifecycle.DefaultManagedBy})
	f.s.Update(func(st *ec2emu.State) { st.Region("us-east-1").Images[foreign].LaunchUsers = []string{account} })
	other := f.ami("us-east-1", account, "web-y", map[string]string{lifecycle.TagFamily: "web", lifecycle.TagManagedBy: "another-team"})
	backup := f.ami("us-east-1", account, "web-z", map[string]string{lifecycle.TagFamily: "web", lifecycle.TagManagedBy: lifecycle.DefaultManagedBy,
		"aws:backup:source-resource": "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"})
	l := f.listed("web")
	require.True(t, l[ours.Ref()].Managed)
	require.False(t, l[lifecycle.Ref{Region: "us-east-1", ID: backup}].Managed, "AWS Backup's AMIs are Backup's to retire")
	require.NotContains(t, l, lifecycle.Ref{Region: "us-east-1", ID: foreign}, "owners (self) bound the listing: a shared-in AMI is not ours")
	require.False(t, l[lifecycle.Ref{Region: "us-east-1", ID: other}].Managed, "another marker is not ours")

	f.at = f.at.Add(time.Hour)
	img := l[lifecycle.Ref{Region: "us-east-1", ID: other}]
	rs := f.be.Apply(f.ctx, []lifecycle.Decision{{Image: img, Action: lifecycle.ActionDeprecate, To: lifecycle.StageDeprecated}}, false)
	require.ErrorContains(t, rs[0].Err, "not managed")
	require.Nil(t, f.image("us-east-1", other).DeprecationTime)
}

func TestDisableSavesLaunchPermissionsAndRestoreGivesThemBack(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	f.s.Update(func(st *ec2emu.State) {
		st.Region("us-east-1").Images[img.ID].LaunchUsers = []string{"111122223333", "444455556666"}
	})
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable} {
		f.at = f.at.Add(time.Hour)
		cur := f.listed("web")[img.Ref()]
		rs := f.be.Apply(f.ctx, []lifecycle.Decision{{Image: cur, Action: a, To: a.Target()}}, false)
		require.NoError(t, rs[0].Err)
	}
	require.Equal(t, "disabled", f.image("us-east-1", img.ID).State)
	require.Empty(t, f.image("us-east-1", img.ID).LaunchUsers, "EC2 drops them")
	require.Equal(t, "111122223333,444455556666", f.tags("us-east-1", img.ID)[TagLaunchPermissions])

	f.at = f.at.Add(time.Hour)
	cur := f.listed("web")[img.Ref()]
	require.Equal(t, lifecycle.StageDisabled, cur.EffectiveStage(f.at))
	ds := lifecycle.Restore([]lifecycle.Image{cur}, []lifecycle.Ref{img.Ref()}, f.at)
	rs := f.be.Apply(f.ctx, ds, false)
	require.NoError(t, rs[0].Err)
	require.Contains(t, rs[0].Note, "launch permissions given back")
	back := f.image("us-east-1", img.ID)
	require.Equal(t, "available", back.State)
	require.Nil(t, back.DeprecationTime)
	require.ElementsMatch(t, []string{"111122223333", "444455556666"}, back.LaunchUsers)
	require.Equal(t, lifecycle.StageActive, f.listed("web")[img.Ref()].EffectiveStage(f.at))
}

func TestUsageNamesEveryConsumerAndDisableRefusesAnImageInUse(t *testing.T) {
	f := newFixture(t, Options{})
	used := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	parent := f.build("web", "1.1.0", "us-east-1")["us-east-1"]
	free := f.build("web", "1.2.0", "us-east-1")["us-east-1"]
	child := f.ami("us-east-1", account, "app-1", map[string]string{lifecycle.TagParent: parent.ID, lifecycle.TagFamily: "app"})
	f.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		r.Instances["i-0000000000000aaa1"] = &ec2emu.Instance{ID: "i-0000000000000aaa1", ReservationID: "r-1", OwnerID: account, ImageID: used.ID, State: "stopped", InstanceType: "t3.micro", LaunchTime: f.at}
		r.Instances["i-0000000000000aaa2"] = &ec2emu.Instance{ID: "i-0000000000000aaa2", ReservationID: "r-2", OwnerID: account, ImageID: free.ID, State: "terminated", InstanceType: "t3.micro", LaunchTime: f.at}
	})
	u := f.be.Usage(f.ctx, []lifecycle.Image{used, parent, free})
	require.Equal(t, []lifecycle.Consumer{{Kind: lifecycle.ConsumerInstance, ID: "i-0000000000000aaa1"}}, u[used.Ref()], "a stopped instance starts again")
	require.Equal(t, []lifecycle.Consumer{{Kind: lifecycle.ConsumerChildImage, ID: child}}, u[parent.Ref()])
	require.Empty(t, u[free.Ref()], "a terminated instance uses nothing")

	f.at = f.at.Add(time.Hour)
	cur := f.listed("web")[used.Ref()]
	require.NoError(t, f.be.Apply(f.ctx, []lifecycle.Decision{{Image: cur, Action: lifecycle.ActionDeprecate, To: lifecycle.StageDeprecated}}, false)[0].Err)
	f.at = f.at.Add(time.Hour)
	cur = f.listed("web")[used.Ref()]
	rs := f.be.Apply(f.ctx, []lifecycle.Decision{{Image: cur, Action: lifecycle.ActionDisable, To: lifecycle.StageDisabled}}, false)
	require.ErrorContains(t, rs[0].Err, "i-0000000000000aaa1", "re-checked right before acting")
	require.Equal(t, "available", f.image("us-east-1", used.ID).State)
}

func TestDryRunMakesNoMutatingCall(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.build("web", "1.0.0", "us-east-1", "eu-west-1")
	fresh := f.ami("us-east-1", account, "web-2", nil)
	f.at = f.at.Add(time.Hour)
	listed := f.listed("web")
	f.s.ResetCounters()
	rel, err := f.be.NewReleases(artifact("us-east-1:"+fresh, ""), release("web", "2.0.0", f.at))
	require.NoError(t, err)
	require.NoError(t, f.be.Record(f.ctx, rel, true)[0].Err)
	var ds []lifecycle.Decision
	for _, i := range img {
		ds = append(ds, lifecycle.Decision{Image: listed[i.Ref()], Action: lifecycle.ActionDeprecate, To: lifecycle.StageDeprecated})
	}
	for region, calls := range f.s.Snapshot() {
		for action := range calls {
			require.Contains(t, []string{"DescribeImages", "DescribeImageReferences"}, action, "%s: a dry run only reads", region)
		}
	}
	// Deciding on the listing it planned from, the dry run calls nothing.
	f.s.ResetCounters()
	for _, r := range f.be.Apply(f.ctx, ds, true) {
		require.NoError(t, r.Err)
		require.True(t, r.Changed, "the dry run says what would change")
	}
	require.Empty(t, f.s.Snapshot())
	require.Empty(t, f.tags("us-east-1", fresh))
	require.Nil(t, f.image("us-east-1", img["us-east-1"].ID).DeprecationTime)
}

func TestDeregisterDeletesOnlyTheSnapshotsItMay(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	// A second snapshot that a kept image also uses: the plan leaves it out.
	var shared string
	f.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		shared = st.NewID("snap")
		r.Snapshots[shared] = &ec2emu.Snapshot{ID: shared, OwnerID: account, VolumeSize: 8, State: "completed", StartTime: f.at}
		r.Images[img.ID].BlockDevices = append(r.Images[img.ID].BlockDevices, ec2emu.BlockDevice{DeviceName: "/dev/xvdb", SnapshotID: shared, VolumeSize: 8})
	})
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable, lifecycle.ActionDeregister} {
		f.at = f.at.Add(time.Hour)
		cur := f.listed("web")[img.Ref()]
		d := lifecycle.Decision{Image: cur, Action: a, To: a.Target()}
		if a == lifecycle.ActionDeregister {
			d.DeleteSnapshots, d.Snapshots = true, []string{cur.Snapshots[0]}
		}
		rs := f.be.Apply(f.ctx, []lifecycle.Decision{d}, false)
		require.NoError(t, rs[0].Err, "%s", a)
		if a == lifecycle.ActionDeregister {
			require.Contains(t, rs[0].Note, cur.Snapshots[0]+" deleted")
		}
	}
	require.Nil(t, f.image("us-east-1", img.ID))
	require.False(t, f.snapshotExists("us-east-1", img.Snapshots[0]))
	require.True(t, f.snapshotExists("us-east-1", shared), "a snapshot outside Decision.Snapshots is never deleted")
}

func TestPinKeepsAReleaseAndUnpinReleasesIt(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	ghost := img
	ghost.ID = "ami-00000000000000fff"
	f.s.ResetCounters()
	rs := f.be.Pin(f.ctx, []lifecycle.Image{img, ghost}, true, true)
	require.NoError(t, rs[0].Err)
	require.True(t, rs[0].Changed)
	require.Error(t, rs[1].Err, "an AMI that is not there is named, the others go on")
	require.Zero(t, f.s.Calls("us-east-1", "CreateTags"), "a dry run writes nothing")

	require.True(t, f.be.Pin(f.ctx, []lifecycle.Image{img}, true, false)[0].Changed)
	require.True(t, f.listed("web")[img.Ref()].Pinned)
	require.False(t, f.be.Pin(f.ctx, []lifecycle.Image{img}, true, false)[0].Changed, "pinning what is pinned changes nothing")
	require.True(t, f.be.Pin(f.ctx, []lifecycle.Image{img}, false, false)[0].Changed)
	require.False(t, f.listed("web")[img.Ref()].Pinned)
}

// TestConsumerAccountReadsTheStampedRelease: the owner's tags are invisible
// to the accounts an AMI is shared with; the stamp in its description is
// what such an account reads, with one DescribeImages, and EC2's own state
// tells it the rest (a disabled AMI is no longer shared).
func TestConsumerAccountReadsTheStampedRelease(t *testing.T) {
	const consumer = "111122223333"
	f := newFixture(t, Options{})
	f.s.AddAccount("AKIDCONSUMER", consumer)
	f.s.Update(func(st *ec2emu.State) { st.Region("us-east-1").Images = map[string]*ec2emu.Image{} })
	old := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	f.at = f.at.Add(time.Hour)
	newer := f.build("web", "1.1.0", "us-east-1")["us-east-1"]
	// An AMI of the owner, not recorded, whose builder copied 1.1.0's
	// description ("based on {{ .SourceAMIDescription }}").
	copied := f.ami("us-east-1", account, "app-1", nil)
	f.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		r.Images[copied].Description = "based on " + r.Images[newer.ID].Description
		for _, id := range []string{old.ID, newer.ID, copied} {
			r.Images[id].LaunchUsers = []string{consumer}
		}
	})
	require.Contains(t, f.image("us-east-1", newer.ID).Description, "[lifecycle/1 family=web&channel=stable&version=1.1.0&")

	reader := f.backend(Options{Config: f.config("us-east-1", "AKIDCONSUMER"), Owners: []string{account}})
	list := func(shared bool) map[string]lifecycle.Image {
		f.s.ResetCounters()
		l, err := reader.List(f.ctx, backend.Query{Family: "web", Channel: "stable", Shared: shared})
		require.NoError(t, err)
		require.Empty(t, l.Failed)
		require.Equal(t, 1, f.s.Calls("us-east-1", "DescribeImages"), "one call, no other")
		out := map[string]lifecycle.Image{}
		for _, img := range l.Images {
			out[img.ID] = img
		}
		return out
	}
	require.Empty(t, list(false), "the owner's tags are not visible to a consumer")
	got := list(true)
	require.Len(t, got, 3, "the copy matches the filter, by its parent's stamp")
	require.False(t, got[copied].Managed, "a stamp copied from another AMI is not this AMI's")
	for _, img := range []lifecycle.Image{old, newer} {
		r := got[img.ID]
		require.True(t, r.Managed, img.Version)
		require.Equal(t, img.Version, r.Version)
		require.Equal(t, "stable", r.Channel)
		require.Equal(t, account, r.Owner)
		require.True(t, r.ReleasedAt.Equal(img.ReleasedAt), "%v != %v", r.ReleasedAt, img.ReleasedAt)
	}
	chosen, err := lifecycle.Choose(slices.Collect(maps.Values(got)), lifecycle.Choice{Family: "web", Channel: "stable"}, f.at)
	require.NoError(t, err)
	require.Equal(t, newer.ID, chosen.ID)

	// The owner disables 1.1.0: EC2 stops sharing it, the consumer gets 1.0.0.
	f.at = f.at.Add(time.Hour)
	owner := f.listed("web")[newer.Ref()]
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable} {
		rs := f.be.Apply(f.ctx, []lifecycle.Decision{{Image: owner, Action: a, To: a.Target()}}, false)
		require.NoError(t, rs[0].Err)
		owner = f.listed("web")[newer.Ref()]
	}
	got = list(true)
	require.NotContains(t, got, newer.ID)
	chosen, err = lifecycle.Choose(slices.Collect(maps.Values(got)), lifecycle.Choice{Family: "web", Channel: "stable"}, f.at)
	require.NoError(t, err)
	require.Equal(t, old.ID, chosen.ID)
}

// TestALostAnswerIsNotAFailure: EC2 carried a call out but its answer was
// lost (a reset, call_timeout), so the SDK sent it again. An image already
// disabled takes DisableImage again; an image already deregistered refuses
// DeregisterImage, which is then what this run did, not a failure: the
// snapshots the decision may delete are deleted, and only those.
func TestALostAnswerIsNotAFailure(t *testing.T) {
	for _, deleteSnaps := range []bool{true, false} {
		t.Run(fmt.Sprintf("delete_snapshots=%v", deleteSnaps), func(t *testing.T) {
			f := newFixture(t, Options{})
			img := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
			for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable, lifecycle.ActionDeregister} {
				f.at = f.at.Add(time.Hour)
				cur := f.listed("web")[img.Ref()]
				d := lifecycle.Decision{Image: cur, Action: a, To: a.Target()}
				if a == lifecycle.ActionDeregister {
					d.DeleteSnapshots = deleteSnaps
				}
				op := map[lifecycle.Action]string{lifecycle.ActionDeprecate: "EnableImageDeprecation",
					lifecycle.ActionDisable: "DisableImage", lifecycle.ActionDeregister: "DeregisterImage"}[a]
				f.s.ResetCounters()
				f.s.SetFault(ec2emu.Fault{Action: op, Probability: 1, Kind: ec2emu.LoseAnswer, Times: 1})
				rs := f.be.Apply(f.ctx, []lifecycle.Decision{d}, false)
				f.s.ClearFaults()
				require.NoError(t, rs[0].Err, "%s", a)
				require.True(t, rs[0].Changed, "%s", a)
				require.Equal(t, 2, f.s.Calls("us-east-1", op), "%s: the lost call, then the SDK's second", a)
				switch a {
				case lifecycle.ActionDeprecate:
					require.NotNil(t, f.image("us-east-1", img.ID).DeprecationTime)
				case lifecycle.ActionDisable:
					require.Equal(t, "disabled", f.image("us-east-1", img.ID).State)
				}
			}
			require.Nil(t, f.image("us-east-1", img.ID))
			require.Equal(t, !deleteSnaps, f.snapshotExists("us-east-1", img.Snapshots[0]), "snapshots go only with delete_snapshots")
		})
	}
}
