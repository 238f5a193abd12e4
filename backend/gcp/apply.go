package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	compute "google.golang.org/api/compute/v1"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// testHookAfterAction, when set, runs after a Compute Engine action and
// before its stage is labelled; an error stands for a crash at the worst
// moment.
var testHookAfterAction func(ref lifecycle.Ref) error

// perProject bounds the images of one project acted on at once: Compute
// Engine's per-minute quotas (1,500 writes) allow more than one stream at
// its latency, and the images of a batch are independent (no shared
// snapshots as on EC2), so their order does not matter.
const perProject = 8

// Apply carries decisions out, projects in parallel and up to perProject
// images of a project at once:
//
//	deprecate   images.deprecate DEPRECATED, replacement the newest release
//	            the plan keeps active in the same project, family and channel
//	disable     images.deprecate OBSOLETE (no new disk or instance from it)
//	deregister  images.delete
//	restore     images.deprecate ACTIVE
//	record      no Compute Engine action: the stage labels only
//
// Each image is re-read (images.list by name) and, for disable and deregister, its
// usage looked up again right before acting, once for all projects (each
// lookup covers every project anyway); lifecycle.CheckTransition then
// decides whether the decision still holds. The action comes first, then
// setLabels records the stage (the action leaves the label fingerprint as
// it was, and a stale one is read again), so a crash in between converges
// on the re-run. Every mutation carries a requestId, so a call re-sent
// after a lost answer is applied once. With dryRun it checks the decisions
// against the images as listed and calls nothing.
func (b *Backend) Apply(ctx context.Context, ds []lifecycle.Decision, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(ds))
	var mut []int
	for i, d := range ds {
		results[i].Ref, results[i].Image = d.Image.Ref(), d.Image
		if d.Action.Mutates() {
			mut = append(mut, i)
		}
	}
	repl := replacements(ds, b.now())
	projects, idx := backend.ByRegion(len(mut), func(j int) string { return ds[mut[j]].Image.Region })
	items := map[string][]int{}
	for _, p := range projects {
		for _, j := range idx[p] {
			items[p] = append(items[p], mut[j])
		}
	}
	var mu sync.Mutex
	states := map[string]projectState{}
	b.eachProject(ctx, projects, func(ctx context.Context, project string) {
		st := b.current(ctx, project, ds, items[project], dryRun)
		mu.Lock()
		states[project] = st
		mu.Unlock()
	})
	var check []lifecycle.Image
	for _, p := range projects {
		check = append(check, states[p].check...)
	}
	usage := lifecycle.Usage{}
	if len(check) > 0 {
		usage = b.Usage(ctx, check)
	}
	b.eachProject(ctx, projects, func(ctx context.Context, project string) {
		b.applyProject(ctx, project, ds, items[project], results, repl, states[project], usage, dryRun)
	})
	return results
}

// replacements maps each (project, family, channel) to the newest release
// the plan keeps active there: what a deprecated image points its users to.
func replacements(ds []lifecycle.Decision, now time.Time) map[[3]string]lifecycle.Image {
	out := map[[3]string]lifecycle.Image{}
	for _, d := range ds {
		img := d.Image
		if d.Action != lifecycle.ActionKeep || !img.Managed || img.EffectiveStage(now) != lifecycle.StageActive ||
			(img.State != lifecycle.StateAvailable && img.State != backend.StatePending) {
			continue
		}
		k := [3]string{img.Region, img.Family, img.Channel}
		if cur, ok := out[k]; !ok || lifecycle.CompareVersions(img, cur) > 0 {
			out[k] = img
		}
	}
	return out
}

// projectState is what a project's images are right before acting.
type projectState struct {
	cur   map[string]lifecycle.Image // by name
	raw   map[string]*compute.Image
	check []lifecycle.Image // about to be disabled or deleted: usage to look up
	err   error
}

// hookMu serialises testHookAfterAction: items run concurrently.
var hookMu sync.Mutex

func (b *Backend) applyProject(ctx context.Context, project string, ds []lifecycle.Decision, items []int, results []backend.Result, repl map[[3]string]lifecycle.Image, st projectState, usage lifecycle.Usage, dryRun bool) {
	if err := ctx.Err(); err != nil {
		st.err = err
	}
	if st.err != nil {
		for _, i := range items {
			results[i].Err = st.err
		}
		return
	}
	sem := make(chan struct{}, perProject)
	var wg sync.WaitGroup
	for _, i := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b.applyOne(ctx, project, ds[i], &results[i], repl, st, usage, dryRun)
		}()
	}
	wg.Wait()
}

