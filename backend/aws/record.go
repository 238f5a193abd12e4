package aws

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// maxTagResources is CreateTags' limit of resource ids per call.
const maxTagResources = 1000

// Record tags new builds, the AMI and its snapshots, in one CreateTags per
// region and tag set: pending (stage tag "pending") first, then the release
// (stage active). A release that expires gets EC2's own deprecation at its
// expiry. An AMI recorded as a release already is left as it is (a re-run,
// or a second post-processor): a record never demotes or rewrites one.
// With dryRun it only reads.
func (b *Backend) Record(ctx context.Context, images []lifecycle.Image, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(images))
	for i, img := range images {
		results[i].Ref, results[i].Image = img.Ref(), img
	}
	regions, idx := backend.ByRegion(len(images), func(i int) string { return images[i].Region })
	b.eachRegion(ctx, regions, func(ctx context.Context, region string) {
		b.recordRegion(ctx, region, images, idx[region], results, dryRun)
	})
	return results
}

func (b *Backend) recordRegion(ctx context.Context, region string, images []lifecycle.Image, idx []int, results []backend.Result, dryRun bool) {
	fail := func(i int, err error) { results[i].Err, results[i].Changed = err, false }
	ids := make([]string, 0, len(idx))
	for _, i := range idx {
		ids = append(ids, images[i].ID)
	}
	cur, err := b.reread(ctx, region, ids)
	if err != nil {
		for _, i := range idx {
			fail(i, fmt.Errorf("aws: record in %s: %w", region, err))
		}
		return
	}
	w := newTagWriter()
	var expire, stamped []int
	for _, i := range idx {
		img := images[i]
		c, ok := cur[img.ID]
		if !ok {
			fail(i, fmt.Errorf("aws: record %s: no such AMI owned by %s", img.Ref(), strings.Join(b.owners(), ", ")))
			continue
		}
		if m := c.Tags[lifecycle.TagManagedBy]; m != "" && m != b.opts.ManagedBy {
			fail(i, fmt.Errorf("aws: record %s: the AMI is managed by %q, not %q", img.Ref(), m, b.opts.ManagedBy))
			continue
		}
		pending := img.State == backend.StatePending
		out := img
		out.Snapshots, out.BuildTime, out.Owner, out.Managed = c.Snapshots, c.BuildTime, c.Owner, true
		out.DeprecationTime, out.Protected, out.Size, out.Description = c.DeprecationTime, c.Protected, c.Size, c.Description
		if s := c.Tags[lifecycle.TagStage]; s != "" && s != stagePending && lifecycle.IsManaged(c.Tags, b.opts.ManagedBy) {
			results[i].Image = c
			results[i].Note = fmt.Sprintf("recorded already as %s", s)
			continue
		}
		want := lifecycle.Tags(img, b.opts.ManagedBy)
		if pending {
			want[lifecycle.TagStage] = stagePending
		} else {
			want[lifecycle.TagStage] = string(lifecycle.StageActive)
		}
		want = nonEmpty(want)
		out.Tags = cloneTags(c.Tags)
		maps.Copy(out.Tags, want)
		out.State = c.State
		if pending && c.State == lifecycle.StateAvailable {
			out.State = backend.StatePending
		}
		if !pending {
			stamp, ok := lifecycle.Stamp(img, b.opts.ManagedBy)
			if !ok {
				fail(i, fmt.Errorf("aws: record %s: family, version and channel do not fit the %d characters of an AMI description, where the release is published for the accounts it is shared with: shorten them", img.Ref(), lifecycle.MaxDescription))
				continue
			}
			if d := lifecycle.StampedDescription(c.Description, stamp); d != c.Description {
				out.Description = d
				stamped = append(stamped, i)
				results[i].Changed = true
			}
		}
		results[i].Image = out
		if !subset(want, c.Tags) {
			results[i].Changed = true
			w.add(want, i, append([]string{img.ID}, c.Snapshots...))
		}
		if !pending && !img.ExpiresAt.IsZero() && c.DeprecationTime.IsZero() {
			results[i].Changed = true
			expire = append(expire, i)
		}
	}
	if dryRun {
		return
	}
	cl := b.client(region)
	w.flush(ctx, cl.ec2, func(i int, err error) { fail(i, fmt.Errorf("aws: record %s: %w", images[i].Ref(), err)) })
	// The stamp goes after the tags: an account the AMI is shared with
	// must never see a build as released before its owner does.
	for _, i := range stamped {
		if results[i].Err != nil {
			continue
		}
		d := results[i].Image.Description
		if _, err := cl.ec2.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(images[i].ID), Description: &types.AttributeValue{Value: aws.String(d)}}); err != nil {
			fail(i, fmt.Errorf("aws: record %s: publishing the release in its description: %w", images[i].Ref(), err))
		}
	}
	for _, i := range expire {
		if results[i].Err != nil {
			continue
		}
		at := images[i].ExpiresAt.UTC()
		if _, err := cl.ec2.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: aws.String(images[i].ID), DeprecateAt: aws.Time(at)}); err != nil {
			fail(i, fmt.Errorf("aws: record %s: EnableImageDeprecation at its expiry %s: %w", images[i].Ref(), at.Format(time.RFC3339), err))
			continue
		}
		results[i].Image.DeprecationTime = at
	}
}

