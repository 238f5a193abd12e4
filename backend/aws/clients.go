package aws

import (
	"context"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// The EC2 operations the backend calls, one narrow interface per concern,
// so a test can fake exactly what a step uses.
type (
	imageReader interface {
		ec2.DescribeImagesAPIClient
		ec2.DescribeSnapshotsAPIClient
		DescribeImageAttribute(ctx context.Context, in *ec2.DescribeImageAttributeInput, opts ...func(*ec2.Options)) (*ec2.DescribeImageAttributeOutput, error)
	}
	tagger interface {
		CreateTags(ctx context.Context, in *ec2.CreateTagsInput, opts ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
		DeleteTags(ctx context.Context, in *ec2.DeleteTagsInput, opts ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
	}
	imageActor interface {
		EnableImageDeprecation(ctx context.Context, in *ec2.EnableImageDeprecationInput, opts ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error)
		DisableImageDeprecation(ctx context.Context, in *ec2.DisableImageDeprecationInput, opts ...func(*ec2.Options)) (*ec2.DisableImageDeprecationOutput, error)
		DisableImage(ctx context.Context, in *ec2.DisableImageInput, opts ...func(*ec2.Options)) (*ec2.DisableImageOutput, error)
		EnableImage(ctx context.Context, in *ec2.EnableImageInput, opts ...func(*ec2.Options)) (*ec2.EnableImageOutput, error)
		DeregisterImage(ctx context.Context, in *ec2.DeregisterImageInput, opts ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
		DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, opts ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
		ModifyImageAttribute(ctx context.Context, in *ec2.ModifyImageAttributeInput, opts ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error)
	}
	usageReader interface {
		ec2.DescribeImageReferencesAPIClient
		ec2.DescribeImagesAPIClient
		ec2.DescribeLaunchTemplatesAPIClient
		ec2.DescribeLaunchTemplateVersionsAPIClient
	}
	recycleBinReader interface {
		ec2.ListImagesInRecycleBinAPIClient
	}
	usageReporter interface {
		CreateImageUsageReport(ctx context.Context, in *ec2.CreateImageUsageReportInput, opts ...func(*ec2.Options)) (*ec2.CreateImageUsageReportOutput, error)
		ec2.DescribeImageUsageReportsAPIClient
		ec2.DescribeImageUsageReportEntriesAPIClient
	}
	asgReader interface {
		autoscaling.DescribeAutoScalingGroupsAPIClient
		autoscaling.DescribeLaunchConfigurationsAPIClient
	}
)

// ec2Client is every EC2 operation the backend uses.
type ec2Client = interface {
	imageReader
	tagger
	imageActor
	usageReader
	usageReporter
	recycleBinReader
}

// regionClients are one region's clients.
type regionClients struct {
	ec2       ec2Client
	asg       asgReader
	throttled atomic.Int64 // throttled EC2 attempts (countThrottles)
}

// client returns region's clients, made once from the base config.
func (b *Backend) client(region string) *regionClients {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.clients[region]; ok {
		return c
	}
	cfg := b.opts.Config.Copy()
	cfg.Region = region
	c := &regionClients{
		asg: autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
			if b.opts.AutoScalingEndpoint != "" {
				o.BaseEndpoint = aws.String(b.opts.AutoScalingEndpoint)
			}
		}),
	}
	c.ec2 = ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if b.opts.EC2Endpoint != "" {
			o.BaseEndpoint = aws.String(b.opts.EC2Endpoint)
		}
		o.Retryer = countThrottles(o.Retryer, &c.throttled)
	})
	b.clients[region] = c
	return c
}
