package ec2emu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stretchr/testify/require"
)

// EC2 counts tag key and value limits in Unicode characters, not bytes: a 128-character
// key of two-byte characters is valid.
func TestTagLimitsCountCharacters(t *testing.T) {
	e := newEnv(t)
	id, _ := e.oneImage()
	c := e.owner()
	k128, v256 := strings.Repeat("é", 128), strings.Repeat("ü", 256)
	_, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: &k128, Value: &v256}}})
	require.NoError(t, err, "128-character key and 256-character value are within EC2's limits")
	tags := map[string]string{}
	for _, tg := range e.describeOne(c, id).Tags {
		tags[*tg.Key] = *tg.Value
	}
	require.Equal(t, v256, tags[k128])
	k129, v257 := k128+"é", v256+"ü"
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: &k129, Value: aws.String("v")}}})
	requireCode(t, err, "InvalidParameterValue", 400)
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: []types.Tag{{Key: aws.String("k"), Value: &v257}}})
	requireCode(t, err, "InvalidParameterValue", 400)
}

// DescribeImageReferences per the service model: MaxResults min 5; state-name defaults
// to all states (terminated included); version-depth defaults to 10, valid 1..10000.
func TestDescribeImageReferencesModelDefaults(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 1, Versions: 1, Instances: 2})
	img := res.Images["us-east-1"][0]
	insts := res.Instances["us-east-1"]
	c := e.owner()
	_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: insts[:1]})
	require.NoError(t, err)

	refs, err := c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{img},
		ResourceTypes: []types.ResourceTypeRequest{{ResourceType: types.ImageReferenceResourceTypeEc2Instance}}})
	require.NoError(t, err)
	var arns []string
	for _, r := range refs.ImageReferences {
		arns = append(arns, *r.Arn)
	}
	require.Len(t, arns, 2, "default state-name is all states: %v", arns)
	refs, err = c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{img},
		ResourceTypes: []types.ResourceTypeRequest{{ResourceType: types.ImageReferenceResourceTypeEc2Instance,
			ResourceTypeOptions: []types.ResourceTypeOption{{OptionName: types.ImageReferenceOptionNameStateName, OptionValues: []string{"running"}}}}}})
	require.NoError(t, err)
	require.Len(t, refs.ImageReferences, 1)
	require.Equal(t, "arn:aws:ec2:us-east-1:"+DefaultAccount+":instance/"+insts[1], *refs.ImageReferences[0].Arn)

	_, err = c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{img}, IncludeAllResourceTypes: aws.Bool(true), MaxResults: aws.Int32(4)})
	requireCode(t, err, "InvalidParameterValue", 400)

	// A template whose image is 11 versions back is outside the default depth of 10.
	lt, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("deep"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: &img}})
	require.NoError(t, err)
	other := "ami-0000000000fff0001"
	for i := 0; i < 10; i++ {
		_, err = c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId,
			LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: &other}})
		require.NoError(t, err)
	}
	ltRefs := func(opts ...types.ResourceTypeOption) int {
		out, err := c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{img},
			ResourceTypes: []types.ResourceTypeRequest{{ResourceType: types.ImageReferenceResourceTypeEc2LaunchTemplate, ResourceTypeOptions: opts}}})
		require.NoError(t, err)
		return len(out.ImageReferences)
	}
	depth := func(n int) types.ResourceTypeOption {
		return types.ResourceTypeOption{OptionName: types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{fmt.Sprint(n)}}
	}
	require.Equal(t, 0, ltRefs(), "default version-depth is 10")
	require.Equal(t, 1, ltRefs(depth(11)))
	_, err = c.DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{img},
		ResourceTypes: []types.ResourceTypeRequest{{ResourceType: types.ImageReferenceResourceTypeEc2LaunchTemplate, ResourceTypeOptions: []types.ResourceTypeOption{depth(10001)}}}})
	requireCode(t, err, "InvalidParameterValue", 400)
}
