package ec2emu

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stretchr/testify/require"
)

// TestAmazonEBSFlow replays amazon-ebs-options.calls.txt through the SDK.
func TestAmazonEBSFlow(t *testing.T) {
	e := newEnv(t)
	src, _ := e.oneImage()
	c := e.owner()
	run := []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("Run"), Value: aws.String("r1")}}}}

	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{src}, IncludeDeprecated: aws.Bool(false)})
	require.NoError(t, err)
	require.Equal(t, types.DeviceTypeEbs, out.Images[0].RootDeviceType)
	kp, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("packer_k"), KeyType: types.KeyTypeRsa})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(*kp.KeyMaterial, "-----BEGIN RSA PRIVATE KEY-----"))
	require.NotEmpty(t, *kp.KeyFingerprint)
	_, err = c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("packer_k")})
	requireCode(t, err, "InvalidKeyPair.Duplicate", 400)
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("packer_g"), Description: aws.String("Temporary group for Packer"), VpcId: aws.String("")})
	require.NoError(t, err)
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})
	require.NoError(t, err)
	require.Equal(t, "packer_g", *groups.SecurityGroups[0].GroupName)
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: []types.IpPermission{{
		FromPort: aws.Int32(0), ToPort: aws.Int32(0), IpProtocol: aws.String("tcp"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
	require.NoError(t, err)

	ri, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: &src, InstanceType: types.InstanceTypeT3Micro, KeyName: kp.KeyName, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SecurityGroupIds: []string{*sg.GroupId}, SubnetId: aws.String(""), UserData: aws.String(""),
		IamInstanceProfile: &types.IamInstanceProfileSpecification{Name: aws.String("")}, Placement: &types.Placement{AvailabilityZone: aws.String("")},
		EbsOptimized: aws.Bool(false), ClientToken: aws.String("tok"), TagSpecifications: run,
	})
	require.NoError(t, err)
	require.Len(t, ri.Instances, 1)
	inst := ri.Instances[0]
	require.Equal(t, types.InstanceStateNameRunning, inst.State.Name)
	require.Equal(t, "us-east-1a", *inst.Placement.AvailabilityZone)
	require.Equal(t, *sg.GroupId, *inst.SecurityGroups[0].GroupId)
	id := *inst.InstanceId
	require.NoError(t, ec2.NewInstanceRunningWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, time.Minute))
	di, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	got := di.Reservations[0].Instances[0]
	require.Equal(t, "/dev/xvda", *got.BlockDeviceMappings[0].DeviceName)
	vol := *got.BlockDeviceMappings[0].Ebs.VolumeId
	require.True(t, strings.HasPrefix(vol, "vol-"))
	require.Equal(t, "r1", *got.Tags[0].Value)

	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	require.NoError(t, ec2.NewInstanceStoppedWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, time.Minute))

	ci, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: &id, Name: aws.String("probe-ami-full"), TagSpecifications: []types.TagSpecification{
		{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("Run"), Value: aws.String("r1")}}},
		{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("Snap"), Value: aws.String("s1")}}}}})
	require.NoError(t, err)
	ami := *ci.ImageId
	require.NoError(t, ec2.NewImageAvailableWaiter(c).Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}, time.Minute))
	img := e.describeOne(c, ami)
	require.Equal(t, types.DeviceTypeEbs, img.RootDeviceType)
	require.Equal(t, id, *img.SourceInstanceId)
	snap := *img.BlockDeviceMappings[0].Ebs.SnapshotId
	snaps, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	require.NoError(t, err)
	require.Equal(t, "s1", *snaps.Snapshots[0].Tags[0].Value)
	_, err = c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: &id, Name: aws.String("probe-ami-full")})
	requireCode(t, err, "InvalidAMIName.Duplicate", 400)

	_, err = c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: &ami, DeprecateAt: aws.Time(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))})
	require.NoError(t, err)
	_, err = c.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: &ami, WithCooldown: aws.Bool(false)})
	require.NoError(t, err)
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{ami, snap}, Tags: []types.Tag{{Key: aws.String("App"), Value: aws.String("myapp")}}})
	require.NoError(t, err)
	// The options must round-trip through DescribeImages / DescribeSnapshots, not only succeed.
	img = e.describeOne(c, ami)
	require.Equal(t, "2030-01-01T00:00:00.000Z", aws.ToString(img.DeprecationTime))
	require.Equal(t, "enabled-without-cooldown", aws.ToString(img.DeregistrationProtection))
	tagMap := func(tags []types.Tag) map[string]string {
		m := map[string]string{}
		for _, tg := range tags {
			m[*tg.Key] = *tg.Value
		}
		return m
	}
	require.Equal(t, map[string]string{"Run": "r1", "App": "myapp"}, tagMap(img.Tags))
	snaps, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"Snap": "s1", "App": "myapp"}, tagMap(snaps.Snapshots[0].Tags))
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &ami})
	requireCode(t, err, "OperationNotPermitted", 400)

	ti, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	require.NoError(t, err)
	require.Equal(t, types.InstanceStateNameTerminated, ti.TerminatingInstances[0].CurrentState.Name)
	require.Equal(t, types.InstanceStateNameStopped, ti.TerminatingInstances[0].PreviousState.Name)
	require.NoError(t, ec2.NewInstanceTerminatedWaiter(c).Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, time.Minute))
	vols, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("volume-id"), Values: []string{vol}}}})
	require.NoError(t, err)
	require.Empty(t, vols.Volumes, "root volume deleted on termination")
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId})
	require.NoError(t, err)
	_, err = c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: kp.KeyName})
	require.NoError(t, err)
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{*sg.GroupId}})
	requireCode(t, err, "InvalidGroup.NotFound", 400)
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000fff0001"}})
	requireCode(t, err, "InvalidInstanceID.NotFound", 400)
}

