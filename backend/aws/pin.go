package aws

import (
	"context"
	"fmt"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var _ backend.Pinner = (*Backend)(nil)

// Pin writes the pin tag on managed releases (`lifecycle:pin` = "true", or
// "" to unpin), one CreateTags per region.
func (b *Backend) Pin(ctx context.Context, images []lifecycle.Image, pin, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(images))
	for i, img := range images {
		results[i].Ref, results[i].Image = img.Ref(), img
	}
	regions, idx := backend.ByRegion(len(images), func(i int) string { return images[i].Region })
	value := ""
	if pin {
		value = "true"
	}
	b.eachRegion(ctx, regions, func(ctx context.Context, region string) {
		ids := make([]string, 0, len(idx[region]))
		for _, i := range idx[region] {
			ids = append(ids, images[i].ID)
		}
		cur, err := b.reread(ctx, region, ids)
		if err != nil {
			for _, i := range idx[region] {
				results[i].Err = fmt.Errorf("aws: pin in %s: %w", region, err)
			}
			return
		}
		w := newTagWriter()
		for _, i := range idx[region] {
			c, ok := cur[images[i].ID]
			switch {
			case !ok:
				results[i].Err = fmt.Errorf("aws: pin %s: no such AMI owned by the owners", images[i].Ref())
				continue
			case !c.Managed:
				results[i].Err = fmt.Errorf("aws: pin %s: the AMI is not managed (no %q marker)", c.Ref(), b.opts.ManagedBy)
				continue
			}
			c.Pinned = pin
			results[i].Image = c
			if (c.Tags[lifecycle.TagPin] == "true") == pin {
				continue
			}
			results[i].Changed = true
			if !dryRun {
				w.add(map[string]string{lifecycle.TagPin: value}, i, []string{c.ID})
			}
		}
		w.flush(ctx, b.client(region).ec2, func(i int, err error) {
			results[i].Err, results[i].Changed = fmt.Errorf("aws: pin %s: %w", images[i].Ref(), err), false
		})
	})
	return results
}
