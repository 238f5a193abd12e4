package ec2emu

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stretchr/testify/require"
)

// Contract tests for the places where the emulator used to be kinder than EC2 (issue 17).

func TestLastLaunchedTimeIsReportedLate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	c := e.owner()
	run := func() {
		_, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &id, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
		require.NoError(t, err)
	}
	attr := func() string {
		out, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: &id, Attribute: types.ImageAttributeNameLastLaunchedTime})
		require.NoError(t, err)
		return aws.ToString(out.LastLaunchedTime.Value)
	}
	run()
	// EC2 user guide, "Check when an Amazon EC2 AMI was last used": "lastLaunchedTime
	// data is updated within 24 hours": a fresh launch is not visible yet.
	require.Nil(t, e.describeOne(c, id).LastLaunchedTime)
	require.Empty(t, attr())
	e.clock.Advance(DefaultLaunchReportDelay - time.Second)
	require.Nil(t, e.describeOne(c, id).LastLaunchedTime)
	e.clock.Advance(time.Second)
	require.Equal(t, "2026-01-15T12:00:00.000Z", aws.ToString(e.describeOne(c, id).LastLaunchedTime))
	require.Equal(t, "2026-01-15T12:00:00.000Z", attr())

	run() // a second launch shows only after its own delay
	e.clock.Advance(time.Hour)
	require.Equal(t, "2026-01-15T12:00:00.000Z", attr())
	e.clock.Advance(DefaultLaunchReportDelay)
	require.Equal(t, "2026-01-16T12:00:00.000Z", attr())
}

func TestLaunchReportDelayIsConfigurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, WithLaunchReportDelay(0))
	id, _ := e.oneImage()
	_, err := e.owner().RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &id, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	require.NoError(t, err)
	require.Equal(t, "2026-01-15T12:00:00.000Z", aws.ToString(e.describeOne(e.owner(), id).LastLaunchedTime))
}

func TestDeregisteredImageLingers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, WithDeregisteredVisibility(10*time.Minute))
	res := e.s.Build(Fixture{Families: 1, Versions: 2, Instances: 1})
	id := res.Images["us-east-1"][1] // the fixture's instance runs the newest version
	c := e.owner()
	_, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	require.NoError(t, err)

	// DescribeImages API reference: "Recently deregistered images appear in the
	// returned results for a short interval", with state deregistered (ImageState).
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	require.NoError(t, err)
	require.Len(t, out.Images, 1)
	require.Equal(t, types.ImageStateDeregistered, out.Images[0].State)
	list, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{{Name: aws.String("state"), Values: []string{"deregistered"}}}})
	require.NoError(t, err)
	require.Len(t, list.Images, 1, "listings show it too")
	require.Equal(t, id, *list.Images[0].ImageId)
	// A second deregistration: the id is known but no longer available.
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	requireCode(t, err, "InvalidAMIID.Unavailable", 400)

	// After the window: "... and then return empty results" while an instance still
	// uses it; "After all instances that reference a deregistered AMI are terminated,
	// specifying the ID of the image will eventually return an error".
	e.clock.Advance(10 * time.Minute)
	out, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	require.NoError(t, err)
	require.Empty(t, out.Images)
	list, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Len(t, list.Images, 1, "gone from listings")
	_, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: res.Instances["us-east-1"]})
	require.NoError(t, err)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
}

func tagsOf(img types.Image) map[string]string {
	m := map[string]string{}
	for _, tg := range img.Tags {
		m[*tg.Key] = *tg.Value
	}
	return m
}

func TestTagsBelongToTheWritingAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 1, Tags: map[string]string{"Team": "core"}})
	id := res.Images["us-east-1"][0]
	owner, sharee := e.owner(), e.other()
	_, err := owner.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &id,
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(otherAccount)}}}})
	require.NoError(t, err)
	byTag := func(c *ec2.Client, k, v string) int {
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("tag:" + k), Values: []string{v}}}})
		require.NoError(t, err)
		return len(out.Images)
	}
	// EC2 user guide, "Tag your Amazon EC2 resources": "You can tag public or shared
	// resources, but the tags you assign are available only to your AWS account and
	// not to the other accounts sharing the resource."
	require.Empty(t, tagsOf(e.describeOne(sharee, id)), "the sharee does not see the owner's tags")
	require.Equal(t, 0, byTag(sharee, "Team", "core"))
	_, err = sharee.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("Env"), Value: aws.String("prod")}}})
	require.NoError(t, err, "a sharee may tag a shared AMI")
	require.Equal(t, map[string]string{"Env": "prod"}, tagsOf(e.describeOne(sharee, id)))
	require.Equal(t, 1, byTag(sharee, "Env", "prod"))
	require.Equal(t, map[string]string{"Family": "app-00", "Version": "0", "Team": "core"}, tagsOf(e.describeOne(owner, id)))
	require.Equal(t, 0, byTag(owner, "Env", "prod"))
	tags, err := sharee.DescribeTags(ctx, &ec2.DescribeTagsInput{})
	require.NoError(t, err)
	require.Len(t, tags.Tags, 1)
	require.Equal(t, "Env", *tags.Tags[0].Key)
	_, err = sharee.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}})
	require.NoError(t, err)
	require.Empty(t, tagsOf(e.describeOne(sharee, id)))
	require.Len(t, tagsOf(e.describeOne(owner, id)), 3, "the sharee's DeleteTags leaves the owner's tags")
}

func TestExecutableUsersSelfMeansExplicitlyShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 2, Shared: 1, Public: 1})
	out, err := e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{"self"}})
	require.NoError(t, err)
	// DescribeImages API reference, ExecutableUsers: "If you specify self or your own
	// Amazon Web Services account ID, AMIs shared with your account are returned": not
	// the caller's own AMIs, not public ones.
	require.Len(t, out.Images, 1)
	require.Equal(t, res.Shared["us-east-1"][0], *out.Images[0].ImageId)
	out, err = e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{DefaultAccount}})
	require.NoError(t, err)
	require.Len(t, out.Images, 1, "the caller's own id means self")
}

func TestPublicImageDeprecation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	c := e.owner()
	created, err := time.Parse(time.RFC3339, *e.describeOne(c, id).CreationDate)
	require.NoError(t, err)
	limit := created.AddDate(2, 0, 0)
	public := func(add bool) {
		mods := &types.LaunchPermissionModifications{}
		perm := []types.LaunchPermission{{Group: types.PermissionGroupAll}}
		if add {
			mods.Add = perm
		} else {
			mods.Remove = perm
		}
		_, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &id, LaunchPermission: mods})
		require.NoError(t, err)
	}
	public(true)
	// EC2 user guide, "Deprecate an AMI": "By default, the deprecation date of all
	// public AMIs is set to two years from the AMI creation date."
	require.Equal(t, fmtTime(limit), aws.ToString(e.describeOne(c, id).DeprecationTime))
	// "To cancel the deprecation date, or move the deprecation to a later date, you must
	// make the AMI private by only sharing it with specific AWS accounts."
	_, err = c.DisableImageDeprecation(ctx, &ec2.DisableImageDeprecationInput{ImageId: &id})
	requireCode(t, err, "OperationNotPermitted", 400)
	_, err = c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: &id, DeprecateAt: aws.Time(limit.Add(time.Hour))})
	requireCode(t, err, "InvalidParameterValue", 400)
	_, err = c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: &id, DeprecateAt: aws.Time(t0.Add(time.Hour))})
	require.NoError(t, err, "an earlier date is allowed")
	public(true) // re-sharing keeps the earlier date
	require.Equal(t, "2026-01-15T13:00:00.000Z", aws.ToString(e.describeOne(c, id).DeprecationTime))
	public(false)
	_, err = c.DisableImageDeprecation(ctx, &ec2.DisableImageDeprecationInput{ImageId: &id})
	require.NoError(t, err)
	require.Nil(t, e.describeOne(c, id).DeprecationTime)
}

