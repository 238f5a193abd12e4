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

func (e *env) oneImage() (string, string) {
	res := e.s.Build(Fixture{Families: 1, Versions: 1})
	id := res.Images["us-east-1"][0]
	out, err := e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	require.NoError(e.t, err)
	return id, *out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId
}

func TestDeprecationRoundingBoundsAndVisibility(t *testing.T) {
	e := newEnv(t)
	id, _ := e.oneImage()
	c := e.owner()
	_, err := c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: &id, DeprecateAt: aws.Time(t0.Add(11 * 365 * 24 * time.Hour))})
	requireCode(t, err, "InvalidParameterValue", 400)
	_, err = c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: &id, DeprecateAt: aws.Time(t0.Add(-time.Hour))})
	requireCode(t, err, "InvalidParameterValue", 400)
	out, err := c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: &id, DeprecateAt: aws.Time(t0.Add(10*time.Minute + 5*time.Second))})
	require.NoError(t, err)
	require.True(t, *out.Return)
	img := e.describeOne(c, id)
	// EnableImageDeprecation API reference: "rounds the seconds to the nearest minute".
	require.Equal(t, "2026-01-15T12:10:00.000Z", *img.DeprecationTime, "rounded to the nearest minute")

	_, err = e.other().EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: &id, DeprecateAt: aws.Time(t0.Add(time.Hour))})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &id, LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}})
	require.NoError(t, err)
	other := e.other()
	visible := func(c *ec2.Client, in *ec2.DescribeImagesInput) int {
		o, err := c.DescribeImages(ctx, in)
		require.NoError(t, err)
		return len(o.Images)
	}
	require.Equal(t, 1, visible(other, &ec2.DescribeImagesInput{Owners: []string{DefaultAccount}}), "not yet deprecated")
	e.clock.Advance(11 * time.Minute)
	require.Equal(t, 0, visible(other, &ec2.DescribeImagesInput{Owners: []string{DefaultAccount}}), "deprecated: hidden from others")
	require.Equal(t, 1, visible(other, &ec2.DescribeImagesInput{Owners: []string{DefaultAccount}, IncludeDeprecated: aws.Bool(true)}))
	require.Equal(t, 1, visible(other, &ec2.DescribeImagesInput{ImageIds: []string{id}}), "named ids are always shown")
	require.Equal(t, 1, visible(c, &ec2.DescribeImagesInput{Owners: []string{"self"}}), "owners see their deprecated images")
	// A public image's deprecation can be cancelled only once it is private (EC2 user
	// guide, "Deprecate an AMI"): share it with the other account instead.
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &id, LaunchPermission: &types.LaunchPermissionModifications{
		Remove: []types.LaunchPermission{{Group: types.PermissionGroupAll}}, Add: []types.LaunchPermission{{UserId: aws.String(otherAccount)}}}})
	require.NoError(t, err)
	_, err = c.DisableImageDeprecation(ctx, &ec2.DisableImageDeprecationInput{ImageId: &id})
	require.NoError(t, err)
	require.Nil(t, e.describeOne(c, id).DeprecationTime)
	require.Equal(t, 1, visible(other, &ec2.DescribeImagesInput{Owners: []string{DefaultAccount}}))
}

func (e *env) describeOne(c *ec2.Client, id string) types.Image {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}, IncludeDisabled: aws.Bool(true)})
	require.NoError(e.t, err)
	require.Len(e.t, out.Images, 1)
	return out.Images[0]
}

func TestDisableImage(t *testing.T) {
	e := newEnv(t)
	id, snap := e.oneImage()
	c := e.owner()
	_, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &id, LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}})
	require.NoError(t, err)
	out, err := c.DisableImage(ctx, &ec2.DisableImageInput{ImageId: &id})
	require.NoError(t, err)
	require.True(t, *out.Return)
	list, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Empty(t, list.Images, "disabled images need IncludeDisabled, owners included")
	img := e.describeOne(c, id)
	require.Equal(t, types.ImageStateDisabled, img.State)
	require.False(t, *img.Public, "disabling makes the image private")
	_, err = e.other().DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &snap})
	requireCode(t, err, "InvalidSnapshot.InUse", 400)
	_, err = c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &id, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	requireCode(t, err, "InvalidAMIID.Unavailable", 400)
	en, err := c.EnableImage(ctx, &ec2.EnableImageInput{ImageId: &id})
	require.NoError(t, err)
	require.True(t, *en.Return)
	require.Equal(t, types.ImageStateAvailable, e.describeOne(c, id).State)
}

func TestDeregistrationProtection(t *testing.T) {
	e := newEnv(t)
	id, _ := e.oneImage()
	c := e.owner()
	en, err := c.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: &id})
	require.NoError(t, err)
	require.Equal(t, "enabled-without-cooldown", *en.Return)
	require.Equal(t, "enabled-without-cooldown", *e.describeOne(c, id).DeregistrationProtection)
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	requireCode(t, err, "OperationNotPermitted", 400)
	dis, err := c.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: &id})
	require.NoError(t, err)
	require.Equal(t, "disabled", *dis.Return)

	en, err = c.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: &id, WithCooldown: aws.Bool(true)})
	require.NoError(t, err)
	require.Equal(t, "enabled-with-cooldown", *en.Return)
	dis, err = c.DisableImageDeregistrationProtection(ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: &id})
	require.NoError(t, err)
	require.Equal(t, "disabled-until 2026-01-16T12:00:00Z", *dis.Return)
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	requireCode(t, err, "OperationNotPermitted", 400)
	e.clock.Advance(24*time.Hour + time.Second)
	require.Equal(t, "disabled", *e.describeOne(c, id).DeregistrationProtection)
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	require.NoError(t, err)
}

