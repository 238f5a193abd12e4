package ec2emu

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	asv1 "github.com/aws/aws-sdk-go/service/autoscaling"

	"github.com/stretchr/testify/require"
)

func (e *env) cfg(accessKey string) aws.Config {
	return aws.Config{Region: "us-east-1", HTTPClient: HTTPClient(), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, "secret", "")}
}

func (e *env) autoscaling() *autoscaling.Client {
	return autoscaling.NewFromConfig(e.cfg(ownerKey), func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func (e *env) ssm() *ssm.Client {
	return ssm.NewFromConfig(e.cfg(ownerKey), func(o *ssm.Options) { o.BaseEndpoint = aws.String(e.url) })
}

// template creates a launch template with one version per image.
func (e *env) template(name string, images ...string) string {
	c := e.owner()
	lt, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: &name,
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: &images[0]}})
	require.NoError(e.t, err)
	for _, img := range images[1:] {
		_, err := c.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId,
			LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: &img}})
		require.NoError(e.t, err)
	}
	return *lt.LaunchTemplate.LaunchTemplateId
}

func TestAutoScalingGroupsAndLaunchConfigurations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	imgs := e.s.Build(Fixture{Families: 1, Versions: 3}).Images["us-east-1"]
	web := e.template("web", imgs[0], imgs[1])
	batch := e.template("batch", imgs[2])
	as := e.autoscaling()
	_, err := as.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{LaunchConfigurationName: aws.String("legacy"),
		ImageId: &imgs[0], InstanceType: aws.String("t3.micro")})
	require.NoError(t, err)
	group := func(name string, in autoscaling.CreateAutoScalingGroupInput) error {
		in.AutoScalingGroupName, in.MinSize, in.MaxSize = &name, aws.Int32(0), aws.Int32(1)
		_, err := as.CreateAutoScalingGroup(ctx, &in)
		return err
	}
	require.NoError(t, group("by-default", autoscaling.CreateAutoScalingGroupInput{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: &web}}))
	require.NoError(t, group("by-latest", autoscaling.CreateAutoScalingGroupInput{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web"), Version: aws.String("$Latest")}}))
	require.NoError(t, group("by-number", autoscaling.CreateAutoScalingGroupInput{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: &web, Version: aws.String("2")}}))
	require.NoError(t, group("mixed", autoscaling.CreateAutoScalingGroupInput{MixedInstancesPolicy: &astypes.MixedInstancesPolicy{
		LaunchTemplate: &astypes.LaunchTemplate{
			LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateId: &web, Version: aws.String("$Latest")},
			Overrides: []astypes.LaunchTemplateOverrides{{InstanceType: aws.String("t3.large")},
				{InstanceType: aws.String("m7g.large"), LaunchTemplateSpecification: &astypes.LaunchTemplateSpecification{LaunchTemplateId: &batch, Version: aws.String("1")}}}}}}))
	for i := 0; i < 50; i++ {
		require.NoError(t, group(fmt.Sprintf("lc-%02d", i), autoscaling.CreateAutoScalingGroupInput{LaunchConfigurationName: aws.String("legacy")}))
	}
	// "You must use a valid fully-formed launch template" (ValidationError) for a
	// missing version; exactly one launch specification per group.
	err = group("bad", autoscaling.CreateAutoScalingGroupInput{LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: &web, Version: aws.String("7")}})
	requireCode(t, err, "ValidationError", 400)
	err = group("lc-00", autoscaling.CreateAutoScalingGroupInput{LaunchConfigurationName: aws.String("legacy")})
	requireCode(t, err, "AlreadyExists", 400)

	// DescribeAutoScalingGroups API reference: MaxRecords defaults to 50 (max 100), so
	// 54 groups take two pages even when the caller sets no page size.
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(as, &autoscaling.DescribeAutoScalingGroupsInput{})
	groups, pages := map[string]astypes.AutoScalingGroup{}, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		pages++
		for _, g := range out.AutoScalingGroups {
			groups[*g.AutoScalingGroupName] = g
		}
	}
	require.Equal(t, 2, pages)
	require.Len(t, groups, 54)
	lt := func(g astypes.AutoScalingGroup) string {
		return *g.LaunchTemplate.LaunchTemplateId + " " + *g.LaunchTemplate.LaunchTemplateName + " " + *g.LaunchTemplate.Version
	}
	require.Equal(t, web+" web $Default", lt(groups["by-default"]))
	require.Equal(t, web+" web $Latest", lt(groups["by-latest"]))
	require.Equal(t, web+" web 2", lt(groups["by-number"]))
	require.Equal(t, "legacy", *groups["lc-07"].LaunchConfigurationName)
	require.Nil(t, groups["lc-07"].LaunchTemplate)
	mixed := groups["mixed"].MixedInstancesPolicy.LaunchTemplate
	require.Equal(t, web, *mixed.LaunchTemplateSpecification.LaunchTemplateId)
	require.Equal(t, "$Latest", *mixed.LaunchTemplateSpecification.Version)
	require.Len(t, mixed.Overrides, 2)
	require.Nil(t, mixed.Overrides[0].LaunchTemplateSpecification)
	require.Equal(t, batch, *mixed.Overrides[1].LaunchTemplateSpecification.LaunchTemplateId)
	require.Equal(t, "m7g.large", *mixed.Overrides[1].InstanceType)

	_, err = as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(101)})
	requireCode(t, err, "ValidationError", 400)
	_, err = as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{Filters: []astypes.Filter{{Name: aws.String("tag-key"), Values: []string{"x"}}}})
	requireCode(t, err, "ValidationError", 400) // not modelled: refused, never ignored
	lcs, err := as.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{})
	require.NoError(t, err)
	require.Len(t, lcs.LaunchConfigurations, 1)
	require.Equal(t, imgs[0], *lcs.LaunchConfigurations[0].ImageId)
	_, err = as.DeleteLaunchConfiguration(ctx, &autoscaling.DeleteLaunchConfigurationInput{LaunchConfigurationName: aws.String("legacy")})
	requireCode(t, err, "ResourceInUse", 400)
}

