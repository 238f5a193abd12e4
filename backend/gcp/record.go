package gcp

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/google/uuid"
	compute "google.golang.org/api/compute/v1"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// fingerprintRetries bounds how often a label write is re-read and tried
// again when another writer changed the labels in between (412).
const fingerprintRetries = 5

// Record labels new builds: pending (stage label "pending") first, then
// the release (stage active), and once released puts an image without a
// Compute Engine family into the lifecycle family, so getFromFamily finds
// it. The family goes last: nobody may get a build from the family before
// it is a release. An image recorded as a release already keeps its labels
// (a re-run, a second post-processor). With dryRun it only reads.
func (b *Backend) Record(ctx context.Context, images []lifecycle.Image, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(images))
	for i, img := range images {
		results[i].Ref, results[i].Image = img.Ref(), img
	}
	projects, idx := backend.ByRegion(len(images), func(i int) string { return images[i].Region })
	b.eachProject(ctx, projects, func(ctx context.Context, project string) {
		for _, i := range idx[project] {
			results[i] = b.recordOne(ctx, images[i], dryRun)
		}
	})
	return results
}

func (b *Backend) recordOne(ctx context.Context, img lifecycle.Image, dryRun bool) backend.Result {
	r := backend.Result{Ref: img.Ref(), Image: img}
	fail := func(err error) backend.Result {
		r.Err, r.Changed = fmt.Errorf("gcp: record %s: %w", img.Ref(), err), false
		return r
	}
	im, ok, err := b.get(ctx, img.Region, img.ID)
	switch {
	case err != nil:
		return fail(err)
	case !ok:
		return fail(fmt.Errorf("no such image in project %s", img.Region))
	}
	c := b.image(img.Region, im)
	if m := c.Tags[lifecycle.TagManagedBy]; m != "" && m != b.opts.ManagedBy {
		return fail(fmt.Errorf("the image is managed by %q, not %q", m, b.opts.ManagedBy))
	}
	pending := img.State == backend.StatePending
	out := img
	out.BuildTime, out.Owner, out.Managed, out.Size, out.Description = c.BuildTime, c.Owner, true, c.Size, c.Description
	out.DeprecationTime, out.State = c.DeprecationTime, c.State
	if pending && c.State == lifecycle.StateAvailable {
		out.State = backend.StatePending
	}
	if s := c.Tags[lifecycle.TagStage]; s != "" && s != stagePending && c.Managed {
		r.Image, r.Note = c, fmt.Sprintf("recorded already as %s", s)
	} else {
		want := lifecycle.Tags(img, b.opts.ManagedBy)
		want[lifecycle.TagStage] = string(lifecycle.StageActive)
		if pending {
			want[lifecycle.TagStage] = stagePending
		}
		for k, v := range want {
			if v == "" {
				delete(want, k) // a new build has no stale label to clear
			}
		}
		labels, err := Labels(want)
		if err != nil {
			return fail(err)
		}
		out.Tags = cloneTags(c.Tags)
		maps.Copy(out.Tags, want)
		r.Image = out
		if !subset(labels, im.Labels) {
			r.Changed = true
			if !dryRun {
				if err := b.setLabels(ctx, img.Region, im, func(cur map[string]string) map[string]string {
					next := cloneTags(cur)
					maps.Copy(next, labels)
					return next
				}); err != nil {
					return fail(err)
				}
			}
		}
	}
	// Into the family once released (also when a crash came between the
	// labels and this).
	if !pending && im.Family == "" && r.Image.Managed && nameRE.MatchString(r.Image.Family) {
		r.Changed = true
		if !dryRun {
			op, err := b.svc.Images.Patch(img.Region, img.ID, &compute.Image{Family: r.Image.Family}).RequestId(uuid.NewString()).Context(ctx).Do()
			if err == nil {
				err = b.wait(ctx, img.Region, op)
			}
			if err != nil {
				return fail(fmt.Errorf("setting its family %s: images.patch: %w", r.Image.Family, err))
			}
		}
		r.Note = strings.TrimPrefix(r.Note+"; family set to "+r.Image.Family, "; ")
	}
	return r
}

// setLabels writes the labels mutate makes of the current ones, with the
// label fingerprint Compute Engine checks: when another writer changed
// them in between (412), it reads them again and retries.
func (b *Backend) setLabels(ctx context.Context, project string, im *compute.Image, mutate func(map[string]string) map[string]string) error {
	for attempt := 1; ; attempt++ {
		next := mutate(im.Labels)
		if len(next) > maxLabels {
			return fmt.Errorf("the image would have %d labels, over Compute Engine's %d: remove some of its own", len(next), maxLabels)
		}
		if maps.Equal(next, im.Labels) {
			return nil
		}
		op, err := b.svc.Images.SetLabels(project, im.Name, &compute.GlobalSetLabelsRequest{
			Labels: next, LabelFingerprint: im.LabelFingerprint,
		}).Context(ctx).Do()
		if err == nil {
			return b.wait(ctx, project, op)
		}
		if !isConflict(err) || attempt >= fingerprintRetries {
			return fmt.Errorf("images.setLabels: %w", err)
		}
		cur, ok, gerr := b.get(ctx, project, im.Name)
		if gerr != nil {
			return gerr
		}
		if !ok {
			return fmt.Errorf("images.setLabels: the image is gone")
		}
		im = cur
	}
}

// wait waits for a global operation to end and returns its error.
func (b *Backend) wait(ctx context.Context, project string, op *compute.Operation) error {
	for op.Status != "DONE" {
		var err error
		// Wait returns when the operation is done or after about two
		// minutes, so it is called until done.
		if op, err = b.svc.GlobalOperations.Wait(project, op.Name).Context(ctx).Do(); err != nil {
			return fmt.Errorf("globalOperations.wait: %w", err)
		}
	}
	if op.Error != nil && len(op.Error.Errors) > 0 {
		var msgs []string
		for _, e := range op.Error.Errors {
			msgs = append(msgs, fmt.Sprintf("%s: %s", e.Code, e.Message))
		}
		return fmt.Errorf("operation %s: %s", op.Name, strings.Join(msgs, "; "))
	}
	return nil
}

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// Forget removes our labels from new builds still pending: Packer deletes
// the image of a failed run anyway, and one it could not delete must not
// stay behind as a release.
func (b *Backend) Forget(ctx context.Context, refs []lifecycle.Ref) []backend.Result {
	results := make([]backend.Result, len(refs))
	for i, r := range refs {
		results[i].Ref = r
	}
	projects, idx := backend.ByRegion(len(refs), func(i int) string { return refs[i].Region })
	var mu sync.Mutex
	b.eachProject(ctx, projects, func(ctx context.Context, project string) {
		for _, i := range idx[project] {
			im, ok, err := b.get(ctx, project, refs[i].ID)
			if err == nil && ok {
				c := b.image(project, im)
				if c.Tags[lifecycle.TagStage] != stagePending || !c.Managed {
					continue
				}
				err = b.setLabels(ctx, project, im, func(cur map[string]string) map[string]string {
					next := map[string]string{}
					for k, v := range cur {
						if !strings.HasPrefix(k, labelPrefix) {
							next[k] = v
						}
					}
					return next
				})
			}
			mu.Lock()
			if err != nil {
				results[i].Err = fmt.Errorf("gcp: forget %s: %w", refs[i], err)
			} else if ok {
				results[i].Changed = true
			}
			mu.Unlock()
		}
	})
	return results
}
