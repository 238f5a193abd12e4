package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// maxReferenceIDs is DescribeImageReferences' limit of image ids per call.
const maxReferenceIDs = 10

// Usage finds, per region in parallel, who uses each image: instances in
// every state but terminated, launch templates, SSM parameters and Image
// Builder recipes (DescribeImageReferences, 10 ids a call, paginated,
// several calls in flight: inFlight), and
// child images of any family whose parent tag or SourceImageId points at
// it, Auto Scaling groups and launch configurations, and launch template
// versions as launch_template_versions says (other accounts' use is
// OtherUsage's). It fails closed: a lookup that fails makes its images used by a
// lifecycle.ConsumerUnknown that says why. A batch that fails is retried
// image by image, so one bad image fails only itself.
func (b *Backend) Usage(ctx context.Context, images []lifecycle.Image) lifecycle.Usage {
	u := lifecycle.Usage{}
	var mu sync.Mutex
	add := func(ref lifecycle.Ref, c lifecycle.Consumer) {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(u[ref], c) {
			u[ref] = append(u[ref], c)
		}
	}
	regions, idx := backend.ByRegion(len(images), func(i int) string { return images[i].Region })
	b.eachRegion(ctx, regions, func(ctx context.Context, region string) {
		var ids []string
		for _, i := range idx[region] {
			if id := images[i].ID; amiRE.MatchString(id) && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		ref := func(id string) lifecycle.Ref { return lifecycle.Ref{Region: region, ID: id} }
		unknown := func(id string, err error) {
			add(ref(id), lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: err.Error()})
		}
		rc := b.client(region)
		withTemplates := b.opts.LaunchTemplateVersions == LTVersionsAll
		chunks := slices.Collect(slices.Chunk(ids, maxReferenceIDs))
		rc.inFlight(len(chunks), func(k int) {
			chunk := chunks[k]
			found, err := references(ctx, rc.ec2, chunk, withTemplates)
			if err != nil && len(chunk) > 1 {
				for _, id := range chunk {
					one, err := references(ctx, rc.ec2, []string{id}, withTemplates)
					if err != nil {
						unknown(id, err)
					}
					for _, f := range one {
						add(ref(f.image), f.consumer)
					}
				}
				return
			}
			if err != nil {
				unknown(chunk[0], err)
			}
			for _, f := range found {
				add(ref(f.image), f.consumer)
			}
		})
		if len(ids) == 0 {
			return
		}
		lookups := []func() ([]use, error){
			func() ([]use, error) { return b.children(ctx, region, ids) },
			func() ([]use, error) { return b.autoScaling(ctx, region, ids) },
		}
		switch b.opts.LaunchTemplateVersions {
		case LTVersionsDefault, LTVersionsDefaultAndLatest:
			latest := b.opts.LaunchTemplateVersions == LTVersionsDefaultAndLatest
			lookups = append(lookups, func() ([]use, error) { return b.defaultAndLatest(ctx, region, ids, latest) })
		}
		for _, lookup := range lookups {
			found, err := lookup()
			if err != nil {
				// Fail closed: every image of the region is kept.
				for _, id := range ids {
					unknown(id, err)
				}
			}
			for _, f := range found {
				add(ref(f.image), f.consumer)
			}
		}
	})
	return u
}

type use struct {
	image    string
	consumer lifecycle.Consumer
}

// references is one paginated DescribeImageReferences over at most 10 ids.
// With templates, every version of every launch template counts (the
// launch_template_versions default, "all").
func references(ctx context.Context, cl ec2Client, ids []string, templates bool) ([]use, error) {
	rts := []types.ResourceTypeRequest{
		{ResourceType: types.ImageReferenceResourceTypeEc2Instance, ResourceTypeOptions: []types.ResourceTypeOption{{
			OptionName: types.ImageReferenceOptionNameStateName,
			// Every state but terminated: a stopped instance starts again.
			OptionValues: []string{"pending", "running", "shutting-down", "stopping", "stopped"},
		}}},
		{ResourceType: types.ImageReferenceResourceTypeSsmParameter},
		{ResourceType: types.ImageReferenceResourceTypeImageBuilderImageRecipe},
		{ResourceType: types.ImageReferenceResourceTypeImageBuilderContainerRecipe},
	}
	if templates {
		rts = append(rts, types.ResourceTypeRequest{ResourceType: types.ImageReferenceResourceTypeEc2LaunchTemplate, ResourceTypeOptions: []types.ResourceTypeOption{{
			OptionName: types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{"10000"},
		}}})
	}
	in := &ec2.DescribeImageReferencesInput{ImageIds: ids, ResourceTypes: rts, MaxResults: aws.Int32(1000)}
	var out []use
	p := ec2.NewDescribeImageReferencesPaginator(cl, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeImageReferences: %w", err)
		}
		for _, r := range page.ImageReferences {
			out = append(out, use{aws.ToString(r.ImageId), consumerOf(r)})
		}
	}
	return out, nil
}

// consumerOf names a reference by kind and the id people know it by.
func consumerOf(r types.ImageReference) lifecycle.Consumer {
	arn := aws.ToString(r.Arn)
	last := arn[strings.LastIndex(arn, "/")+1:]
	switch r.ResourceType {
	case types.ImageReferenceResourceTypeEc2Instance:
		return lifecycle.Consumer{Kind: lifecycle.ConsumerInstance, ID: last}
	case types.ImageReferenceResourceTypeEc2LaunchTemplate:
		return lifecycle.Consumer{Kind: lifecycle.ConsumerLaunchTemplate, ID: last}
	case types.ImageReferenceResourceTypeSsmParameter:
		name := arn
		if _, after, ok := strings.Cut(arn, ":parameter"); ok {
			name = after
		}
		return lifecycle.Consumer{Kind: lifecycle.ConsumerSSMParameter, ID: name}
	}
	return lifecycle.Consumer{Kind: lifecycle.ConsumerImageRecipe, ID: arn}
}

// children finds images (any family, any owner we may touch) built from
// the given ones: by our parent tag, or by EC2's SourceImageId.
func (b *Backend) children(ctx context.Context, region string, ids []string) ([]use, error) {
	chunks := slices.Collect(slices.Chunk(ids, 200))
	found := make([][]use, len(chunks))
	errs := make([]error, len(chunks))
	b.client(region).inFlight(len(chunks), func(k int) {
		found[k], errs[k] = b.childrenOf(ctx, region, chunks[k])
	})
	for _, err := range errs {
		if err != nil {
			return nil, err // the first, as one call at a time would have failed
		}
	}
	return slices.Concat(found...), nil
}

func (b *Backend) childrenOf(ctx context.Context, region string, chunk []string) ([]use, error) {
	var out []use
	for _, f := range []string{"tag:" + lifecycle.TagParent, "source-image-id"} {
		imgs, err := b.describeRaw(ctx, region, []types.Filter{{Name: aws.String(f), Values: chunk}})
		if err != nil {
			return nil, fmt.Errorf("child images: %w", err)
		}
		for _, im := range imgs {
			if im.State == types.ImageStateDeregistered {
				continue
			}
			parent := aws.ToString(im.SourceImageId)
			for _, t := range im.Tags {
				if f != "source-image-id" && aws.ToString(t.Key) == lifecycle.TagParent {
					parent = aws.ToString(t.Value)
				}
			}
			if id := aws.ToString(im.ImageId); parent != id && slices.Contains(chunk, parent) {
				out = append(out, use{parent, lifecycle.Consumer{Kind: lifecycle.ConsumerChildImage, ID: id}})
			}
		}
	}
	return out, nil
}
