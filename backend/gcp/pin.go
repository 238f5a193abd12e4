package gcp

import (
	"context"
	"fmt"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var _ backend.Pinner = (*Backend)(nil)

// Pin writes the pin label on managed releases (`lifecycle-pin` = "true";
// unpinning removes it).
func (b *Backend) Pin(ctx context.Context, images []lifecycle.Image, pin, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(images))
	for i, img := range images {
		results[i].Ref, results[i].Image = img.Ref(), img
	}
	key := LabelKey(lifecycle.TagPin)
	projects, idx := backend.ByRegion(len(images), func(i int) string { return images[i].Region })
	b.eachProject(ctx, projects, func(ctx context.Context, project string) {
		for _, i := range idx[project] {
			r := &results[i]
			im, ok, err := b.get(ctx, project, images[i].ID)
			switch {
			case err != nil:
				r.Err = fmt.Errorf("gcp: pin %s: %w", images[i].Ref(), err)
				continue
			case !ok:
				r.Err = fmt.Errorf("gcp: pin %s: no such image in project %s", images[i].Ref(), project)
				continue
			}
			c := b.image(project, im)
			if !c.Managed {
				r.Err = fmt.Errorf("gcp: pin %s: the image is not managed (no %q marker)", c.Ref(), b.opts.ManagedBy)
				continue
			}
			c.Pinned = pin
			r.Image = c
			if (im.Labels[key] == "true") == pin {
				continue
			}
			r.Changed = true
			if dryRun {
				continue
			}
			err = b.setLabels(ctx, project, im, func(cur map[string]string) map[string]string {
				next := cloneTags(cur)
				delete(next, key)
				if pin {
					next[key] = "true"
				}
				return next
			})
			if err != nil {
				r.Err, r.Changed = fmt.Errorf("gcp: pin %s: %w", c.Ref(), err), false
			}
		}
	})
	return results
}