// applyOne carries out one decision; it writes r only.
func (b *Backend) applyOne(ctx context.Context, project string, d lifecycle.Decision, r *backend.Result, repl map[[3]string]lifecycle.Image, st projectState, usage lifecycle.Usage, dryRun bool) {
	if err := ctx.Err(); err != nil {
		r.Err = err
		return
	}
	now := b.now()
	c, found := st.cur[d.Image.ID]
	if !found {
		if d.Target() != lifecycle.StageDeregistered {
			r.Err = fmt.Errorf("gcp: %s %s: no such image in project %s (deleted, or never there)", d.Action, d.Image.Ref(), project)
			return
		}
		c = d.Image // gone: nothing is left to do or label
		c.State = lifecycle.StateDeregistered
	}
	gone := c.State == lifecycle.StateDeregistered
	err := lifecycle.CheckTransition(c, d, usage[c.Ref()], now)
	switch {
	case errors.Is(err, lifecycle.ErrAlreadyDone):
		if !gone && lifecycle.MarkerOnly(c, d) {
			r.Changed, r.Image = true, c
			r.Image.SupersededBy = d.SupersededBy
			if !dryRun {
				if err := b.writeLabels(ctx, project, st.raw[c.ID], map[string]string{lifecycle.TagSupersededBy: mark(d.SupersededBy)}); err != nil {
					r.Changed, r.Err = false, fmt.Errorf("gcp: %s %s: writing the marker: %w", d.Action, c.Ref(), err)
					return
				}
			}
			if !dryRun {
				r.Note, r.Err = b.replace(ctx, project, st.raw[c.ID], repl)
			}
			return
		}
		if gone || c.Stage == d.Target() {
			r.Image = c
			return
		}
		r.Changed, r.Note, r.Image = true, "found done, recorded", lifecycle.Apply(c, d, now)
		if !dryRun {
			if err := b.labelStage(ctx, project, st.raw[c.ID], r.Image); err != nil {
				r.Err = fmt.Errorf("gcp: %s %s: recording the stage: %w", d.Action, c.Ref(), err)
			}
		}
		return
	case err != nil:
		r.Err = fmt.Errorf("gcp: %w", err)
		return
	}
	r.Changed, r.Image = true, lifecycle.Apply(c, d, now)
	if d.Action == lifecycle.ActionRecord && gone {
		r.Changed = false // a deleted image cannot be labelled
		return
	}
	if dryRun {
		if rp, ok := repl[[3]string{project, c.Family, c.Channel}]; ok && d.Action == lifecycle.ActionDeprecate && rp.ID != c.ID {
			r.Note = "replacement " + rp.ID
		}
		return
	}
	// The marker goes first: a run killed right after the call leaves the
	// image marked with the build it was retired for (lifecycle.Plan, rule 0).
	if im, by := st.raw[c.ID], mark(d.SupersededBy); by != "" && d.Action != lifecycle.ActionRecord && (im == nil || im.Labels[LabelKey(lifecycle.TagSupersededBy)] != by) {
		if err := b.writeLabels(ctx, project, im, map[string]string{lifecycle.TagSupersededBy: by}); err != nil {
			r.Changed, r.Err = false, fmt.Errorf("gcp: %s %s: writing the marker: %w", d.Action, c.Ref(), err)
			return
		}
	}
	note, err := b.act(ctx, project, c, d, repl, now)
	if err != nil {
		r.Changed, r.Err = false, fmt.Errorf("gcp: %s %s: %w", d.Action, c.Ref(), err)
		return
	}
	r.Note = note
	hookMu.Lock()
	var herr error
	if testHookAfterAction != nil {
		herr = testHookAfterAction(c.Ref())
	}
	hookMu.Unlock()
	if herr != nil {
		r.Err = herr
		return
	}
	if d.Target() == lifecycle.StageDeregistered {
		return // the image is gone: there is nothing left to label
	}
	if err := b.labelStage(ctx, project, st.raw[c.ID], r.Image); err != nil {
		r.Err = fmt.Errorf("gcp: %s %s: carried out, but recording the stage failed (a re-run records it): %w", d.Action, c.Ref(), err)
		return
	}
	if d.Action == lifecycle.ActionRecord && c.SupersededBy != r.Image.SupersededBy {
		note, err := b.replace(ctx, project, st.raw[c.ID], repl)
		if r.Err = err; note != "" {
			r.Note = strings.TrimPrefix(r.Note+"; "+note, "; ")
		}
	}
}

// current returns the items' images as they are now (converted and raw)
// and those about to be disabled or deleted, whose usage is looked up
// again. A dry run takes them from the listing it planned on and calls
// nothing.
func (b *Backend) current(ctx context.Context, project string, ds []lifecycle.Decision, items []int, dryRun bool) projectState {
	st := projectState{cur: map[string]lifecycle.Image{}}
	if dryRun {
		for _, i := range items {
			st.cur[ds[i].Image.ID] = ds[i].Image
		}
		return st
	}
	names := make([]string, len(items))
	for k, i := range items {
		names[k] = ds[i].Image.ID
	}
	raw, err := b.reread(ctx, project, names)
	if err != nil {
		st.err = fmt.Errorf("gcp: re-reading project %s: %w", project, err)
		return st
	}
	st.raw = raw
	for name, im := range raw {
		st.cur[name] = b.image(project, im)
	}
	for _, i := range items {
		if a := ds[i].Action; a == lifecycle.ActionDisable || a == lifecycle.ActionDeregister {
			if c, ok := st.cur[ds[i].Image.ID]; ok {
				st.check = append(st.check, c)
			}
		}
	}
	return st
}