// aws-sdk-go v1 clients (amazon-ami-management's) send Auto Scaling requests to
// custom_endpoint_ec2: the Query Version 2011-01-01 routes them to Auto Scaling even
// on the EC2 endpoint.
func TestAutoScalingOnTheEC2EndpointByVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.autoscaling().CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(0), LaunchConfigurationName: aws.String("none")})
	requireCode(t, err, "ValidationError", 400)
	form := url.Values{"Action": {"DescribeAutoScalingGroups"}, "Version": {"2011-01-01"}}
	resp, err := http.PostForm(e.url, form)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	require.Contains(t, string(body), `<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><DescribeAutoScalingGroupsResult><AutoScalingGroups></AutoScalingGroups></DescribeAutoScalingGroupsResult><ResponseMetadata><RequestId>`)
}

func TestSSMParametersAreImageReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	s := e.ssm()
	put, err := s.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/app/golden"), Value: &id, Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")})
	require.NoError(t, err)
	require.Equal(t, int64(1), put.Version)
	_, err = s.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/app/golden"), Value: &id, Type: ssmtypes.ParameterTypeString})
	requireCode(t, err, "ParameterAlreadyExists", 400)
	_, err = s.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/app/text"), Value: &id, Type: ssmtypes.ParameterTypeString})
	require.NoError(t, err)
	got, err := s.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/app/golden")})
	require.NoError(t, err)
	require.Equal(t, id, *got.Parameter.Value)
	require.Equal(t, "aws:ec2:image", *got.Parameter.DataType)
	require.Equal(t, "arn:aws:ssm:us-east-1:"+DefaultAccount+":parameter/app/golden", *got.Parameter.ARN)
	require.Equal(t, t0, got.Parameter.LastModifiedDate.UTC())
	_, err = s.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/nope")})
	requireCode(t, err, "ParameterNotFound", 400)

	// DescribeImageReferences API reference: ssm:Parameter references are "Systems
	// Manager parameters" that hold the AMI id (data type aws:ec2:image).
	refs, err := e.owner().DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{id},
		ResourceTypes: []types.ResourceTypeRequest{{ResourceType: types.ImageReferenceResourceTypeSsmParameter}}})
	require.NoError(t, err)
	require.Len(t, refs.ImageReferences, 1)
	require.Equal(t, "arn:aws:ssm:us-east-1:"+DefaultAccount+":parameter/app/golden", *refs.ImageReferences[0].Arn)
	require.Equal(t, types.ImageReferenceResourceTypeSsmParameter, refs.ImageReferences[0].ResourceType)
	refs, err = e.owner().DescribeImageReferences(ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{id}, IncludeAllResourceTypes: aws.Bool(true)})
	require.NoError(t, err)
	require.Len(t, refs.ImageReferences, 1)
}

