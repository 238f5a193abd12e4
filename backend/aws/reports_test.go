package aws

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

const otherAccount = "210987654321"

// reportFixture has web 1.0.0 to 1.4.0 in us-east-1: 1.0.0 deprecated and
// shared with otherAccount, which runs an instance of it; 1.1.0 deprecated
// and shared, unused; 1.2.0 deprecated, not shared; 1.3.0 active and
// shared; 1.4.0 disabled, shared before (its saved launch permissions).
func reportFixture(t *testing.T, opts Options, emuOpts ...ec2emu.Option) (*fixture, []lifecycle.Image) {
	f := &fixture{t: t, at: t0, ctx: t.Context()}
	f.emu = newEmu(t, func() time.Time { return f.at }, emuOpts...)
	f.be = f.backend(opts)
	var imgs []lifecycle.Image
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"} {
		imgs = append(imgs, f.build("web", v, "us-east-1")["us-east-1"])
	}
	for i, st := range []lifecycle.Stage{lifecycle.StageDeprecated, lifecycle.StageDeprecated, lifecycle.StageDeprecated, lifecycle.StageActive, lifecycle.StageDisabled} {
		imgs[i].Stage = st
	}
	imgs[4].Tags[TagLaunchPermissions] = otherAccount
	f.s.Update(func(st *ec2emu.State) {
		r := st.Region("us-east-1")
		for _, i := range []int{0, 1, 3} {
			r.Images[imgs[i].ID].LaunchUsers = []string{otherAccount}
		}
		r.Instances["i-0000000000000b001"] = &ec2emu.Instance{ID: "i-0000000000000b001", OwnerID: otherAccount, ImageID: imgs[0].ID, State: "running", LaunchTime: f.at}
	})
	return f, imgs
}

// kinds maps each image's version to the kinds of what uses it, with the
// account and, for an unknown, the start of why.
func kinds(imgs []lifecycle.Image, u lifecycle.Usage) map[string]string {
	out := map[string]string{}
	for _, img := range imgs {
		var s []string
		for _, c := range u[img.Ref()] {
			x := c.Kind
			if c.Account != "" {
				x += "@" + c.Account
			}
			if c.Kind == lifecycle.ConsumerUnknown {
				why, _, _ := strings.Cut(strings.TrimPrefix(c.ID, "other accounts: "), " (")
				x += ": " + why
			}
			s = append(s, x)
		}
		out[img.Version] = strings.Join(s, "; ")
	}
	return out
}

// due are the images a plan would disable or deregister: all but 1.3.0.
func due(imgs []lifecycle.Image) []lifecycle.Image {
	return []lifecycle.Image{imgs[0], imgs[1], imgs[2], imgs[4]}
}

// TestUsageReportsKeepWhatOtherAccountsUse: a shared image about to be
// disabled or deregistered is kept until a finished usage report younger
// than usage_report_max_age says no other account uses it; one that
// another account uses stays used, the account named. Reports are asked
// for only of shared images, once, again when old, never in a dry run.
func TestUsageReportsKeepWhatOtherAccountsUse(t *testing.T) {
	f, imgs := reportFixture(t, Options{UsageReports: UsageReports{Wait: 0, MaxAge: 24 * time.Hour}})
	other := func(dryRun bool) (map[string]string, []string) {
		u, lines := f.be.OtherUsage(f.ctx, due(imgs), dryRun)
		return kinds(imgs, u), lines
	}
	none := map[string]string{"1.0.0": "unknown: no usage report under 1d old", "1.1.0": "unknown: no usage report under 1d old",
		"1.2.0": "", "1.3.0": "", "1.4.0": "unknown: no usage report under 1d old"}
	got, lines := other(true)
	require.Equal(t, none, got, "a dry run: no report yet, kept")
	require.Empty(t, lines)
	require.Zero(t, f.s.Calls("us-east-1", "CreateImageUsageReport"))
	require.Equal(t, 3, f.s.Calls("us-east-1", "DescribeImageAttribute"), "the launch permissions of the three deprecated ones; 1.4.0's are in its tag")

	got, lines = other(false)
	require.Len(t, lines, 1, "%v", lines)
	require.Contains(t, lines[0], "us-east-1: asked EC2 for usage reports (other accounts' instances and launch templates) of 3 shared AMIs")
	require.Equal(t, 3, f.s.Calls("us-east-1", "CreateImageUsageReport"), "1.0.0, 1.1.0, 1.4.0: not 1.2.0, which is not shared")
	for _, v := range []string{"1.0.0", "1.1.0", "1.4.0"} {
		require.Regexp(t, `^unknown: usage report amiur-\w+ unfinished$`, got[v])
	}

	f.at = f.at.Add(ec2emu.DefaultUsageReportDelay) // EC2 finished them
	got, lines = other(false)
	require.Empty(t, lines, "fresh reports: none asked again")
	require.Equal(t, map[string]string{"1.0.0": "instance@" + otherAccount, "1.1.0": "", "1.2.0": "", "1.3.0": "", "1.4.0": ""}, got)
	u, _ := f.be.OtherUsage(f.ctx, due(imgs), true)
	require.Regexp(t, `^1 instance per usage report amiur-\w+$`, u[imgs[0].Ref()][0].ID, "a dry run reads them too")
	require.Equal(t, 3, f.s.Calls("us-east-1", "CreateImageUsageReport"))

	f.at = f.at.Add(24 * time.Hour) // older than usage_report_max_age
	got, _ = other(true)
	require.Equal(t, none, got)
	_, lines = other(false)
	require.Len(t, lines, 1)
	require.Equal(t, 6, f.s.Calls("us-east-1", "CreateImageUsageReport"))
}

