package ec2emu

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stretchr/testify/require"
)

var ctx = context.Background()

func TestRawEnvelopeAndUnknownAction(t *testing.T) {
	e := newEnv(t)
	post := func(form url.Values) (int, string) {
		resp, err := http.PostForm(e.url, form)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post(url.Values{"Action": {"DescribeImages"}, "Version": {"2016-11-15"}})
	require.Equal(t, 200, status)
	require.Contains(t, body, `<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`)
	require.Contains(t, body, `<imagesSet></imagesSet>`)
	status, body = post(url.Values{"Action": {"ReleaseHosts"}})
	require.Equal(t, 400, status)
	require.Contains(t, body, "<Response><Errors><Error><Code>InvalidAction</Code>")
	require.Contains(t, body, "ReleaseHosts")
	require.Contains(t, body, "<RequestID>")
}

func TestUnsupportedActionThroughSDK(t *testing.T) {
	e := newEnv(t)
	_, err := e.owner().DescribeHosts(ctx, &ec2.DescribeHostsInput{})
	requireCode(t, err, "InvalidAction", 400)
	require.Contains(t, err.Error(), "DescribeHosts")
}

func TestDryRunAndUnauthorized(t *testing.T) {
	e := newEnv(t)
	_, err := e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{DryRun: aws.Bool(true)})
	requireCode(t, err, "DryRunOperation", 412)
	e.s.Deny(otherAccount, "DescribeImages")
	_, err = e.other().DescribeImages(ctx, &ec2.DescribeImagesInput{})
	requireCode(t, err, "UnauthorizedOperation", 403)
}

func TestRegionFromScopeAndAccountPerKey(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 2, Regions: []string{"eu-west-1"}})
	out, err := e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Empty(t, out.Images, "us-east-1 must be empty")
	eu := e.client("eu-west-1", "AKIDUNKNOWN", 1)
	out, err = eu.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Len(t, out.Images, 2)
	require.Equal(t, res.Images["eu-west-1"][0], *out.Images[0].ImageId)
	require.Equal(t, DefaultAccount, *out.Images[0].OwnerId)
	other := e.client("eu-west-1", otherKey, 1)
	out, err = other.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Empty(t, out.Images)
	require.Equal(t, 2, e.s.Calls("eu-west-1", "DescribeImages"))
}

func TestImageFieldsParse(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 1, Tags: map[string]string{"Team": "core"}})
	id := res.Images["us-east-1"][0]
	out, err := e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	require.NoError(t, err)
	require.Len(t, out.Images, 1)
	img := out.Images[0]
	require.Equal(t, id, *img.ImageId)
	require.Equal(t, "app-00-v0000", *img.Name)
	require.Equal(t, types.ImageStateAvailable, img.State)
	require.Equal(t, DefaultAccount, *img.OwnerId)
	require.False(t, *img.Public)
	require.Equal(t, types.DeviceTypeEbs, img.RootDeviceType)
	require.Equal(t, "/dev/xvda", *img.RootDeviceName)
	require.Equal(t, types.ArchitectureValuesX8664, img.Architecture)
	require.Equal(t, types.VirtualizationTypeHvm, img.VirtualizationType)
	require.Equal(t, "2026-01-13T12:00:00.000Z", *img.CreationDate)
	require.Len(t, img.BlockDeviceMappings, 1)
	require.True(t, strings.HasPrefix(*img.BlockDeviceMappings[0].Ebs.SnapshotId, "snap-"))
	require.Equal(t, int32(8), *img.BlockDeviceMappings[0].Ebs.VolumeSize)
	require.Equal(t, "disabled", *img.DeregistrationProtection)
	require.Nil(t, img.DeprecationTime)
	tags := map[string]string{}
	for _, tg := range img.Tags {
		tags[*tg.Key] = *tg.Value
	}
	require.Equal(t, map[string]string{"Family": "app-00", "Version": "0", "Team": "core"}, tags)
	require.Regexp(t, `^ami-[0-9a-f]{17}$`, id)
}

func TestDescribeImagesPaginationOver1000(t *testing.T) {
	e := newEnv(t)
	e.s.Build(Fixture{Families: 3, Versions: 401})
	c := e.owner()
	p := ec2.NewDescribeImagesPaginator(c, &ec2.DescribeImagesInput{Owners: []string{"self"}}, func(o *ec2.DescribeImagesPaginatorOptions) { o.Limit = 1000 })
	seen, pages := map[string]bool{}, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		pages++
		for _, img := range out.Images {
			seen[*img.ImageId] = true
		}
	}
	require.Equal(t, 2, pages)
	require.Len(t, seen, 1203)
	all, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Len(t, all.Images, 1203, "no MaxResults: everything in one response")
	require.Nil(t, all.NextToken)
	small := ec2.NewDescribeImagesPaginator(c, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"app-01-*"}}}}, func(o *ec2.DescribeImagesPaginatorOptions) { o.Limit = 100 })
	n := 0
	for small.HasMorePages() {
		out, err := small.NextPage(ctx)
		require.NoError(t, err)
		require.LessOrEqual(t, len(out.Images), 100)
		n += len(out.Images)
	}
	require.Equal(t, 401, n)
}