// The awscli reaches Auto Scaling through AWS_ENDPOINT_URL_AUTO_SCALING (the variable is
// named after the service id "Auto Scaling"; AWS_ENDPOINT_URL_AUTOSCALING is ignored by
// botocore and aws-sdk-go-v2 alike) and SSM through AWS_ENDPOINT_URL_SSM.
func TestAWSCLIAutoScalingAndSSM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	lt := e.template("web", id)
	_, err := e.autoscaling().CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(0), LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: &lt, Version: aws.String("$Latest")}})
	require.NoError(t, err)
	bin := awsBinary(t)
	env := []string{"AWS_ENDPOINT_URL_AUTO_SCALING=" + e.url, "AWS_ENDPOINT_URL_SSM=" + e.url, "AWS_DEFAULT_REGION=us-east-1"}
	run := func(args ...string) string {
		cmd := append(args, "--output", "json")
		r := runAWSWith(bin, env, cmd...)
		require.Equal(t, 0, r.code, "aws %s: %s", strings.Join(args, " "), r.stderr)
		return r.stdout
	}
	out := run("autoscaling", "describe-auto-scaling-groups")
	require.Contains(t, out, `"LaunchTemplateId": "`+lt+`"`)
	require.Contains(t, out, `"Version": "$Latest"`)
	run("ssm", "put-parameter", "--name", "golden", "--type", "String", "--data-type", "aws:ec2:image", "--value", id)
	require.Contains(t, run("ssm", "get-parameter", "--name", "golden"), `"Value": "`+id+`"`)
}

// The real aws-sdk-go v1 Auto Scaling client, as amazon-ami-management builds it with
// custom_endpoint_ec2: signed for autoscaling, sent to the EC2 endpoint.
func TestAutoScalingThroughSDKv1OnEC2Endpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	lt := e.template("web", id)
	_, err := e.autoscaling().CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(0), LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web")}})
	require.NoError(t, err)
	sess, err := session.NewSession(&awsv1.Config{Endpoint: awsv1.String(e.url), Region: awsv1.String("us-east-1"), MaxRetries: awsv1.Int(0),
		Credentials: credv1.NewStaticCredentials(ownerKey, "secret", "")})
	require.NoError(t, err)
	var groups []*asv1.Group
	err = asv1.New(sess).DescribeAutoScalingGroupsPages(&asv1.DescribeAutoScalingGroupsInput{}, func(p *asv1.DescribeAutoScalingGroupsOutput, _ bool) bool {
		groups = append(groups, p.AutoScalingGroups...)
		return true
	})
	require.NoError(t, err)
	require.Len(t, groups, 1)
	require.Equal(t, lt, *groups[0].LaunchTemplate.LaunchTemplateId)
	require.Equal(t, "$Default", *groups[0].LaunchTemplate.Version)
}

// Denials answer in each service's own terms: EC2 UnauthorizedOperation (403, with an
// encoded authorization failure message), Auto Scaling AccessDenied, SSM
// AccessDeniedException; "*" denies every account, also through the admin endpoint.
func TestDenyAcrossServices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.oneImage()
	adminPost(t, e.url, "/_emu/deny", `{"account":"*","action":"DisableImage"}`, nil)
	e.s.Deny(DefaultAccount, "DescribeAutoScalingGroups")
	e.s.Deny(DefaultAccount, "GetParameter")
	_, err := e.owner().DisableImage(ctx, &ec2.DisableImageInput{ImageId: &id})
	requireCode(t, err, "UnauthorizedOperation", 403)
	require.Contains(t, err.Error(), "Encoded authorization failure message: ")
	_, err = e.other().DisableImage(ctx, &ec2.DisableImageInput{ImageId: &id})
	requireCode(t, err, "UnauthorizedOperation", 403)
	_, err = e.autoscaling().DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	requireCode(t, err, "AccessDenied", 403)
	_, err = e.ssm().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("x")})
	requireCode(t, err, "AccessDeniedException", 400)
	_, err = e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	require.NoError(t, err, "other actions stay allowed")
}
