package ec2emu

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/rbin"
	rbintypes "github.com/aws/aws-sdk-go-v2/service/rbin/types"

	"github.com/stretchr/testify/require"
)

func (e *env) rbin() *rbin.Client {
	return rbin.NewFromConfig(e.cfg(ownerKey), func(o *rbin.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func (e *env) rule(typ rbintypes.ResourceType, days int32, tags ...rbintypes.ResourceTag) string {
	out, err := e.rbin().CreateRule(ctx, &rbin.CreateRuleInput{ResourceType: typ, ResourceTags: tags,
		RetentionPeriod: &rbintypes.RetentionPeriod{RetentionPeriodValue: &days, RetentionPeriodUnit: rbintypes.RetentionPeriodUnitDays}})
	require.NoError(e.t, err)
	require.Equal(e.t, typ, out.ResourceType)
	return *out.Identifier
}

func TestRecycleBin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 3})
	a, b, untagged := res.Images["us-east-1"][0], res.Images["us-east-1"][1], res.Images["us-east-1"][2]
	c := e.owner()
	// A tag-level rule keeps images tagged Version 0 or 1 for 7 days; snapshots go to the
	// bin for 1 day under a Region-level rule.
	imageRule := e.rule(rbintypes.ResourceTypeEc2Image, 7, rbintypes.ResourceTag{ResourceTagKey: aws.String("Version"), ResourceTagValue: aws.String("0")},
		rbintypes.ResourceTag{ResourceTagKey: aws.String("Version"), ResourceTagValue: aws.String("1")})
	e.rule(rbintypes.ResourceTypeEbsSnapshot, 1)
	rules, err := e.rbin().ListRules(ctx, &rbin.ListRulesInput{ResourceType: rbintypes.ResourceTypeEc2Image})
	require.NoError(t, err)
	require.Len(t, rules.Rules, 1)
	require.Equal(t, imageRule, *rules.Rules[0].Identifier)
	require.Equal(t, int32(7), *rules.Rules[0].RetentionPeriod.RetentionPeriodValue)
	e.rule(rbintypes.ResourceTypeEbsSnapshot, 1, rbintypes.ResourceTag{ResourceTagKey: aws.String("Unused")})
	var ids []string
	for p := rbin.NewListRulesPaginator(e.rbin(), &rbin.ListRulesInput{ResourceType: rbintypes.ResourceTypeEbsSnapshot, MaxResults: aws.Int32(1)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		require.Len(t, page.Rules, 1, "ListRules API reference: MaxResults 1-100")
		ids = append(ids, *page.Rules[0].Identifier)
	}
	require.Len(t, ids, 2)
	_, err = e.rbin().GetRule(ctx, &rbin.GetRuleInput{Identifier: aws.String("nope")})
	requireCode(t, err, "ResourceNotFoundException", 404)

	deregister := func(id string) {
		_, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id, DeleteAssociatedSnapshots: aws.Bool(true)})
		require.NoError(t, err)
	}
	binImages := func() []string {
		out, err := c.ListImagesInRecycleBin(ctx, &ec2.ListImagesInRecycleBinInput{})
		require.NoError(t, err)
		var ids []string
		for _, i := range out.Images {
			ids = append(ids, *i.ImageId)
		}
		return ids
	}
	deregister(a)
	deregister(untagged)
	// EC2 user guide, Recycle Bin: a deregistered AMI that matches a retention rule is
	// kept for the rule's retention period; one that matches none is not.
	require.Equal(t, []string{a}, binImages())
	out, err := c.ListImagesInRecycleBin(ctx, &ec2.ListImagesInRecycleBinInput{ImageIds: []string{a}})
	require.NoError(t, err)
	require.Equal(t, t0, *out.Images[0].RecycleBinEnterTime)
	require.Equal(t, t0.Add(7*24*time.Hour), *out.Images[0].RecycleBinExitTime)
	snaps, err := c.ListSnapshotsInRecycleBin(ctx, &ec2.ListSnapshotsInRecycleBinInput{})
	require.NoError(t, err)
	require.Len(t, snaps.Snapshots, 2, "both images' snapshots are retained by the Region-level rule")
	snapA := *e.describeSnapshotOf(snaps, a)

	// The AMI's snapshot must be back before the AMI.
	_, err = c.RestoreImageFromRecycleBin(ctx, &ec2.RestoreImageFromRecycleBinInput{ImageId: &a})
	requireCode(t, err, "IncorrectState", 400)
	rs, err := c.RestoreSnapshotFromRecycleBin(ctx, &ec2.RestoreSnapshotFromRecycleBinInput{SnapshotId: &snapA})
	require.NoError(t, err)
	require.Equal(t, snapA, *rs.SnapshotId)
	ri, err := c.RestoreImageFromRecycleBin(ctx, &ec2.RestoreImageFromRecycleBinInput{ImageId: &a})
	require.NoError(t, err)
	require.True(t, *ri.Return)
	require.Equal(t, "available", string(e.describeOne(c, a).State))

	// Snapshot retention (1 day) shorter than AMI retention (7 days): once the snapshot
	// is gone for good, the AMI in the bin cannot be restored.
	deregister(b)
	e.clock.Advance(2 * 24 * time.Hour)
	require.Equal(t, []string{b}, binImages())
	_, err = c.RestoreImageFromRecycleBin(ctx, &ec2.RestoreImageFromRecycleBinInput{ImageId: &b})
	requireCode(t, err, "InvalidSnapshot.NotFound", 400)
	e.clock.Advance(6 * 24 * time.Hour)
	require.Empty(t, binImages(), "retention over")
	_, err = c.RestoreImageFromRecycleBin(ctx, &ec2.RestoreImageFromRecycleBinInput{ImageId: &b})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
}

// describeSnapshotOf returns the bin snapshot that belonged to image (fixture snapshots
// are described "fixture snapshot for <image>").
func (e *env) describeSnapshotOf(out *ec2.ListSnapshotsInRecycleBinOutput, image string) *string {
	for _, s := range out.Snapshots {
		if strings.HasSuffix(aws.ToString(s.Description), image) {
			return s.SnapshotId
		}
	}
	e.t.Fatalf("no bin snapshot of %s", image)
	return nil
}

// The awscli reaches rbin through AWS_ENDPOINT_URL_RBIN and lists the bin through EC2.
func TestAWSCLIRecycleBin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	rule := e.rule(rbintypes.ResourceTypeEc2Image, 3)
	_, err := e.owner().DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &id})
	require.NoError(t, err)
	r := runAWSWith(awsBinary(t), []string{"AWS_ENDPOINT_URL_RBIN=" + e.url, "AWS_DEFAULT_REGION=us-east-1"}, "rbin", "list-rules", "--resource-type", "EC2_IMAGE", "--output", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"Identifier": "`+rule+`"`)
	var bin struct {
		Images []struct{ ImageId, RecycleBinExitTime string }
	}
	e.cliJSON(&bin, "list-images-in-recycle-bin")
	require.Len(t, bin.Images, 1)
	require.Equal(t, id, bin.Images[0].ImageId)
	require.True(t, strings.HasPrefix(bin.Images[0].RecycleBinExitTime, "2026-01-18T12:00:00"), bin.Images[0].RecycleBinExitTime)
}