func TestDescribeImagesParameterErrors(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 1})
	c := e.owner()
	_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: res.Images["us-east-1"], MaxResults: aws.Int32(10)})
	requireCode(t, err, "InvalidParameterCombination", 400)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{MaxResults: aws.Int32(3)})
	requireCode(t, err, "InvalidParameterValue", 400)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef9"}})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-nothex"}})
	requireCode(t, err, "InvalidAMIID.Malformed", 400)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("deprecation-time"), Values: []string{"*"}}}})
	requireCode(t, err, "InvalidParameterValue", 400)
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{MaxResults: aws.Int32(5), NextToken: aws.String("garbage!")})
	requireCode(t, err, "InvalidParameterValue", 400)
}

func names(imgs []types.Image) []string {
	var out []string
	for _, i := range imgs {
		out = append(out, *i.Name)
	}
	return out
}

func TestDescribeImagesFilters(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 3, Versions: 3, Public: 1, Shared: 1})
	c := e.owner()
	f := func(kv ...string) []types.Filter {
		var out []types.Filter
		for i := 0; i < len(kv); i += 2 {
			out = append(out, types.Filter{Name: aws.String(kv[i]), Values: strings.Split(kv[i+1], "|")})
		}
		return out
	}
	cases := []struct {
		filters []types.Filter
		want    int
	}{
		{f("name", "app-01-*"), 3},
		{f("name", "app-0?-v0001"), 3},
		{f("name", "app-00-v0000|app-02-v0002"), 2},
		{f("tag:Family", "app-02"), 3},
		{f("tag:Family", "app-02", "tag:Version", "1"), 1},
		{f("tag-key", "Family"), 9},
		{f("tag-key", "Nope"), 0},
		{f("state", "available"), 11},
		{f("state", "pending"), 0},
		{f("image-id", res.Images["us-east-1"][4]), 1},
		{f("owner-id", otherAccount), 2},
		{f("is-public", "true"), 1},
		{f("is-public", "false", "owner-id", DefaultAccount), 9},
		{f("root-device-type", "ebs", "name", "*-v0002"), 3},
	}
	for i, tc := range cases {
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Filters: tc.filters})
		require.NoError(t, err, "case %d", i)
		require.Len(t, out.Images, tc.want, "case %d: %v", i, names(out.Images))
	}
}

func TestOwnersAndSharing(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 2, Foreign: 2, Shared: 1, Public: 1, ForeignOwner: otherAccount})
	c := e.owner()
	count := func(c *ec2.Client, in *ec2.DescribeImagesInput) int {
		out, err := c.DescribeImages(ctx, in)
		require.NoError(t, err)
		return len(out.Images)
	}
	require.Equal(t, 4, count(c, &ec2.DescribeImagesInput{}), "own 2 + shared + public; foreign private hidden")
	require.Equal(t, 2, count(c, &ec2.DescribeImagesInput{Owners: []string{"self"}}))
	require.Equal(t, 2, count(c, &ec2.DescribeImagesInput{Owners: []string{otherAccount}}))
	require.Equal(t, 1, count(c, &ec2.DescribeImagesInput{ExecutableUsers: []string{"all"}}))
	require.Equal(t, 4, count(e.other(), &ec2.DescribeImagesInput{Owners: []string{"self"}}))
	_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: res.Foreign["us-east-1"][:1]})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)

	own := res.Images["us-east-1"][0]
	require.Equal(t, 0, count(e.other(), &ec2.DescribeImagesInput{Owners: []string{DefaultAccount}}))
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &own,
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(otherAccount)}}}})
	require.NoError(t, err)
	require.Equal(t, 1, count(e.other(), &ec2.DescribeImagesInput{Owners: []string{DefaultAccount}}))
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(res.Images["us-east-1"][1]),
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{Group: types.PermissionGroupAll}}}})
	require.NoError(t, err)
	out, err := e.other().DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{DefaultAccount}, Filters: []types.Filter{{Name: aws.String("is-public"), Values: []string{"true"}}}})
	require.NoError(t, err)
	require.Len(t, out.Images, 1)
	require.True(t, *out.Images[0].Public)
	attr, err := c.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: &own, Attribute: types.ImageAttributeNameLaunchPermission})
	require.NoError(t, err)
	require.Len(t, attr.LaunchPermissions, 1)
	require.Equal(t, otherAccount, *attr.LaunchPermissions[0].UserId)
	_, err = e.other().DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: &own})
	requireCode(t, err, "AuthFailure", 400)
	_, err = c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &own, Description: &types.AttributeValue{Value: aws.String("hello")}})
	require.NoError(t, err)
	out, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{own}})
	require.NoError(t, err)
	require.Equal(t, "hello", *out.Images[0].Description)
}
