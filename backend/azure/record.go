package azure

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Azure's tag limits (Microsoft.Resources): 50 tags a resource, names up
// to 512 characters without <>%&\?/, values up to 256.
const (
	maxTags     = 50
	maxTagName  = 512
	maxTagValue = 256
)

// CheckTagValue says why v cannot be the value of tag (for field).
func CheckTagValue(field, tag, v string) error {
	if n := utf8.RuneCountInString(v); n > maxTagValue {
		return fmt.Errorf("%s: %d characters, over the %d an Azure tag value (%s) holds", field, n, maxTagValue, tag)
	}
	return nil
}

// checkTags checks a whole tag set before it is written.
func checkTags(m map[string]string) error {
	if len(m) > maxTags {
		return fmt.Errorf("the version would have %d tags, over Azure's %d: remove some of its own", len(m), maxTags)
	}
	for k, v := range m {
		if utf8.RuneCountInString(k) > maxTagName || strings.ContainsAny(k, `<>%&\?/`) {
			return fmt.Errorf("tag name %q is not one Azure takes", clip(k))
		}
		if err := CheckTagValue("tag "+k, k, v); err != nil {
			return err
		}
	}
	return nil
}

// Record tags new builds: pending (stage tag "pending") first, then the
// release (stage active). A version recorded as a release already keeps
// its tags (a re-run, a second post-processor). With dryRun it only reads.
func (b *Backend) Record(ctx context.Context, images []lifecycle.Image, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(images))
	for i, img := range images {
		results[i].Ref, results[i].Image = img.Ref(), img
	}
	keys, idx := backend.ByRegion(len(images), func(i int) string { return images[i].Region })
	backend.Each(ctx, keys, b.opts.Parallel, func(ctx context.Context, key string) {
		for _, i := range idx[key] {
			results[i] = b.recordOne(ctx, images[i], dryRun)
		}
	})
	return results
}

func (b *Backend) recordOne(ctx context.Context, img lifecycle.Image, dryRun bool) backend.Result {
	r := backend.Result{Ref: img.Ref(), Image: img}
	fail := func(err error) backend.Result {
		r.Err, r.Changed = fmt.Errorf("azure: record %s: %w", img.Ref(), err), false
		return r
	}
	d, err := definition(img.Region)
	if err != nil {
		return fail(err)
	}
	v, ok, err := b.get(ctx, d, img.ID)
	switch {
	case err != nil:
		return fail(err)
	case !ok:
		return fail(fmt.Errorf("no such image version in %s", d.Key()))
	}
	c := b.image(d, v)
	if m := c.Tags[lifecycle.TagManagedBy]; m != "" && m != b.opts.ManagedBy {
		return fail(fmt.Errorf("the version is managed by %q, not %q", m, b.opts.ManagedBy))
	}
	pending := img.State == backend.StatePending
	out := img
	out.BuildTime, out.Owner, out.Managed, out.Size, out.Name = c.BuildTime, c.Owner, true, c.Size, c.Name
	out.DeprecationTime, out.State, out.Protected = c.DeprecationTime, c.State, c.Protected
	if pending && c.State == lifecycle.StateAvailable {
		out.State = backend.StatePending
	}
	if s := c.Tags[lifecycle.TagStage]; s != "" && s != stagePending && c.Managed {
		r.Image, r.Note = c, fmt.Sprintf("recorded already as %s", s)
		return r
	}
	want := lifecycle.Tags(img, b.opts.ManagedBy)
	want[lifecycle.TagStage] = string(lifecycle.StageActive)
	if pending {
		want[lifecycle.TagStage] = stagePending
	}
	for k, val := range want {
		if val == "" {
			delete(want, k) // a new build has no stale tag to clear
		}
	}
	next := cloneTags(c.Tags)
	maps.Copy(next, want)
	if err := checkTags(next); err != nil {
		return fail(err)
	}
	out.Tags = next
	r.Image = out
	if maps.Equal(next, c.Tags) {
		return r
	}
	r.Changed = true
	if !dryRun {
		if err := b.update(ctx, d, img.ID, armcompute.GalleryImageVersionUpdate{Tags: azureTags(next)}); err != nil {
			return fail(err)
		}
	}
	return r
}

// update PATCHes a version and waits for the operation. ARM replaces the
// tags as a whole and merges the publishing profile.
func (b *Backend) update(ctx context.Context, d Definition, version string, u armcompute.GalleryImageVersionUpdate) error {
	c, _, err := b.api()
	if err != nil {
		return err
	}
	p, err := c.versions.BeginUpdate(ctx, d.ResourceGroup, d.Gallery, d.Image, version, u, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: b.opts.Client.Poll})
	}
	if err != nil {
		return fmt.Errorf("updating the image version: %w", err)
	}
	return nil
}

// Forget removes our tags from new builds still pending: Packer deletes
// what a failed run built where it can, and a version it could not delete
// must not stay behind as a release.
func (b *Backend) Forget(ctx context.Context, refs []lifecycle.Ref) []backend.Result {
	results := make([]backend.Result, len(refs))
	for i, r := range refs {
		results[i].Ref = r
	}
	keys, idx := backend.ByRegion(len(refs), func(i int) string { return refs[i].Region })
	// Each item is written by the one goroutine of its definition.
	backend.Each(ctx, keys, b.opts.Parallel, func(ctx context.Context, key string) {
		for _, i := range idx[key] {
			changed, err := b.forgetOne(ctx, refs[i])
			results[i].Changed = changed
			if err != nil {
				results[i].Err = fmt.Errorf("azure: forget %s: %w", refs[i], err)
			}
		}
	})
	return results
}

// forgetOne removes our tags from one version if it is still pending.
func (b *Backend) forgetOne(ctx context.Context, ref lifecycle.Ref) (bool, error) {
	d, err := definition(ref.Region)
	if err != nil {
		return false, err
	}
	v, ok, err := b.get(ctx, d, ref.ID)
	if err != nil || !ok {
		return false, err
	}
	c := b.image(d, v)
	if c.Tags[lifecycle.TagStage] != stagePending || !c.Managed {
		return false, nil
	}
	next := map[string]string{}
	for k, val := range c.Tags {
		if !strings.HasPrefix(k, lifecycle.TagPrefix) {
			next[k] = val
		}
	}
	if err := b.update(ctx, d, ref.ID, armcompute.GalleryImageVersionUpdate{Tags: azureTags(next)}); err != nil {
		return false, err
	}
	return true, nil
}