// TestUsageReportWaitDecidesInTheRun: with usage_report_wait, a run waits
// for the reports it asked for and decides on them; a report EC2 cannot
// make, or a lookup that fails, keeps the image, saying why; with
// skip_usage_reports nothing is asked or read.
func TestUsageReportWaitDecidesInTheRun(t *testing.T) {
	f, imgs := reportFixture(t, Options{UsageReports: UsageReports{Wait: time.Minute, MaxAge: 24 * time.Hour}}, ec2emu.WithUsageReportDelay(0))
	u, lines := f.be.OtherUsage(f.ctx, due(imgs), false)
	require.Len(t, lines, 1)
	require.Equal(t, map[string]string{"1.0.0": "instance@" + otherAccount, "1.1.0": "", "1.2.0": "", "1.3.0": "", "1.4.0": ""}, kinds(imgs, u))

	g, imgs := reportFixture(t, Options{UsageReports: UsageReports{Wait: time.Minute, MaxAge: 24 * time.Hour}}, ec2emu.WithUsageReportDelay(0))
	g.s.Deny("*", "CreateImageUsageReport")
	u, lines = g.be.OtherUsage(g.ctx, due(imgs), false)
	require.Len(t, lines, 3)
	require.Contains(t, lines[0], "asking for its usage report failed, so it is kept")
	require.Equal(t, "unknown: no usage report under 1d old", kinds(imgs, u)["1.1.0"])
	g.s.Deny("*", "DescribeImageUsageReports")
	u, _ = g.be.OtherUsage(g.ctx, due(imgs), true)
	require.Contains(t, kinds(imgs, u)["1.1.0"], "unknown: DescribeImageUsageReports")
	g.s.Deny("*", "DescribeImageAttribute")
	u, _ = g.be.OtherUsage(g.ctx, due(imgs), true)
	require.Contains(t, kinds(imgs, u)["1.2.0"], "unknown: DescribeImageAttribute", "an image whose sharing is unknown is kept")

	h, imgs := reportFixture(t, Options{UsageReports: UsageReports{Skip: true, MaxAge: time.Hour}})
	u, lines = h.be.OtherUsage(h.ctx, due(imgs), false)
	require.Empty(t, u)
	require.Empty(t, lines)
	for _, a := range []string{"CreateImageUsageReport", "DescribeImageUsageReports", "DescribeImageAttribute"} {
		require.Zero(t, h.s.Calls("us-east-1", a), a)
	}
}

// TestDisableSavesThePermissionsTheUsageCheckRead: the launch permissions
// the other-account usage check read serve the disable that follows in the
// same run (one DescribeImageAttribute, not two) and are saved in the tag;
// older than permsFresh they are read again.
func TestDisableSavesThePermissionsTheUsageCheckRead(t *testing.T) {
	f, imgs := reportFixture(t, Options{UsageReports: UsageReports{Wait: time.Minute, MaxAge: 24 * time.Hour}}, ec2emu.WithUsageReportDelay(0))
	defer func(orig func() time.Time) { wallClock = orig }(wallClock)
	wall := time.Now()
	wallClock = func() time.Time { return wall }
	act := func(a lifecycle.Action, img lifecycle.Image) {
		t.Helper()
		cur := f.listed("web")[img.Ref()]
		rs := f.be.Apply(f.ctx, []lifecycle.Decision{{Image: cur, Action: a, To: a.Target(), Reason: "test"}}, false)
		require.NoError(t, rs[0].Err)
		require.True(t, rs[0].Changed)
	}
	act(lifecycle.ActionDeprecate, imgs[1])
	act(lifecycle.ActionDeprecate, imgs[2])
	f.at = f.at.Add(time.Hour)
	reads := func() int { return f.s.Calls("us-east-1", "DescribeImageAttribute") }

	f.be.OtherUsage(f.ctx, []lifecycle.Image{f.listed("web")[imgs[1].Ref()]}, false)
	before := reads()
	act(lifecycle.ActionDisable, imgs[1])
	require.Equal(t, before, reads(), "the usage check's read serves the disable")
	require.Equal(t, otherAccount, f.listed("web")[imgs[1].Ref()].Tags[TagLaunchPermissions], "saved before disabling")

	f.be.OtherUsage(f.ctx, []lifecycle.Image{f.listed("web")[imgs[2].Ref()]}, false)
	before = reads()
	wall = wall.Add(permsFresh)
	act(lifecycle.ActionDisable, imgs[2])
	require.Equal(t, before+1, reads(), "an older read is not trusted: read again")
}
