package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var (
	_ backend.Orphaner      = (*Backend)(nil)
	_ backend.OrphanDeleter = (*Backend)(nil)
)

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

// DeleteOrphans deletes, region by region in parallel, the family's
// orphaned snapshots (DeleteSnapshot), except those an AMI in the Recycle
// Bin may need: EC2 does not say which snapshots a binned AMI has, so a
// snapshot is kept when a binned AMI's release stamp names its family and
// version, and every orphan of a region is kept when a binned AMI there
// has no stamp (ListImagesInRecycleBin, once per region).
func (b *Backend) DeleteOrphans(ctx context.Context, family string, orphans []backend.Orphan, dryRun bool) []backend.OrphanResult {
	out := make([]backend.OrphanResult, len(orphans))
	for i, o := range orphans {
		out[i].Orphan = o
	}
	regions, idx := backend.ByRegion(len(orphans), func(i int) string { return orphans[i].Region })
	b.eachRegion(ctx, regions, func(ctx context.Context, region string) {
		cl := b.client(region).ec2
		bin, unstamped, err := recycleBin(ctx, cl, family)
		for _, i := range idx[region] {
			r := &out[i]
			switch {
			case err != nil:
				r.Err = fmt.Errorf("kept: the Recycle Bin of %s could not be read: %w", region, err)
			case len(unstamped) > 0:
				r.Note = fmt.Sprintf("kept: the Recycle Bin holds AMIs without a release stamp (%s), whose snapshots cannot be told apart", strings.Join(clipIDs(unstamped), ", "))
			case r.Version == "" && len(bin) > 0:
				r.Note = "kept: it names no release, and the Recycle Bin holds AMIs of the family"
			case bin[r.Version] != "":
				r.Note = fmt.Sprintf("kept: its release's AMI %s is in the Recycle Bin and may be restored", bin[r.Version])
			case dryRun:
				r.Deleted = true
			default:
				_, err := cl.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(r.ID)})
				var ae smithy.APIError
				if errors.As(err, &ae) && ae.ErrorCode() == "InvalidSnapshot.NotFound" {
					err = nil // deleted since it was found (by a lost answer's retry, too): done
				}
				r.Deleted, r.Err = err == nil, wrap("DeleteSnapshot", err)
			}
		}
	})
	return out
}

// recycleBin maps the versions of family whose AMIs are in the Recycle
// Bin to one of those AMIs, and lists the binned AMIs without a stamp.
func recycleBin(ctx context.Context, cl ec2Client, family string) (map[string]string, []string, error) {
	versions := map[string]string{}
	var unstamped []string
	p := ec2.NewListImagesInRecycleBinPaginator(cl, &ec2.ListImagesInRecycleBinInput{MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, wrap("ListImagesInRecycleBin", err)
		}
		for _, im := range page.Images {
			id := aws.ToString(im.ImageId)
			tags, err := lifecycle.ParseStamp(aws.ToString(im.Description), id)
			switch {
			case err != nil:
				unstamped = append(unstamped, id)
			case tags[lifecycle.TagFamily] == family && versions[tags[lifecycle.TagVersion]] == "":
				versions[tags[lifecycle.TagVersion]] = id
			}
		}
	}
	slices.Sort(unstamped)
	return versions, unstamped, nil
}

// clipIDs shows at most three ids, then how many more.
func clipIDs(ids []string) []string {
	if len(ids) <= 3 {
		return ids
	}
	return append(slices.Clone(ids[:3]), fmt.Sprintf("and %d more", len(ids)-3))
}