// nonEmpty drops unset values: a new build has no stale tag to clear, and
// EC2 lists empty tags as clutter.
func nonEmpty(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// tagWriter batches tag writes: every item with the same tag set goes into
// CreateTags calls of up to 1,000 resources.
type tagWriter struct {
	mu    sync.Mutex // items of a region are carried out concurrently
	sets  map[string]map[string]string
	items map[string][]int
	res   map[string][][]string
}

func newTagWriter() *tagWriter {
	return &tagWriter{sets: map[string]map[string]string{}, items: map[string][]int{}, res: map[string][][]string{}}
}

func tagKey(tags map[string]string) string {
	keys := slices.Sorted(maps.Keys(tags))
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%q=%q;", k, tags[k])
	}
	return sb.String()
}

func (w *tagWriter) add(tags map[string]string, item int, resources []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := tagKey(tags)
	w.sets[k] = tags
	w.items[k] = append(w.items[k], item)
	w.res[k] = append(w.res[k], resources)
}

func (w *tagWriter) empty() bool { return len(w.sets) == 0 }

// flush writes every tag set; fail is called for each item of a call that
// failed. Sets, and the items of a set, are written in a fixed order, so
// runs are reproducible however the items were added.
func (w *tagWriter) flush(ctx context.Context, c tagger, fail func(item int, err error)) {
	keys := slices.Sorted(maps.Keys(w.sets))
	for _, k := range keys {
		var tags []types.Tag
		for _, tk := range slices.Sorted(maps.Keys(w.sets[k])) {
			tags = append(tags, types.Tag{Key: aws.String(tk), Value: aws.String(w.sets[k][tk])})
		}
		items, res := w.items[k], w.res[k]
		order := make([]int, len(items))
		for n := range order {
			order[n] = n
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(items[a], items[b]) })
		items, res = permute(items, order), permute(res, order)
		// Fill calls item by item, so an item's resources share one call.
		for start := 0; start < len(items); {
			end, n := start, 0
			for end < len(items) && (n+len(res[end]) <= maxTagResources || end == start) {
				n += len(res[end])
				end++
			}
			var ids []string
			for _, r := range res[start:end] {
				ids = append(ids, r...)
			}
			if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: tags}); err != nil {
				for _, i := range items[start:end] {
					fail(i, fmt.Errorf("CreateTags: %w", err))
				}
			}
			start = end
		}
	}
}

// permute is xs in the order of the indexes order.
func permute[T any](xs []T, order []int) []T {
	out := make([]T, len(xs))
	for n, k := range order {
		out[n] = xs[k]
	}
	return out
}

// Forget removes our tags from new builds that are still pending (AMI and
// snapshots): Packer deregisters the AMI of a failed run anyway, and an AMI
// it could not deregister must not stay behind as a release.
func (b *Backend) Forget(ctx context.Context, refs []lifecycle.Ref) []backend.Result {
	results := make([]backend.Result, len(refs))
	for i, r := range refs {
		results[i].Ref = r
	}
	regions, idx := backend.ByRegion(len(refs), func(i int) string { return refs[i].Region })
	var mu sync.Mutex
	b.eachRegion(ctx, regions, func(ctx context.Context, region string) {
		ids := make([]string, 0, len(idx[region]))
		for _, i := range idx[region] {
			ids = append(ids, refs[i].ID)
		}
		cur, err := b.reread(ctx, region, ids)
		if err != nil {
			mu.Lock()
			for _, i := range idx[region] {
				results[i].Err = fmt.Errorf("aws: forget in %s: %w", region, err)
			}
			mu.Unlock()
			return
		}
		var resources []string
		keys := map[string]bool{}
		var forgotten []int
		for _, i := range idx[region] {
			c, ok := cur[refs[i].ID]
			if !ok || c.Tags[lifecycle.TagStage] != stagePending || !lifecycle.IsManaged(c.Tags, b.opts.ManagedBy) {
				continue
			}
			for k := range c.Tags {
				if strings.HasPrefix(k, lifecycle.TagPrefix) {
					keys[k] = true
				}
			}
			resources = append(resources, c.ID)
			resources = append(resources, c.Snapshots...)
			forgotten = append(forgotten, i)
		}
		if len(forgotten) == 0 {
			return
		}
		var tags []types.Tag
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			tags = append(tags, types.Tag{Key: aws.String(k)})
		}
		sort.Strings(resources)
		var callErr error
		for chunk := range slices.Chunk(resources, maxTagResources) {
			if _, err := b.client(region).ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: chunk, Tags: tags}); err != nil {
				callErr = fmt.Errorf("aws: forget in %s: DeleteTags: %w", region, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, i := range forgotten {
			results[i].Changed, results[i].Err = callErr == nil, callErr
		}
	})
	return results
}