func TestBlockDeviceMappingAttributeIsAuthFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	_, err := e.owner().DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: &id, Attribute: types.ImageAttributeNameBlockDeviceMapping})
	// DescribeImageAttribute API reference: "The blockDeviceMapping attribute is
	// deprecated. Using this attribute returns the Client.AuthFailure error."
	requireCode(t, err, "AuthFailure", 400)
}

func TestDeprecateAtRoundsToNearestMinuteWithinCalendarYears(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	c := e.owner()
	deprecate := func(at time.Time) error {
		_, err := c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: &id, DeprecateAt: &at})
		return err
	}
	// EnableImageDeprecation API reference: "If you specify a value for seconds, Amazon
	// EC2 rounds the seconds to the nearest minute."
	require.NoError(t, deprecate(t0.Add(10*time.Minute+29*time.Second)))
	require.Equal(t, "2026-01-15T12:10:00.000Z", aws.ToString(e.describeOne(c, id).DeprecationTime))
	require.NoError(t, deprecate(t0.Add(10*time.Minute+30*time.Second)))
	require.Equal(t, "2026-01-15T12:11:00.000Z", aws.ToString(e.describeOne(c, id).DeprecationTime))
	// "The upper limit for DeprecateAt is 10 years from now": calendar years, so
	// 2036-01-15 12:00 (3652 days, two leap days) is allowed and a minute later is not.
	require.NoError(t, deprecate(t0.AddDate(10, 0, 0)))
	require.Equal(t, "2036-01-15T12:00:00.000Z", aws.ToString(e.describeOne(c, id).DeprecationTime))
	requireCode(t, deprecate(t0.AddDate(10, 0, 0).Add(time.Minute)), "InvalidParameterValue", 400)
}

func TestDescribeImagesOrderIsShuffled(t *testing.T) {
	t.Parallel()
	ids := func(seed int64, pageSize int32) []string {
		e := newEnv(t, WithSeed(seed))
		e.s.Build(Fixture{Families: 2, Versions: 10})
		p := ec2.NewDescribeImagesPaginator(e.owner(), &ec2.DescribeImagesInput{Owners: []string{"self"}, MaxResults: &pageSize})
		var out []string
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			require.NoError(t, err)
			for _, img := range page.Images {
				out = append(out, *img.ImageId)
			}
		}
		return out
	}
	one := ids(1, 1000)
	sorted := append([]string(nil), one...)
	sort.Strings(sorted)
	// DescribeImages API reference: "The order of the elements in the response,
	// including those within nested structures, might vary": neither by id nor by
	// creation date (the fixture creates ids in date order).
	require.NotEqual(t, sorted, one)
	require.Len(t, sorted, 20)
	require.Equal(t, one, ids(1, 5), "stable across pages for one seed")
	other := ids(2, 1000)
	require.NotEqual(t, one, other, "the seed changes the order")
	require.ElementsMatch(t, one, other)
}

// The awscli sees the same: --executable-users self, the deregistered state and the
// blockDeviceMapping AuthFailure, parsed by botocore.
func TestAWSCLIInfidelities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 2, Shared: 1, Public: 1})
	var out cliImages
	e.cliJSON(&out, "describe-images", "--executable-users", "self")
	require.Equal(t, res.Shared["us-east-1"], imageIDs(out.Images))
	id := res.Images["us-east-1"][0]
	e.cliJSON(nil, "deregister-image", "--image-id", id)
	e.cliJSON(&out, "describe-images", "--image-ids", id)
	require.Len(t, out.Images, 1)
	require.Equal(t, "deregistered", out.Images[0].State)
	e.cliError("InvalidAMIID.Unavailable", "deregister-image", "--image-id", id)
	r := e.cliError("AuthFailure", "describe-image-attribute", "--image-id", res.Images["us-east-1"][1], "--attribute", "blockDeviceMapping")
	require.True(t, strings.Contains(r.stderr, "DescribeImageAttribute"))
}
