package ec2emu

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stretchr/testify/require"
)

func TestImageUsageReports(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const thirdKey, third = "AKIDTHIRD", "333333333333"
	e.s.AddAccount(thirdKey, third)
	id, _ := e.oneImage()
	owner, other, other3 := e.owner(), e.other(), e.client("us-east-1", thirdKey, 1)
	_, err := owner.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: &id, LaunchPermission: &types.LaunchPermissionModifications{
		Add: []types.LaunchPermission{{UserId: aws.String(otherAccount)}, {UserId: aws.String(third)}}}})
	require.NoError(t, err)
	e.launch(other, id)
	e.launch(other, id)
	e.launch(other3, id)
	e.launch(owner, id) // the owner's own use is not "usage by other accounts"
	_, err = other.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("uses-shared"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: &id}})
	require.NoError(t, err)

	kinds := []types.ImageUsageResourceTypeRequest{{ResourceType: aws.String("ec2:Instance")}, {ResourceType: aws.String("ec2:LaunchTemplate")}}
	created, err := owner.CreateImageUsageReport(ctx, &ec2.CreateImageUsageReportInput{ImageId: &id, ResourceTypes: kinds,
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImageUsageReport, Tags: []types.Tag{{Key: aws.String("why"), Value: aws.String("audit")}}}}})
	require.NoError(t, err)
	only3, err := owner.CreateImageUsageReport(ctx, &ec2.CreateImageUsageReportInput{ImageId: &id, ResourceTypes: kinds[:1], AccountIds: []string{third}})
	require.NoError(t, err)
	_, err = other.CreateImageUsageReport(ctx, &ec2.CreateImageUsageReportInput{ImageId: &id, ResourceTypes: kinds})
	requireCode(t, err, "AuthFailure", 400)

	reports := func() []types.ImageUsageReport {
		out, err := owner.DescribeImageUsageReports(ctx, &ec2.DescribeImageUsageReportsInput{ImageIds: []string{id}})
		require.NoError(t, err)
		return out.ImageUsageReports
	}
	entries := func(report string) map[string]int64 {
		out, err := owner.DescribeImageUsageReportEntries(ctx, &ec2.DescribeImageUsageReportEntriesInput{ReportIds: []string{report}})
		require.NoError(t, err)
		m := map[string]int64{}
		for _, x := range out.ImageUsageReportEntries {
			require.Equal(t, id, *x.ImageId)
			m[*x.ResourceType+" "+*x.AccountId] = *x.UsageCount
		}
		return m
	}
	// ImageUsageReport.State (service model): "pending - The report is being created and
	// not available to view", then "available".
	rs := reports()
	require.Len(t, rs, 2)
	require.Equal(t, "pending", *rs[0].State)
	require.Empty(t, entries(*created.ReportId))
	e.clock.Advance(DefaultUsageReportDelay)
	rs = reports()
	require.Equal(t, "available", *rs[0].State)
	require.Equal(t, *created.ReportId, *rs[0].ReportId)
	require.Equal(t, "audit", *rs[0].Tags[0].Value)
	require.Len(t, rs[0].ResourceTypes, 2)
	// "The date and time when Amazon EC2 will delete the report (30 days after the report
	// was created)".
	require.Equal(t, t0.Add(usageReportLifetime), *rs[0].ExpirationTime)
	require.Equal(t, map[string]int64{"ec2:Instance " + otherAccount: 2, "ec2:Instance " + third: 1, "ec2:LaunchTemplate " + otherAccount: 1}, entries(*created.ReportId))
	require.Equal(t, map[string]int64{"ec2:Instance " + third: 1}, entries(*only3.ReportId))

	e.clock.Advance(usageReportLifetime)
	require.Empty(t, reports(), "expired reports are deleted")
	_, err = owner.DescribeImageUsageReportEntries(ctx, &ec2.DescribeImageUsageReportEntriesInput{ReportIds: []string{*created.ReportId}})
	requireCode(t, err, "InvalidImageUsageReportId.NotFound", 400)
}
