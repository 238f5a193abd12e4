package ec2emu

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stretchr/testify/require"
)

// launch runs one instance of image as the owner and returns it.
func (e *env) launch(c *ec2.Client, image string) types.Instance {
	out, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: &image, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	require.NoError(e.t, err)
	return out.Instances[0]
}

func TestCreateSnapshotAndRegisterImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	c := e.owner()
	vol := *e.launch(c, id).BlockDeviceMappings[0].Ebs.VolumeId
	snap, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: &vol, Description: aws.String("root"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}})
	require.NoError(t, err)
	require.Equal(t, vol, *snap.VolumeId)
	require.Equal(t, types.SnapshotStateCompleted, snap.State)
	require.Equal(t, int32(8), *snap.VolumeSize)
	require.Equal(t, DefaultAccount, *snap.OwnerId)
	require.Equal(t, "v", *snap.Tags[0].Value)
	_, err = c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String("vol-0123456789abcdef0")})
	requireCode(t, err, "InvalidVolume.NotFound", 400)

	reg := func(name, root, snapID string) (*ec2.RegisterImageOutput, error) {
		return c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: &name, RootDeviceName: &root,
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: &snapID}}}})
	}
	out, err := reg("registered", "/dev/xvda", *snap.SnapshotId)
	require.NoError(t, err)
	img := e.describeOne(c, *out.ImageId)
	require.Equal(t, types.ImageStateAvailable, img.State)
	require.Equal(t, *snap.SnapshotId, *img.BlockDeviceMappings[0].Ebs.SnapshotId)
	require.Equal(t, int32(8), *img.BlockDeviceMappings[0].Ebs.VolumeSize)
	// RegisterImage API reference, VirtualizationType: "Default: paravirtual".
	require.Equal(t, types.VirtualizationTypeParavirtual, img.VirtualizationType)
	require.Nil(t, img.SourceImageId, "registered from snapshots: no source AMI")
	_, err = reg("registered", "/dev/xvda", *snap.SnapshotId)
	requireCode(t, err, "InvalidAMIName.Duplicate", 400)
	_, err = reg("other", "/dev/xvda", "snap-0123456789abcdef0")
	requireCode(t, err, "InvalidSnapshot.NotFound", 400)
	_, err = reg("other", "/dev/sda1", *snap.SnapshotId)
	requireCode(t, err, "InvalidParameterValue", 400)
	_, err = c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: snap.SnapshotId})
	requireCode(t, err, "InvalidSnapshot.InUse", 400)
}

func TestSnapshotSharing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, snap := e.oneImage()
	owner, other := e.owner(), e.other()
	perms := func() []types.CreateVolumePermission {
		out, err := owner.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: &snap, Attribute: types.SnapshotAttributeNameCreateVolumePermission})
		require.NoError(t, err)
		require.Equal(t, snap, *out.SnapshotId)
		return out.CreateVolumePermissions
	}
	visible := func() int {
		out, err := other.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{})
		require.NoError(t, err)
		return len(out.Snapshots)
	}
	require.Empty(t, perms())
	require.Equal(t, 0, visible())
	_, err := owner.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: &snap,
		CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: []types.CreateVolumePermission{{UserId: aws.String(otherAccount)}}}})
	require.NoError(t, err)
	require.Equal(t, otherAccount, *perms()[0].UserId)
	require.Equal(t, 1, visible(), "shared snapshots are listed to the sharee")
	_, err = other.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: &snap, Attribute: types.SnapshotAttributeNameCreateVolumePermission})
	requireCode(t, err, "InvalidSnapshot.NotFound", 400)
	_, err = other.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{snap}, Tags: []types.Tag{{Key: aws.String("mine"), Value: aws.String("1")}}})
	require.NoError(t, err, "a sharee may tag a shared snapshot, for itself")
	_, err = owner.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: &snap, Attribute: types.SnapshotAttributeNameCreateVolumePermission,
		OperationType: types.OperationTypeRemove, UserIds: []string{otherAccount}})
	require.NoError(t, err)
	require.Equal(t, 0, visible())
	_, err = owner.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: &snap,
		CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: []types.CreateVolumePermission{{Group: types.PermissionGroupAll}}}})
	require.NoError(t, err)
	require.Equal(t, types.PermissionGroupAll, perms()[0].Group)
}

func TestCancelAndResetLaunchPermission(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	owner, other := e.owner(), e.other()
	_, err := owner.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &id, LaunchPermission: &types.LaunchPermissionModifications{
		Add: []types.LaunchPermission{{UserId: aws.String(otherAccount)}, {Group: types.PermissionGroupAll}}}})
	require.NoError(t, err)
	perms := func() []types.LaunchPermission {
		out, err := owner.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: &id, Attribute: types.ImageAttributeNameLaunchPermission})
		require.NoError(t, err)
		return out.LaunchPermissions
	}
	require.Len(t, perms(), 2)
	// CancelImageLaunchPermission API reference: "Removes your Amazon Web Services
	// account from the launch permissions for the specified AMI."
	out, err := other.CancelImageLaunchPermission(ctx, &ec2.CancelImageLaunchPermissionInput{ImageId: &id})
	require.NoError(t, err)
	require.True(t, *out.Return)
	require.Equal(t, []types.LaunchPermission{{Group: types.PermissionGroupAll}}, perms())
	_, err = other.CancelImageLaunchPermission(ctx, &ec2.CancelImageLaunchPermissionInput{ImageId: &id})
	requireCode(t, err, "InvalidParameterValue", 400)
	// ResetImageAttribute API reference: "you can only reset the launch permission
	// attribute": the image becomes private.
	_, err = owner.ResetImageAttribute(ctx, &ec2.ResetImageAttributeInput{ImageId: &id, Attribute: types.ResetImageAttributeNameLaunchPermission})
	require.NoError(t, err)
	require.Empty(t, perms())
	require.False(t, *e.describeOne(owner, id).Public)
	_, err = other.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
}

func TestDescribeInstanceImageMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	c := e.owner()
	running, gone := e.launch(c, id), e.launch(c, id)
	_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{*gone.InstanceId}})
	require.NoError(t, err)
	_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	require.NoError(t, err)
	e.clock.Advance(2 * DefaultDeregisteredVisibility)
	// DescribeInstanceImageMetadata API reference: "Describes the AMI that was used to
	// launch an instance, even if the AMI is deprecated, deregistered, made private".
	out, err := c.DescribeInstanceImageMetadata(ctx, &ec2.DescribeInstanceImageMetadataInput{
		Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"running"}}}})
	require.NoError(t, err)
	require.Len(t, out.InstanceImageMetadata, 1)
	m := out.InstanceImageMetadata[0]
	require.Equal(t, *running.InstanceId, *m.InstanceId)
	require.Equal(t, types.InstanceStateNameRunning, m.State.Name)
	require.Equal(t, DefaultAccount, *m.OwnerId)
	require.Equal(t, id, *m.ImageMetadata.ImageId)
	require.Equal(t, types.ImageStateDeregistered, m.ImageMetadata.State)
	require.Equal(t, "app-00-v0000", *m.ImageMetadata.Name)
	all, err := c.DescribeInstanceImageMetadata(ctx, &ec2.DescribeInstanceImageMetadataInput{})
	require.NoError(t, err)
	require.Len(t, all.InstanceImageMetadata, 2)
	_, err = e.other().DescribeInstanceImageMetadata(ctx, &ec2.DescribeInstanceImageMetadataInput{InstanceIds: []string{*running.InstanceId}})
	requireCode(t, err, "InvalidInstanceID.NotFound", 400)
}

func TestImageAncestryAcrossCreateAndCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root, _ := e.oneImage()
	east, west := e.owner(), e.client("us-west-2", ownerKey, 1)
	inst := e.launch(east, root)
	built, err := east.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: inst.InstanceId, Name: aws.String("built")})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	copied, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: built.ImageId, SourceRegion: aws.String("us-east-1"), Name: aws.String("copied")})
	require.NoError(t, err)
	// DescribeImages API reference: SourceImageId / SourceImageRegion are "the ID / the
	// Region of the source AMI" an AMI was created or copied from.
	b := e.describeOne(east, *built.ImageId)
	require.Equal(t, root, *b.SourceImageId)
	require.Equal(t, "us-east-1", *b.SourceImageRegion)
	cp := e.describeOne(west, *copied.ImageId)
	require.Equal(t, *built.ImageId, *cp.SourceImageId)
	require.Equal(t, "us-east-1", *cp.SourceImageRegion)

	// GetImageAncestry API reference: the chain from the AMI back to its root.
	out, err := west.GetImageAncestry(ctx, &ec2.GetImageAncestryInput{ImageId: copied.ImageId})
	require.NoError(t, err)
	var chain []string
	for _, a := range out.ImageAncestryEntries {
		chain = append(chain, *a.ImageId+"<"+aws.ToString(a.SourceImageId)+"@"+aws.ToString(a.SourceImageRegion))
	}
	require.Equal(t, []string{*copied.ImageId + "<" + *built.ImageId + "@us-east-1", *built.ImageId + "<" + root + "@us-east-1", root + "<@"}, chain)
	require.Equal(t, t0.Add(time.Hour), *out.ImageAncestryEntries[0].CreationDate)
	_, err = west.GetImageAncestry(ctx, &ec2.GetImageAncestryInput{ImageId: aws.String("ami-0123456789abcdef0")})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
}

// botocore parses the new operations' shapes too.
func TestAWSCLIImageOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root, snap := e.oneImage()
	inst := e.launch(e.owner(), root)
	built, err := e.owner().CreateImage(ctx, &ec2.CreateImageInput{InstanceId: inst.InstanceId, Name: aws.String("built")})
	require.NoError(t, err)
	var anc struct {
		ImageAncestryEntries []struct{ ImageId, SourceImageId, SourceImageRegion, CreationDate string }
	}
	e.cliJSON(&anc, "get-image-ancestry", "--image-id", *built.ImageId)
	require.Len(t, anc.ImageAncestryEntries, 2)
	require.Equal(t, root, anc.ImageAncestryEntries[0].SourceImageId)
	require.Equal(t, "us-east-1", anc.ImageAncestryEntries[0].SourceImageRegion)
	require.Equal(t, root, anc.ImageAncestryEntries[1].ImageId)
	var meta struct {
		InstanceImageMetadata []struct {
			InstanceId    string
			ImageMetadata struct{ ImageId, Name, State string }
		}
	}
	e.cliJSON(&meta, "describe-instance-image-metadata", "--instance-ids", *inst.InstanceId)
	require.Len(t, meta.InstanceImageMetadata, 1)
	require.Equal(t, root, meta.InstanceImageMetadata[0].ImageMetadata.ImageId)
	require.Equal(t, "available", meta.InstanceImageMetadata[0].ImageMetadata.State)
	e.cliJSON(nil, "modify-snapshot-attribute", "--snapshot-id", snap, "--attribute", "createVolumePermission", "--operation-type", "add", "--user-ids", otherAccount)
	var attr struct {
		SnapshotId              string
		CreateVolumePermissions []struct{ UserId string }
	}
	e.cliJSON(&attr, "describe-snapshot-attribute", "--snapshot-id", snap, "--attribute", "createVolumePermission")
	require.Equal(t, snap, attr.SnapshotId)
	require.Equal(t, otherAccount, attr.CreateVolumePermissions[0].UserId)
}