func TestDescribeInstancesFilters(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 2, Versions: 2, Instances: 6})
	c := e.owner()
	fams := res.Families["us-east-1"]
	latest0 := fams["app-00"][1]
	count := func(fs ...types.Filter) int {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: fs})
		require.NoError(t, err)
		n := 0
		for _, r := range out.Reservations {
			n += len(r.Instances)
		}
		return n
	}
	f := func(n string, v ...string) types.Filter { return types.Filter{Name: aws.String(n), Values: v} }
	require.Equal(t, 3, count(f("image-id", latest0)))
	_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: res.Instances["us-east-1"][:1]})
	require.NoError(t, err)
	_, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: res.Instances["us-east-1"][1:2]})
	require.NoError(t, err)
	require.Equal(t, 4, count(f("instance-state-name", "running")))
	require.Equal(t, 5, count(f("instance-state-name", "running", "stopped")))
	require.Equal(t, 3, count(f("image-id", latest0), f("instance-state-name", "running", "stopped", "pending", "stopping", "shutting-down")))
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{}, func(o *ec2.DescribeInstancesPaginatorOptions) { o.Limit = 5 })
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		for _, r := range out.Reservations {
			n += len(r.Instances)
		}
	}
	require.Equal(t, 6, n)
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: res.Instances["us-east-1"][:1], MaxResults: aws.Int32(5)})
	requireCode(t, err, "InvalidParameterCombination", 400)
}