// labelStage writes the stage labels of img on the image, with its marker
// (cleared when img has none).
func (b *Backend) labelStage(ctx context.Context, project string, im *compute.Image, img lifecycle.Image) error {
	all := lifecycle.Tags(img, "")
	return b.writeLabels(ctx, project, im, map[string]string{
		lifecycle.TagStage: all[lifecycle.TagStage], lifecycle.TagStageSince: all[lifecycle.TagStageSince],
		lifecycle.TagSupersededBy: mark(img.SupersededBy),
	})
}

// mark is the marker label's value: the build's image name alone, as a
// project and ':' may not fit in a label value; a marker without a region
// names the build in any project (see lifecycle.Ref).
func mark(by lifecycle.Ref) string { return by.ID }

// writeLabels writes tags (an empty value removes the label) over the
// image's labels, keeping the others.
func (b *Backend) writeLabels(ctx context.Context, project string, im *compute.Image, tags map[string]string) error {
	if im == nil {
		return fmt.Errorf("the image is gone")
	}
	want, err := Labels(tags)
	if err != nil {
		return err
	}
	return b.setLabels(ctx, project, im, func(cur map[string]string) map[string]string {
		next := cloneTags(cur)
		for k, v := range want {
			if v == "" {
				delete(next, k)
			} else {
				next[k] = v
			}
		}
		return next
	})
}

// replace points a deprecated image whose stage now stands without the
// build it was deprecated for (lifecycle.Plan, rule 0) to the newest
// release instead: that build's image is likely deleted.
func (b *Backend) replace(ctx context.Context, project string, im *compute.Image, repl map[[3]string]lifecycle.Image) (string, error) {
	if im == nil || im.Deprecated == nil || im.Deprecated.State != stateDeprecated {
		return "", nil
	}
	img := b.image(project, im)
	rp, ok := repl[[3]string{project, img.Family, img.Channel}]
	if !ok || rp.ID == im.Name || im.Deprecated.Replacement == b.selfLink(project, rp.ID) {
		return "", nil
	}
	status := &compute.DeprecationStatus{State: stateDeprecated, Deprecated: im.Deprecated.Deprecated, Replacement: b.selfLink(project, rp.ID)}
	op, err := b.svc.Images.Deprecate(project, im.Name, status).RequestId(uuid.NewString()).Context(ctx).Do()
	if err == nil {
		err = b.wait(ctx, project, op)
	}
	if err != nil {
		return "", fmt.Errorf("gcp: pointing %s to its replacement %s: images.deprecate: %w", im.Name, rp.ID, err)
	}
	return "replacement " + rp.ID, nil
}

// act makes the Compute Engine calls of one decision and returns a note.
func (b *Backend) act(ctx context.Context, project string, img lifecycle.Image, d lifecycle.Decision, repl map[[3]string]lifecycle.Image, now time.Time) (string, error) {
	var status *compute.DeprecationStatus
	note := ""
	stamp := now.UTC().Format(time.RFC3339)
	switch d.Action {
	case lifecycle.ActionDeprecate:
		status = &compute.DeprecationStatus{State: stateDeprecated, Deprecated: stamp}
		if rp, ok := repl[[3]string{project, img.Family, img.Channel}]; ok && rp.ID != img.ID {
			status.Replacement = b.selfLink(project, rp.ID)
			note = "replacement " + rp.ID
		}
	case lifecycle.ActionDisable:
		status = &compute.DeprecationStatus{State: stateObsolete, Obsolete: stamp}
		if !img.DeprecationTime.IsZero() {
			status.Deprecated = img.DeprecationTime.UTC().Format(time.RFC3339)
		}
	case lifecycle.ActionRestore:
		status = &compute.DeprecationStatus{State: stateActive}
	case lifecycle.ActionDeregister:
		op, err := b.svc.Images.Delete(project, img.ID).RequestId(uuid.NewString()).Context(ctx).Do()
		if isNotFound(err) {
			return "found deleted", nil // most likely this very call, whose answer was lost
		}
		if err == nil {
			err = b.wait(ctx, project, op)
		}
		if err != nil {
			return "", fmt.Errorf("images.delete: %w", err)
		}
		return fmt.Sprintf("deleted (%d bytes archived)", img.Size), nil
	default:
		return "", nil // record: the stage labels only
	}
	op, err := b.svc.Images.Deprecate(project, img.ID, status).RequestId(uuid.NewString()).Context(ctx).Do()
	if err == nil {
		err = b.wait(ctx, project, op)
	}
	if err != nil {
		return "", fmt.Errorf("images.deprecate %s: %w", status.State, err)
	}
	return note, nil
}

// SelfLink is an image's URL, as Compute Engine writes it.
func (b *Backend) SelfLink(ref lifecycle.Ref) string { return b.selfLink(ref.Region, ref.ID) }

// selfLink is an image's URL as Compute Engine writes replacements.
func (b *Backend) selfLink(project, name string) string {
	return b.svc.BasePath + "projects/" + project + "/global/images/" + name
}