func TestDeregisterWithAssociatedSnapshots(t *testing.T) {
	e := newEnv(t)
	id, snap := e.oneImage()
	var sharer string
	e.s.Update(func(st *State) {
		r := st.Region("us-east-1")
		cp := *r.Images[id]
		cp.ID, cp.Name = st.NewID("ami"), "sharer"
		r.Images[cp.ID] = &cp
		sharer = cp.ID
	})
	c := e.owner()
	out, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id, DeleteAssociatedSnapshots: aws.Bool(true)})
	require.NoError(t, err)
	require.True(t, *out.Return)
	require.Len(t, out.DeleteSnapshotResults, 1)
	require.Equal(t, snap, *out.DeleteSnapshotResults[0].SnapshotId)
	require.Equal(t, types.SnapshotReturnCodesWarnSkipped, out.DeleteSnapshotResults[0].ReturnCode)
	e.clock.Advance(DefaultDeregisteredVisibility)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
	list, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Len(t, list.Images, 1, "deregistered images disappear after the visibility window")

	out, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &sharer, DeleteAssociatedSnapshots: aws.Bool(true)})
	require.NoError(t, err)
	require.Equal(t, types.SnapshotReturnCodesSuccess, out.DeleteSnapshotResults[0].ReturnCode)
	_, err = c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	requireCode(t, err, "InvalidSnapshot.NotFound", 400)
}

func TestSnapshots(t *testing.T) {
	e := newEnv(t)
	id, snap := e.oneImage()
	c := e.owner()
	out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	require.NoError(t, err)
	require.Len(t, out.Snapshots, 1)
	s := out.Snapshots[0]
	require.Equal(t, snap, *s.SnapshotId)
	require.Equal(t, types.SnapshotStateCompleted, s.State)
	require.Equal(t, DefaultAccount, *s.OwnerId)
	require.Equal(t, int32(8), *s.VolumeSize)
	require.NotNil(t, s.StartTime)
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &snap})
	requireCode(t, err, "InvalidSnapshot.InUse", 400)
	require.Contains(t, err.Error(), id)
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	require.NoError(t, err)
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &snap})
	require.NoError(t, err)
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: &snap})
	requireCode(t, err, "InvalidSnapshot.NotFound", 400)
	w := ec2.NewSnapshotCompletedWaiter(c)
	e.oneImage()
	all, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{})
	require.NoError(t, err)
	require.NoError(t, w.Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{*all.Snapshots[0].SnapshotId}}, time.Minute))
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	id, snap := e.oneImage()
	c := e.owner()
	_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id, snap}, Tags: []types.Tag{{Key: aws.String("App"), Value: aws.String("x")}, {Key: aws.String("Empty"), Value: aws.String("")}}})
	require.NoError(t, err)
	out, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("key"), Values: []string{"App"}}}})
	require.NoError(t, err)
	require.Len(t, out.Tags, 2)
	require.Equal(t, id, *out.Tags[0].ResourceId)
	require.Equal(t, types.ResourceTypeImage, out.Tags[0].ResourceType)
	require.Equal(t, "x", *out.Tags[0].Value)
	require.Equal(t, types.ResourceTypeSnapshot, out.Tags[1].ResourceType)
	out, err = c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{snap}}}})
	require.NoError(t, err)
	require.Len(t, out.Tags, 2)

	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("App"), Value: aws.String("other")}}})
	require.NoError(t, err)
	require.Len(t, e.describeOne(c, id).Tags, 4, "value mismatch keeps the tag")
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("App")}}})
	require.NoError(t, err)
	require.Len(t, e.describeOne(c, id).Tags, 3)

	bad := []struct {
		tags []types.Tag
		code string
	}{
		{[]types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("v")}}, "InvalidParameterValue"},
		{[]types.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}}, "InvalidParameterValue"},
		{[]types.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}, "InvalidParameterValue"},
	}
	for _, b := range bad {
		_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: b.tags})
		requireCode(t, err, b.code, 400)
	}
	var many []types.Tag
	for i := 0; i < 48; i++ {
		many = append(many, types.Tag{Key: aws.String("k" + strings.Repeat("x", i)), Value: aws.String("v")})
	}
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: many})
	requireCode(t, err, "TagLimitExceeded", 400)
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: many[:47]})
	require.NoError(t, err)
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"ami-0000000000fff0001"}, Tags: many[:1]})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"snap-0000000000fff0001"}, Tags: many[:1]})
	requireCode(t, err, "InvalidSnapshot.NotFound", 400)
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("aws:x")}}})
	requireCode(t, err, "InvalidParameterValue", 400)
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}})
	require.NoError(t, err)
	require.Empty(t, e.describeOne(c, id).Tags)
}
