package aws

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var _ backend.Orphaner = (*Backend)(nil)

// Orphans lists, region by region in parallel, the snapshots of this
// account tagged as the family's by this plugin (DescribeSnapshots by tag)
// that no image of the account refers to (DescribeImages by
// block-device-mapping.snapshot-id, deprecated and disabled images
// included, 200 ids a call). It changes nothing.
func (b *Backend) Orphans(ctx context.Context, family string) ([]backend.Orphan, []backend.RegionError) {
	var mu sync.Mutex
	var out []backend.Orphan
	var failed []backend.RegionError
	b.eachRegion(ctx, b.Regions(), func(ctx context.Context, region string) {
		found, err := b.regionOrphans(ctx, region, family)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = append(failed, backend.RegionError{Region: region, Err: err})
			return
		}
		out = append(out, found...)
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Region != out[j].Region {
			return out[i].Region < out[j].Region
		}
		return out[i].ID < out[j].ID
	})
	sort.Slice(failed, func(i, j int) bool { return failed[i].Region < failed[j].Region })
	return out, failed
}

func (b *Backend) regionOrphans(ctx context.Context, region, family string) ([]backend.Orphan, error) {
	c := b.client(region).ec2
	tagged := map[string]types.Snapshot{}
	p := ec2.NewDescribeSnapshotsPaginator(c, &ec2.DescribeSnapshotsInput{
		OwnerIds: []string{"self"}, MaxResults: aws.Int32(1000),
		Filters: []types.Filter{
			{Name: aws.String("tag:" + lifecycle.TagFamily), Values: []string{family}},
			{Name: aws.String("tag:" + lifecycle.TagManagedBy), Values: []string{b.opts.ManagedBy}},
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeSnapshots: %w", err)
		}
		for _, s := range page.Snapshots {
			tagged[aws.ToString(s.SnapshotId)] = s
		}
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range tagged {
			if !yield(id) {
				return
			}
		}
	})
	for chunk := range slices.Chunk(ids, 200) {
		ip := ec2.NewDescribeImagesPaginator(c, &ec2.DescribeImagesInput{
			Owners: []string{"self"}, IncludeDeprecated: aws.Bool(true), IncludeDisabled: aws.Bool(true),
			Filters: []types.Filter{{Name: aws.String("block-device-mapping.snapshot-id"), Values: chunk}},
		})
		for ip.HasMorePages() {
			page, err := ip.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("DescribeImages: %w", err)
			}
			for _, im := range page.Images {
				if im.State == types.ImageStateDeregistered {
					continue // EC2 shows a deregistered AMI for a while: it holds nothing
				}
				for _, bd := range im.BlockDeviceMappings {
					if bd.Ebs != nil {
						delete(tagged, aws.ToString(bd.Ebs.SnapshotId))
					}
				}
			}
		}
	}
	var out []backend.Orphan
	for _, id := range ids {
		s, ok := tagged[id]
		if !ok {
			continue
		}
		o := backend.Orphan{Region: region, ID: id, Bytes: int64(aws.ToInt32(s.VolumeSize)) << 30}
		for _, t := range s.Tags {
			if aws.ToString(t.Key) == lifecycle.TagVersion {
				o.Version = aws.ToString(t.Value)
			}
		}
		out = append(out, o)
	}
	return out, nil
}
