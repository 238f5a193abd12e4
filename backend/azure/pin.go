package azure

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var (
	_ backend.Pinner = (*Backend)(nil)
	_ backend.Linker = (*Backend)(nil)
)

// Pin writes the pin tag on managed releases (`lifecycle:pin` = "true";
// unpinning removes it).
func (b *Backend) Pin(ctx context.Context, images []lifecycle.Image, pin, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(images))
	for i, img := range images {
		results[i].Ref, results[i].Image = img.Ref(), img
	}
	keys, idx := backend.ByRegion(len(images), func(i int) string { return images[i].Region })
	backend.Each(ctx, keys, b.opts.Parallel, func(ctx context.Context, key string) {
		for _, i := range idx[key] {
			r := &results[i]
			if err := b.pinOne(ctx, images[i], pin, dryRun, r); err != nil {
				r.Err, r.Changed = fmt.Errorf("azure: pin %s: %w", images[i].Ref(), err), false
			}
		}
	})
	return results
}

func (b *Backend) pinOne(ctx context.Context, img lifecycle.Image, pin, dryRun bool, r *backend.Result) error {
	d, err := definition(img.Region)
	if err != nil {
		return err
	}
	v, ok, err := b.get(ctx, d, img.ID)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("no such image version in %s", d.Key())
	}
	c := b.image(d, v)
	if !c.Managed {
		return fmt.Errorf("the version is not managed (no %q marker)", b.opts.ManagedBy)
	}
	c.Pinned = pin
	r.Image = c
	if (c.Tags[lifecycle.TagPin] == "true") == pin {
		return nil
	}
	r.Changed = true
	if dryRun {
		return nil
	}
	next := cloneTags(c.Tags)
	delete(next, lifecycle.TagPin)
	if pin {
		next[lifecycle.TagPin] = "true"
	}
	if err := checkTags(next); err != nil {
		return err
	}
	return b.update(ctx, d, img.ID, armcompute.GalleryImageVersionUpdate{Tags: azureTags(next)})
}

// SelfLink is the version's ARM id: what a VM's imageReference.id, the
// azure-arm builder's shared_image_gallery source and `az` take.
func (b *Backend) SelfLink(ref lifecycle.Ref) string {
	d, err := parseKey(ref.Region)
	if err != nil {
		return ""
	}
	return d.VersionID(b.Subscription(), ref.ID)
}
