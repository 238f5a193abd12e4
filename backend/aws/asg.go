package aws

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// ltRef is a launch template version an Auto Scaling group launches.
type ltRef struct{ id, name, version string }

// autoScaling finds the groups and launch configurations that use the
// given images: a launch configuration by its ImageId, a group by its
// launch configuration or by the image of the launch template version it
// launches (instance overrides included). With asg_used, those template
// versions are the only ones that count.
func (b *Backend) autoScaling(ctx context.Context, region string, ids []string) ([]use, error) {
	cl := b.client(region)
	var out []use
	lcImage := map[string]string{}
	lcs := autoscaling.NewDescribeLaunchConfigurationsPaginator(cl.asg, &autoscaling.DescribeLaunchConfigurationsInput{})
	for lcs.HasMorePages() {
		page, err := lcs.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeLaunchConfigurations: %w", err)
		}
		for _, lc := range page.LaunchConfigurations {
			name, img := aws.ToString(lc.LaunchConfigurationName), aws.ToString(lc.ImageId)
			lcImage[name] = img
			if slices.Contains(ids, img) {
				out = append(out, use{img, lifecycle.Consumer{Kind: lifecycle.ConsumerLaunchConfiguration, ID: name}})
			}
		}
	}
	groups := autoscaling.NewDescribeAutoScalingGroupsPaginator(cl.asg, &autoscaling.DescribeAutoScalingGroupsInput{})
	resolved := map[ltRef][]string{} // images of a template version
	for groups.HasMorePages() {
		page, err := groups.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeAutoScalingGroups: %w", err)
		}
		for _, g := range page.AutoScalingGroups {
			name := aws.ToString(g.AutoScalingGroupName)
			if img := lcImage[aws.ToString(g.LaunchConfigurationName)]; slices.Contains(ids, img) {
				out = append(out, use{img, lifecycle.Consumer{Kind: lifecycle.ConsumerASG, ID: name}})
			}
			for _, spec := range groupTemplates(g) {
				imgs, ok := resolved[spec]
				if !ok {
					if imgs, err = b.templateImages(ctx, region, spec); err != nil {
						return nil, fmt.Errorf("group %s: %w", name, err)
					}
					resolved[spec] = imgs
				}
				for _, img := range imgs {
					if slices.Contains(ids, img) {
						out = append(out, use{img, lifecycle.Consumer{Kind: lifecycle.ConsumerASG, ID: name}})
					}
				}
			}
		}
	}
	if b.opts.LaunchTemplateVersions == LTVersionsASGUsed {
		for spec, imgs := range resolved {
			for _, img := range imgs {
				if slices.Contains(ids, img) {
					out = append(out, use{img, lifecycle.Consumer{Kind: lifecycle.ConsumerLaunchTemplate, ID: spec.id + spec.name, Version: spec.version}})
				}
			}
		}
	}
	return out, nil
}

// groupTemplates are the launch template versions a group launches; an
// unset version is the template's default.
func groupTemplates(g astypes.AutoScalingGroup) []ltRef {
	var specs []*astypes.LaunchTemplateSpecification
	specs = append(specs, g.LaunchTemplate)
	if p := g.MixedInstancesPolicy; p != nil && p.LaunchTemplate != nil {
		specs = append(specs, p.LaunchTemplate.LaunchTemplateSpecification)
		for _, o := range p.LaunchTemplate.Overrides {
			specs = append(specs, o.LaunchTemplateSpecification)
		}
	}
	var out []ltRef
	for _, s := range specs {
		if s == nil {
			continue
		}
		r := ltRef{id: aws.ToString(s.LaunchTemplateId), name: aws.ToString(s.LaunchTemplateName), version: aws.ToString(s.Version)}
		if r.version == "" {
			r.version = "$Default"
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// templateImages resolves one launch template version to its image id.
func (b *Backend) templateImages(ctx context.Context, region string, r ltRef) ([]string, error) {
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{r.version}}
	if r.id != "" {
		in.LaunchTemplateId = aws.String(r.id)
	} else {
		in.LaunchTemplateName = aws.String(r.name)
	}
	out, err := b.client(region).ec2.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("DescribeLaunchTemplateVersions: %w", err)
	}
	var imgs []string
	for _, v := range out.LaunchTemplateVersions {
		if v.LaunchTemplateData != nil && v.LaunchTemplateData.ImageId != nil {
			imgs = append(imgs, *v.LaunchTemplateData.ImageId)
		}
	}
	return imgs, nil
}

// defaultAndLatest finds the launch templates whose default (and, when
// latest, latest) version uses one of the images: one account-wide
// DescribeLaunchTemplateVersions, paginated.
func (b *Backend) defaultAndLatest(ctx context.Context, region string, ids []string, latest bool) ([]use, error) {
	versions := []string{"$Default"}
	if latest {
		versions = append(versions, "$Latest")
	}
	var out []use
	p := ec2.NewDescribeLaunchTemplateVersionsPaginator(b.client(region).ec2, &ec2.DescribeLaunchTemplateVersionsInput{Versions: versions})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeLaunchTemplateVersions: %w", err)
		}
		for _, v := range page.LaunchTemplateVersions {
			if v.LaunchTemplateData == nil {
				continue
			}
			if img := aws.ToString(v.LaunchTemplateData.ImageId); slices.Contains(ids, img) {
				out = append(out, use{img, lifecycle.Consumer{Kind: lifecycle.ConsumerLaunchTemplate, ID: aws.ToString(v.LaunchTemplateId),
					Version: strconv.FormatInt(aws.ToInt64(v.VersionNumber), 10)}})
			}
		}
	}
	return out, nil
}
