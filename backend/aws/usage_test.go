package aws

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// TestLaunchTemplateVersionsChoices: which launch template versions keep an
// image, per launch_template_versions; Auto Scaling groups and launch
// configurations keep theirs whatever the choice.
func TestLaunchTemplateVersionsChoices(t *testing.T) {
	lt := func(id string) lifecycle.Consumer {
		return lifecycle.Consumer{Kind: lifecycle.ConsumerLaunchTemplate, ID: id}
	}
	ltv := func(id, v string) lifecycle.Consumer {
		return lifecycle.Consumer{Kind: lifecycle.ConsumerLaunchTemplate, ID: id, Version: v}
	}
	asg := func(n string) lifecycle.Consumer { return lifecycle.Consumer{Kind: lifecycle.ConsumerASG, ID: n} }
	lc := lifecycle.Consumer{Kind: lifecycle.ConsumerLaunchConfiguration, ID: "web-lc"}
	const tmpl = "lt-0000000000000a001"
	cases := []struct {
		choice string
		want   [4][]lifecycle.Consumer // v1 (the group's version), v2 (default), v3 (latest), v4 (launch configuration)
	}{
		{LTVersionsAll, [4][]lifecycle.Consumer{{lt(tmpl), asg("web-asg")}, {lt(tmpl)}, {lt(tmpl)}, {lc, asg("legacy")}}},
		{LTVersionsDefaultAndLatest, [4][]lifecycle.Consumer{{asg("web-asg")}, {ltv(tmpl, "2")}, {ltv(tmpl, "3")}, {lc, asg("legacy")}}},
		{LTVersionsDefault, [4][]lifecycle.Consumer{{asg("web-asg")}, {ltv(tmpl, "2")}, nil, {lc, asg("legacy")}}},
		{LTVersionsASGUsed, [4][]lifecycle.Consumer{{asg("web-asg"), ltv(tmpl, "1")}, nil, nil, {lc, asg("legacy")}}},
	}
	for _, c := range cases {
		t.Run(c.choice, func(t *testing.T) {
			f := newFixture(t, Options{LaunchTemplateVersions: c.choice})
			var imgs []lifecycle.Image
			for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
				imgs = append(imgs, f.build("web", v, "us-east-1")["us-east-1"])
			}
			f.s.Update(func(st *ec2emu.State) {
				r := st.Region("us-east-1")
				r.LaunchTemplates[tmpl] = &ec2emu.LaunchTemplate{ID: tmpl, Name: "web", OwnerID: account, CreateTime: f.at, DefaultVersion: 2, LatestVersion: 3,
					Versions: []*ec2emu.TemplateVersion{{Number: 1, ImageID: imgs[0].ID}, {Number: 2, ImageID: imgs[1].ID}, {Number: 3, ImageID: imgs[2].ID}}}
				r.LaunchConfigurations["web-lc"] = &ec2emu.LaunchConfiguration{Name: "web-lc", OwnerID: account, ImageID: imgs[3].ID, InstanceType: "t3.micro", CreatedTime: f.at}
				r.AutoScalingGroups["web-asg"] = &ec2emu.AutoScalingGroup{Name: "web-asg", OwnerID: account, LaunchTemplate: &ec2emu.TemplateRef{ID: tmpl, Version: "1"}, CreatedTime: f.at}
				r.AutoScalingGroups["legacy"] = &ec2emu.AutoScalingGroup{Name: "legacy", OwnerID: account, LaunchConfigurationName: "web-lc", CreatedTime: f.at}
			})
			u := f.be.Usage(f.ctx, imgs)
			for i, img := range imgs {
				require.ElementsMatch(t, c.want[i], u[img.Ref()], "%s", img.Version)
			}
		})
	}
}

// TestUsageFailsClosedPerLookup: a failed Auto Scaling lookup keeps every
// image of the region, saying why.
func TestUsageFailsClosedPerLookup(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	f.s.Deny("*", "DescribeAutoScalingGroups")
	u := f.be.Usage(f.ctx, []lifecycle.Image{img})
	require.Len(t, u[img.Ref()], 1)
	require.Equal(t, lifecycle.ConsumerUnknown, u[img.Ref()][0].Kind)
	require.Contains(t, u[img.Ref()][0].ID, "DescribeAutoScalingGroups")
}
