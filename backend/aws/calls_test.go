package aws

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// TestAPICallsForOneBuildAndRetire measures the EC2 calls of one build and
// retire over 3 regions × 50 releases (15 disabled, 15 deprecated, 20
// active), the numbers the documentation quotes, and bounds them: calls
// grow with batches (1,000 tags, 10 reference ids, 200 filter values), not
// with images, except the one call each EC2 action is.
func TestAPICallsForOneBuildAndRetire(t *testing.T) {
	f := newFixture(t, Options{})
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
	long := f.at.Add(-60 * 24 * time.Hour)
	for _, r := range regions {
		for i := 1; i <= 50; i++ {
			v := fmt.Sprintf("1.%d.0", i)
			released := long.Add(time.Duration(i) * time.Hour)
			stage := "active"
			switch {
			case i <= 15:
				stage = "disabled"
			case i <= 30:
				stage = "deprecated"
			}
			id := f.ami(r, account, "web-"+v, map[string]string{
				lifecycle.TagFamily: "web", lifecycle.TagVersion: v, lifecycle.TagChannel: "stable",
				lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagStage: stage,
				lifecycle.TagStageSince: long.Format(time.RFC3339), lifecycle.TagReleasedAt: released.Format(time.RFC3339),
			})
			f.s.Update(func(st *ec2emu.State) {
				img := st.Region(r).Images[id]
				img.CreationDate = released
				switch stage {
				case "disabled":
					img.State = "disabled"
					fallthrough
				case "deprecated":
					at := long.Truncate(time.Minute)
					img.DeprecationTime = &at
				}
			})
		}
	}
	policy := lifecycle.DefaultPolicy()
	policy.MinAge, policy.DeprecateAfter, policy.DisableAfter, policy.DeregisterAfter = 0, 0, 7*lifecycle.Day, 7*lifecycle.Day

	calls := map[string]map[string]int{}
	phase := func(name string, fn func()) {
		f.s.ResetCounters()
		fn()
		calls[name] = map[string]int{}
		for _, byAction := range f.s.Snapshot() {
			for a, n := range byAction {
				calls[name][a] += n
			}
		}
		t.Logf("%-10s %v", name, calls[name])
	}

	id := ""
	for i, r := range regions {
		if i > 0 {
			id += ","
		}
		id += r + ":" + f.ami(r, account, "web-2.0.0", nil)
	}
	fresh, err := f.be.NewReleases(artifact(id, ""), release("web", "2.0.0", f.at))
	require.NoError(t, err)
	phase("record", func() {
		for i := range fresh {
			fresh[i].State = backend.StatePending
		}
		for i, res := range f.be.Record(f.ctx, fresh, false) {
			require.NoError(t, res.Err)
			fresh[i] = res.Image
		}
	})
	var images []lifecycle.Image
	phase("list", func() {
		l, err := f.be.List(f.ctx, backend.Query{Family: "web"})
		require.NoError(t, err)
		require.Empty(t, l.Failed)
		images = l.Images
	})
	require.Len(t, images, 3*51)
	var usage lifecycle.Usage
	phase("usage", func() { usage = f.be.Usage(f.ctx, images) })
	refs := make([]lifecycle.Ref, len(fresh))
	for i := range fresh {
		refs[i] = fresh[i].Ref()
	}
	plan := lifecycle.Plan(images, usage, policy, f.at, refs)
	count := map[lifecycle.Action]int{}
	for _, d := range plan {
		count[d.Action]++
	}
	require.Equal(t, 3*15, count[lifecycle.ActionDeregister], "%v", count)
	require.Equal(t, 3*15, count[lifecycle.ActionDisable], "%v", count)
	require.Equal(t, 3*17, count[lifecycle.ActionDeprecate], "%v", count)
	phase("apply", func() {
		for _, r := range f.be.Apply(f.ctx, plan, false) {
			require.NoError(t, r.Err)
		}
	})
	phase("release", func() {
		for i := range fresh {
			fresh[i].State = lifecycle.StateAvailable
		}
		for _, res := range f.be.Record(f.ctx, fresh, false) {
			require.NoError(t, res.Err)
		}
	})

	n := len(regions)
	require.Equal(t, map[string]int{"DescribeImages": n, "CreateTags": n}, calls["record"])
	require.Equal(t, map[string]int{"DescribeImages": n}, calls["list"])
	// Per region: 51 ids in 6 reference calls, child images by tag and by
	// source id, Auto Scaling groups and launch configurations.
	require.Equal(t, map[string]int{"DescribeImageReferences": 6 * n, "DescribeImages": 2 * n,
		"DescribeAutoScalingGroups": n, "DescribeLaunchConfigurations": n}, calls["usage"])
	a := calls["apply"]
	require.Equal(t, 3*17, a["EnableImageDeprecation"])
	require.Equal(t, 3*15, a["DisableImage"])
	require.Equal(t, 3*15, a["DescribeImageAttribute"], "disable saves the launch permissions it reads right before")
	require.Equal(t, 3*15, a["DeregisterImage"])
	require.Equal(t, 2*n, a["CreateTags"], "one per region and stage reached (deprecated, disabled)")
	require.Equal(t, 3*n, a["DescribeImages"], "the re-read, and the usage re-check's two child lookups")
	// The release's tags, and its stamp in the description for the accounts
	// it is shared with (one call per new AMI: EC2 has no batch for it).
	require.Equal(t, map[string]int{"DescribeImages": n, "CreateTags": n, "ModifyImageAttribute": len(fresh)}, calls["release"])
}