func TestLaunchTemplatesAndReferences(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 4, Instances: 1})
	ids := res.Images["us-east-1"]
	c := e.owner()
	lt, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("web"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: &ids[0], InstanceType: types.InstanceTypeT3Micro}})
	require.NoError(t, err)
	require.Equal(t, int64(1), *lt.LaunchTemplate.LatestVersionNumber)
	ltID := *lt.LaunchTemplate.LaunchTemplateId
	_, err = c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("web"), LaunchTemplateData: &types.RequestLaunchTemplateData{}})
	requireCode(t, err, "InvalidLaunchTemplateName.AlreadyExistsException", 400)
	v2, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: &ltID, SourceVersion: aws.String("1"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: &ids[1]}})
	require.NoError(t, err)
	require.Equal(t, int64(2), *v2.LaunchTemplateVersion.VersionNumber)
	require.Equal(t, ids[1], *v2.LaunchTemplateVersion.LaunchTemplateData.ImageId)
	require.Equal(t, types.InstanceTypeT3Micro, v2.LaunchTemplateVersion.LaunchTemplateData.InstanceType)

	lts, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"web"}})
	require.NoError(t, err)
	require.Equal(t, int64(2), *lts.LaunchTemplates[0].LatestVersionNumber)
	require.Equal(t, int64(1), *lts.LaunchTemplates[0].DefaultVersionNumber)
	vs, err := c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: &ltID})
	require.NoError(t, err)
	require.Len(t, vs.LaunchTemplateVersions, 2)
	require.Equal(t, ids[0], *vs.LaunchTemplateVersions[0].LaunchTemplateData.ImageId)
	require.True(t, *vs.LaunchTemplateVersions[0].DefaultVersion)
	vs, err = c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}})
	require.NoError(t, err)
	require.Len(t, vs.LaunchTemplateVersions, 1)
	_, err = c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{"lt-0000000000fff0001"}})
	requireCode(t, err, "InvalidLaunchTemplateId.NotFound", 400)
	_, err = c.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("nope")})
	requireCode(t, err, "InvalidLaunchTemplateName.NotFoundException", 400)

	refs, err := c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: ids, IncludeAllResourceTypes: aws.Bool(true)})
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range refs.ImageReferences {
		got[*r.ImageId+" "+string(r.ResourceType)] = *r.Arn
	}
	require.Equal(t, "arn:aws:ec2:us-east-1:123456789012:launch-template/"+ltID, got[ids[0]+" ec2:LaunchTemplate"])
	require.Contains(t, got[ids[1]+" ec2:LaunchTemplate"], ltID)
	require.Contains(t, got[ids[3]+" ec2:Instance"], res.Instances["us-east-1"][0])
	require.Len(t, refs.ImageReferences, 3)
	refs, err = c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: ids, ResourceTypes: []types.ResourceTypeRequest{{
		ResourceType:        types.ImageReferenceResourceTypeEc2LaunchTemplate,
		ResourceTypeOptions: []types.ResourceTypeOption{{OptionName: types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{"1"}}}}}})
	require.NoError(t, err)
	require.Len(t, refs.ImageReferences, 1, "depth 1: only the latest version")
	_, err = c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: ids})
	requireCode(t, err, "MissingParameter", 400)
	many := append(append(append([]string{}, ids...), ids...), ids...)
	_, err = c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: many, IncludeAllResourceTypes: aws.Bool(true)})
	requireCode(t, err, "InvalidParameterValue", 400)

	ri, err := c.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateId: &ltID, Version: aws.String("$Latest")}})
	require.NoError(t, err)
	require.Equal(t, ids[1], *ri.Instances[0].ImageId)
	e.clock.Advance(DefaultLaunchReportDelay)
	require.NotNil(t, e.describeOne(c, ids[1]).LastLaunchedTime)
}

func TestDescribeRegions(t *testing.T) {
	e := newEnv(t, WithRegions("us-east-1", "eu-west-1"))
	out, err := e.owner().DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	require.NoError(t, err)
	require.Len(t, out.Regions, 2)
	require.Equal(t, "eu-west-1", *out.Regions[1].RegionName)
	require.Equal(t, "ec2.eu-west-1.amazonaws.com", *out.Regions[1].Endpoint)
	require.Equal(t, "opt-in-not-required", *out.Regions[1].OptInStatus)
	_, err = e.owner().DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{"mars-1"}})
	requireCode(t, err, "InvalidParameterValue", 400)
}

func TestCopyImageAcrossRegionsWithPendingWaiter(t *testing.T) {
	e := newEnv(t, WithPendingLooks(2))
	id, _ := e.oneImage()
	c := e.owner()
	_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("K"), Value: aws.String("v")}}})
	require.NoError(t, err)
	eu := e.client("eu-west-1", ownerKey, 1)
	plain, err := eu.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: &id, SourceRegion: aws.String("us-east-1"), Name: aws.String("copy-a")})
	require.NoError(t, err)
	tagged, err := eu.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: &id, SourceRegion: aws.String("us-east-1"), Name: aws.String("copy-b"), CopyImageTags: aws.Bool(true)})
	require.NoError(t, err)
	require.Equal(t, types.ImageStatePending, e.describeOne(eu, *plain.ImageId).State)
	w := ec2.NewImageAvailableWaiter(eu, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 2*time.Millisecond
	})
	require.NoError(t, w.Wait(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*plain.ImageId}}, time.Minute))
	a, b := e.describeOne(eu, *plain.ImageId), e.describeOne(eu, *tagged.ImageId)
	require.Empty(t, a.Tags, "tags are not copied by default")
	require.Len(t, b.Tags, 3)
	require.Equal(t, id, *a.SourceImageId)
	require.Equal(t, "us-east-1", *a.SourceImageRegion)
	require.NotEqual(t, "", *a.BlockDeviceMappings[0].Ebs.SnapshotId)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{*plain.ImageId}})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
	_, err = eu.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0000000000fff0001"), SourceRegion: aws.String("us-east-1"), Name: aws.String("copy-c")})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
}
