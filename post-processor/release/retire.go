package release

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// run is one PostProcess: the shell around the planner. It gathers facts
// through the backend, lets lifecycle.Plan decide, carries the decisions
// out and reports. One failing image does not stop the others: every
// failure is reported and the run fails at the end. With dry_run every
// step runs as its dry-run twin.
type run struct {
	c      *Config
	policy lifecycle.Policy
	ui     packersdk.Ui
	be     backend.Backend
	now    time.Time
	rep    *report.Report
	fresh  []lifecycle.Image // the new build, as recorded
	marked []lifecycle.Image // what the new build's consequences changed, marked with it (see act)
	owners []string          // the accounts owning the family's managed images (AWS)
}

// clock is the run's time, for the backend.
func (r *run) clock() time.Time { return r.now }

// do runs the steps. The new build is recorded pending first and becomes a
// release only when everything else succeeded: a failed post-processor
// makes Packer destroy the artifact, so a failed run forgets it again.
func (r *run) do(ctx context.Context, source packersdk.Artifact) (err error) {
	if !r.c.Sweep {
		if err := r.record(ctx, source); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, r.finish(ctx, err)) }()
	}
	images, err := r.list(ctx)
	if err != nil {
		return err
	}
	if err := r.pin(ctx, images); err != nil {
		return err
	}
	decisions, independent, err := r.decide(ctx, images)
	if err != nil {
		return err
	}
	err = r.act(ctx, decisions, independent)
	return errors.Join(err, r.orphans(ctx))
}

// orphans reports, in a sweep, the storage the family's releases left
// behind (AWS snapshots no image refers to), for the owner to delete, and
// deletes it with delete_orphaned_snapshots. Looking never fails the run; a
// deletion that fails does.
func (r *run) orphans(ctx context.Context) error {
	o, ok := r.be.(backend.Orphaner)
	if !ok || !r.c.Sweep { // the weekly sweep looks; a build's run stays lean
		return nil
	}
	found, failed := o.Orphans(ctx, r.c.Family)
	for _, f := range failed {
		r.rep.OrphansUnknown = append(r.rep.OrphansUnknown, report.RegionFailure{Region: f.Region, Error: f.Err.Error()})
		r.ui.Error(fmt.Sprintf("Orphaned snapshots in %s could not be looked for: %v", f.Region, f.Err))
	}
	if len(found) == 0 {
		return nil
	}
	var bytes int64
	for _, s := range found {
		bytes += s.Bytes
	}
	d, deleting := o.(backend.OrphanDeleter)
	if !deleting || !r.c.DeleteOrphanedSnapshots {
		for _, s := range found {
			r.rep.OrphanedSnapshots = append(r.rep.OrphanedSnapshots, report.Orphan{Region: s.Region, ID: s.ID, Version: s.Version, Bytes: s.Bytes})
		}
		r.ui.Say(fmt.Sprintf("%d orphaned snapshot(s) of family %s, %d GiB: tagged by this plugin, no image refers to them any more; they are not deleted", len(found), r.c.Family, bytes>>30))
		for _, s := range found {
			r.ui.Message(fmt.Sprintf("orphaned %s:%s (release %s, %d GiB)", s.Region, s.ID, s.Version, s.Bytes>>30))
		}
		return nil
	}
	verb := "Deleting"
	if r.c.DryRun {
		verb = "Would delete"
	}
	r.ui.Say(fmt.Sprintf("%s %d orphaned snapshot(s) of family %s, %d GiB: tagged by this plugin, no image refers to them any more", verb, len(found), r.c.Family, bytes>>30))
	var errs []error
	for _, res := range d.DeleteOrphans(ctx, r.c.Family, found, r.c.DryRun) {
		e := report.Orphan{Region: res.Region, ID: res.ID, Version: res.Version, Bytes: res.Bytes, Note: res.Note}
		line := fmt.Sprintf("orphaned %s:%s (release %s, %d GiB): ", res.Region, res.ID, res.Version, res.Bytes>>30)
		switch {
		case res.Err != nil:
			e.Status, e.Error = "failed", res.Err.Error()
			r.ui.Error(line + "FAILED " + res.Err.Error())
			errs = append(errs, fmt.Errorf("orphaned snapshot %s:%s: %w", res.Region, res.ID, res.Err))
		case res.Deleted && r.c.DryRun:
			e.Status = report.StatusPlanned
			r.ui.Message(line + "would delete")
		case res.Deleted:
			e.Status = "deleted"
			r.rep.Summary.BytesReclaimed += res.Bytes
			r.ui.Message(line + "deleted")
		default:
			e.Status = "kept"
			r.ui.Message(line + res.Note)
		}
		r.rep.OrphanedSnapshots = append(r.rep.OrphanedSnapshots, e)
	}
	return errors.Join(errs...)
}

// record records the new build, pending until the run succeeds.
func (r *run) record(ctx context.Context, source packersdk.Artifact) error {
	c := r.c
	fresh, err := r.be.NewReleases(source, r.release())
	if err != nil {
		return err
	}
	verb := "Recording"
	if c.DryRun {
		verb = "Would record"
	}
	r.ui.Say(fmt.Sprintf("%s %s %s (%s) in the %s backend", verb, c.Family, c.Version, c.Channel, r.be.Name()))
	for i := range fresh {
		fresh[i].State = backend.StatePending
	}
	results := r.be.Record(ctx, fresh, c.DryRun)
	var errs []error
	for i, res := range results {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("recording %s %s: %w", c.Family, c.Version, res.Err))
			continue
		}
		fresh[i] = res.Image
		r.rep.NewBuild = append(r.rep.NewBuild, res.Ref.String())
		msg := "recorded " + show(res.Ref) + " (pending until this run succeeds)"
		if c.DryRun {
			msg = "would record " + show(res.Ref)
		}
		if res.Note != "" {
			msg += ": " + res.Note
		}
		r.ui.Message(msg)
	}
	if len(errs) > 0 {
		// What was recorded of a partly failed record must not stay.
		var done []lifecycle.Ref
		for _, res := range results {
			if res.Err == nil && !c.DryRun {
				done = append(done, res.Ref)
			}
		}
		errs = append(errs, backend.Errs(r.be.Forget(context.WithoutCancel(ctx), done))...)
		r.rep.NewBuildStatus = "not recorded: recording failed"
		return errors.Join(errs...)
	}
	r.fresh = fresh
	return nil
}

// release is the new build as the template describes it.
func (r *run) release() lifecycle.Image {
	c := r.c
	return lifecycle.Image{
		Name:       fmt.Sprintf("%s-%s", c.Family, c.Version),
		Family:     c.Family,
		Channel:    c.Channel,
		Version:    c.Version,
		BuildTime:  r.now,
		ReleasedAt: r.now,
		ExpiresAt:  r.policy.ExpiresAt(c.Channel, r.now),
		Stage:      lifecycle.StageActive,
		StageSince: r.now,
		State:      lifecycle.StateAvailable,
		Pinned:     c.Pin,
		Managed:    true,
		Parent:     c.Parent,
		Tags:       map[string]string{lifecycle.TagManagedBy: c.ManagedBy},
	}
}

// finish makes the new build a release when the run succeeded (runErr nil),
// and forgets it when it failed.
func (r *run) finish(ctx context.Context, runErr error) error {
	if len(r.fresh) == 0 {
		return nil
	}
	if r.c.DryRun {
		r.rep.NewBuildStatus = "would record"
		return nil
	}
	refs := make([]lifecycle.Ref, len(r.fresh))
	for i, img := range r.fresh {
		refs[i] = img.Ref()
	}
	if runErr != nil {
		r.rep.NewBuildStatus = "not recorded: the run failed, and Packer destroys the artifact of a failed post-processor"
		r.ui.Error(fmt.Sprintf("The new build %s is not recorded: the run failed, so Packer destroys its artifact. Fix the failures and build again.", strings.Join(r.rep.NewBuild, ", ")))
		err := errors.Join(backend.Errs(r.be.Forget(context.WithoutCancel(ctx), refs))...)
		r.fresh = nil
		return err
	}
	released := slices.Clone(r.fresh)
	for i := range released {
		released[i].State = lifecycle.StateAvailable
	}
	if err := errors.Join(backend.Errs(r.be.Record(context.WithoutCancel(ctx), released, false))...); err != nil {
		r.rep.NewBuildStatus = "pending: marking it released failed"
		return fmt.Errorf("marking the new build released: %w", err)
	}
	r.rep.NewBuildStatus = "recorded"
	for _, img := range released {
		r.ui.Message("released " + show(img.Ref()))
	}
	r.unmark(context.WithoutCancel(ctx))
	return nil
}

// show names an image for people: its id, with the region where there are
// regions.
func show(ref lifecycle.Ref) string {
	if ref.Region == "local" {
		return ref.ID
	}
	return ref.String()
}

// list lists the family. Regions that could not be listed are reported and
// nothing in them is decided; the new build joins the listing as the
// release it becomes when the run succeeds.
func (r *run) list(ctx context.Context) ([]lifecycle.Image, error) {
	r.ui.Say(fmt.Sprintf("Listing family %s", r.c.Family))
	// A revocation follows descendants into every family, and a restore
	// may undo one there.
	all := len(r.c.Revoke) > 0 || len(r.c.Restore) > 0
	if all {
		r.ui.Message("Every family is listed: a revocation follows descendants into other families, and a restore may undo one there")
	}
	listing, err := r.be.List(ctx, backend.Query{Family: r.c.Family, AllFamilies: all})
	if err != nil {
		return nil, fmt.Errorf("listing family %s: %w", r.c.Family, err)
	}
	for _, f := range listing.Failed {
		r.rep.FailedRegions = append(r.rep.FailedRegions, report.RegionFailure{Region: f.Region, Error: f.Err.Error()})
		r.ui.Error(fmt.Sprintf("Region %s could not be listed; nothing in it is decided: %v", f.Region, f.Err))
	}
	images := listing.Images
	// A mark naming a build in a region that could not be listed cannot
	// be checked, so it is not acted on (Plan takes an absent build as gone).
	if len(listing.Failed) > 0 {
		for i, img := range images {
			by := img.SupersededBy
			if by.ID != "" && (by.Region == "" || slices.ContainsFunc(listing.Failed, func(f backend.RegionError) bool { return f.Region == by.Region })) {
				images[i].SupersededBy = lifecycle.Ref{}
			}
		}
	}
	// The family's owners only: a revocation or restore lists every family.
	r.owners = owners(slices.DeleteFunc(append(slices.Clone(images), r.fresh...), func(img lifecycle.Image) bool { return img.Family != r.c.Family }), r.c.ManagedBy)
	for _, img := range r.fresh {
		img.State = lifecycle.StateAvailable
		if i := slices.IndexFunc(images, func(l lifecycle.Image) bool { return l.Ref() == img.Ref() }); i >= 0 {
			images[i].State = lifecycle.StateAvailable
		} else {
			images = append(images, img)
		}
	}
	return images, nil
}

// pin pins and unpins existing releases (pin_releases, unpin_releases)
// before the plan, which then sees them (a dry run too).
func (r *run) pin(ctx context.Context, images []lifecycle.Image) error {
	var errs []error
	for _, req := range []struct {
		name string
		ids  []string
		pin  bool
	}{{"pin_releases", r.c.PinReleases, true}, {"unpin_releases", r.c.UnpinReleases, false}} {
		if len(req.ids) == 0 {
			continue
		}
		p, ok := r.be.(backend.Pinner)
		if !ok {
			return fmt.Errorf("%s: the %s backend does not pin existing releases", req.name, r.be.Name())
		}
		var sel []int
		for _, want := range req.ids {
			ref := lifecycle.ParseRef(want)
			n := len(sel)
			for i, img := range images {
				if img.ID == ref.ID && (ref.Region == "" || ref.Region == img.Region) {
					sel = append(sel, i)
				}
			}
			if len(sel) == n {
				return fmt.Errorf("%s: no release %s in family %s", req.name, want, r.c.Family)
			}
		}
		batch := make([]lifecycle.Image, len(sel))
		for j, i := range sel {
			batch[j] = images[i]
		}
		verb, would := "pinned", "would pin"
		if !req.pin {
			verb, would = "unpinned", "would unpin"
		}
		for j, res := range p.Pin(ctx, batch, req.pin, r.c.DryRun) {
			if res.Err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", req.name, res.Err))
				continue
			}
			images[sel[j]].Pinned = req.pin
			switch {
			case !res.Changed:
				r.ui.Message(fmt.Sprintf("%s %s already", show(res.Ref), verb))
			case r.c.DryRun:
				r.ui.Message(fmt.Sprintf("%s %s", would, show(res.Ref)))
			default:
				r.ui.Message(fmt.Sprintf("%s %s", verb, show(res.Ref)))
			}
		}
	}
	return errors.Join(errs...)
}

// decide plans the family, or the requested restores or revocations
// (which ask about no usage: they follow the request, and deprecation
// stops no instance). With a new build it
// also plans the family as if there were none: the decisions both plans
// share do not depend on the new build (see act).
func (r *run) decide(ctx context.Context, images []lifecycle.Image) (plan, independent []lifecycle.Decision, err error) {
	if len(r.c.Restore) == 0 && len(r.c.Revoke) == 0 {
		usage := r.be.Usage(ctx, images)
		if usage == nil {
			usage = lifecycle.Usage{}
		}
		fresh := make([]lifecycle.Ref, len(r.fresh))
		for i, img := range r.fresh {
			fresh[i] = img.Ref()
		}
		without := slices.DeleteFunc(slices.Clone(images), func(img lifecycle.Image) bool { return slices.Contains(fresh, img.Ref()) })
		planBoth := func() {
			plan = lifecycle.Plan(images, usage, r.policy, r.now, fresh)
			if len(fresh) > 0 {
				independent = lifecycle.Plan(without, usage, r.policy, r.now, nil)
			}
		}
		planBoth()
		if r.otherUsage(ctx, usage, plan, independent) {
			planBoth() // more usage only keeps more
		}
		return plan, independent, nil
	}
	field, wanted := "restore", r.c.Restore
	if len(r.c.Revoke) > 0 {
		field, wanted = "revoke", r.c.Revoke
	}
	var refs []lifecycle.Ref
	for _, want := range wanted {
		ref := lifecycle.ParseRef(want)
		if !slices.ContainsFunc(images, func(img lifecycle.Image) bool {
			return img.ID == ref.ID && (ref.Region == "" || ref.Region == img.Region)
		}) {
			return nil, nil, fmt.Errorf("%s: no release %s in any family the backend covers", field, want)
		}
		refs = append(refs, ref)
	}
	if field == "revoke" {
		var names func(lifecycle.Image) []string
		if l, ok := r.be.(backend.Lineage); ok {
			names = l.ParentNames
		}
		return lifecycle.Revoke(images, refs, r.c.RevokeDescendants, r.c.RevokeReason, r.c.Family, r.policy.Owners, names, r.now), nil, nil
	}
	// The other families' releases that are not restored stay out of the report.
	return slices.DeleteFunc(lifecycle.Restore(images, refs, r.now), func(d lifecycle.Decision) bool {
		return d.Image.Family != r.c.Family && !slices.ContainsFunc(refs, func(ref lifecycle.Ref) bool {
			return d.Image.ID == ref.ID && (ref.Region == "" || ref.Region == d.Image.Region)
		})
	}), nil, nil
}

// otherUsage adds to usage what the backend finds only image by image
// (AWS: other accounts' use of shared AMIs), for the images the plans
// would disable or deregister, and says whether it found anything.
func (r *run) otherUsage(ctx context.Context, usage lifecycle.Usage, plans ...[]lifecycle.Decision) bool {
	o, ok := r.be.(backend.OtherUsage)
	if !ok {
		return false
	}
	var due []lifecycle.Image
	seen := map[lifecycle.Ref]bool{}
	for _, plan := range plans {
		for _, d := range plan {
			if (d.Action == lifecycle.ActionDisable || d.Action == lifecycle.ActionDeregister) && !seen[d.Image.Ref()] {
				seen[d.Image.Ref()] = true
				due = append(due, d.Image)
			}
		}
	}
	if len(due) == 0 {
		return false
	}
	more, lines := o.OtherUsage(ctx, due, r.c.DryRun)
	if len(lines) > 0 {
		r.ui.Say("Checking other accounts' use of shared images")
		for _, l := range lines {
			r.ui.Message(l)
		}
	}
	for ref, cs := range more {
		usage[ref] = append(usage[ref], cs...)
	}
	return len(more) > 0
}

// act carries the decisions out (or their dry-run twins) and reports each.
//
// A run that fails forgets its new build (Packer destroys it), so nothing
// may stay done because of that build: the decisions that the new build
// brings about (independent holds the plan without it) run only after all
// the others succeeded, and are undone (restored) if one of them fails. A
// dry run plans the same two batches, with the same context (so what it
// says, a GCP replacement for one, is what the real run does), and plans
// the second even when the first would fail.
func (r *run) act(ctx context.Context, decisions, independent []lifecycle.Decision) error {
	var first, second []int // indices into decisions, mutating only
	for i, d := range decisions {
		switch {
		case !d.Action.Mutates():
		case independent == nil || slices.ContainsFunc(independent, func(b lifecycle.Decision) bool {
			return b.Image.Ref() == d.Image.Ref() && b.Action == d.Action && b.Target() == d.Target()
		}):
			first = append(first, i)
		default:
			second = append(second, i)
		}
	}
	verb := "Retiring"
	if r.c.DryRun {
		verb = "Dry run: planning"
	}
	r.ui.Say(fmt.Sprintf("%s: %d of %d images to act on", verb, len(first)+len(second), len(decisions)))
	outcomes := make([]report.Outcome, len(decisions))
	// The first batch must not lean on the new build either: a deprecated
	// image points its users to a release the plan without it keeps.
	firstKept := kept(decisions)
	if independent != nil {
		firstKept = kept(independent)
	}
	// What the new build brings about is marked with it, so that if the
	// run is killed before it can undo that, a later run does (Plan, rule
	// 0); finish clears the marks once the build is a release. That
	// includes a stage a killed run left, which stands now only because
	// of the new build.
	for _, i := range second {
		d := &decisions[i]
		if d.Action == lifecycle.ActionDeprecate || d.Action == lifecycle.ActionDisable ||
			d.Action == lifecycle.ActionRecord && d.Image.SupersededBy.ID != "" {
			d.SupersededBy = r.markFor(d.Image)
		}
	}
	failed := r.apply(ctx, decisions, first, firstKept, outcomes)
	switch {
	case failed && !r.c.DryRun:
		for _, i := range second {
			outcomes[i] = report.Outcome{Note: "not carried out: an action failed, so the run fails and Packer destroys the new build this depended on", Skipped: true}
		}
	case r.apply(ctx, decisions, second, kept(decisions), outcomes) && !r.c.DryRun:
		r.undo(decisions, second, outcomes)
	default:
		for i, d := range decisions {
			switch {
			case slices.Contains(second, i) && d.SupersededBy.ID != "" && outcomes[i].Changed && outcomes[i].Err == nil:
				r.marked = append(r.marked, lifecycle.Apply(d.Image, d, r.now))
			case !d.Action.Mutates() && slices.ContainsFunc(r.fresh, d.Image.SupersededBy.Names):
				// Marked by a killed run of this very build (same name):
				// it is this run's to clear.
				r.marked = append(r.marked, d.Image)
			}
		}
	}
	r.forget(ctx, decisions, outcomes)
	for i, d := range decisions {
		r.rep.Add(d, r.now, outcomes[i])
	}
	for _, line := range r.rep.Details() {
		r.ui.Message(line)
	}
	for _, e := range r.rep.Decisions {
		if e.Status == report.StatusFailed {
			r.ui.Error(fmt.Sprintf("%s %s:%s failed: %s", e.Action, e.Region, e.ID, e.Error))
		}
	}
	r.ui.Say(r.rep.Totals())
	var errs []string
	if n := r.rep.Summary.Failed; n > 0 {
		errs = append(errs, fmt.Sprintf("%d of %d lifecycle actions failed", n, len(first)+len(second)))
	}
	if n := len(r.rep.FailedRegions); n > 0 {
		errs = append(errs, fmt.Sprintf("%d region(s) could not be listed", n))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s; see the report", strings.Join(errs, "; "))
	}
	return nil
}

// forget carries out the forget decisions (pending releases a stopped run
// left): Backend.Forget removes the plugin's metadata, so the image is no
// longer managed; nothing is deleted. A dry run only plans them.
func (r *run) forget(ctx context.Context, decisions []lifecycle.Decision, outcomes []report.Outcome) {
	var idx []int
	var refs []lifecycle.Ref
	for i, d := range decisions {
		if d.Action == lifecycle.ActionForget {
			idx, refs = append(idx, i), append(refs, d.Image.Ref())
		}
	}
	if len(refs) == 0 || r.c.DryRun {
		return
	}
	for j, res := range r.be.Forget(ctx, refs) {
		o := &outcomes[idx[j]]
		o.Err, o.Changed = res.Err, res.Changed // unchanged: released or gone meanwhile
		if o.Changed {
			o.Note = "forgotten: no longer managed; the image itself is untouched"
		}
	}
}

// markFor names the new build for img: its copy in img's region, else its
// first.
func (r *run) markFor(img lifecycle.Image) lifecycle.Ref {
	for _, f := range r.fresh {
		if f.Region == img.Region {
			return f.Ref()
		}
	}
	return r.fresh[0].Ref()
}

// unmark clears the marks act left, now that the new build is a release:
// a record of the stage each reached, with no marker. One that cannot be
// cleared is harmless while the build exists, and is said.
func (r *run) unmark(ctx context.Context) {
	if len(r.marked) == 0 {
		return
	}
	ds := make([]lifecycle.Decision, len(r.marked))
	for i, img := range r.marked {
		ds[i] = lifecycle.Decision{Image: img, Action: lifecycle.ActionRecord, To: img.Stage,
			Reason: "record: " + string(img.Stage) + ", the new build it was changed for is a release"}
	}
	for _, res := range r.be.Apply(ctx, ds, false) {
		if res.Err != nil {
			r.ui.Error(fmt.Sprintf("The mark of the new build on %s could not be cleared (harmless while the build exists; it is cleared when the image next changes stage): %v", show(res.Ref), res.Err))
		}
	}
}

// kept returns the decisions that keep an image: the context Apply is
// given with a batch (see backend.Backend).
func kept(ds []lifecycle.Decision) []lifecycle.Decision {
	var out []lifecycle.Decision
	for _, d := range ds {
		if d.Action == lifecycle.ActionKeep {
			out = append(out, d)
		}
	}
	return out
}

// apply carries out decisions[idx] as one batch, with the kept decisions
// as context, fills their outcomes and says whether any failed.
func (r *run) apply(ctx context.Context, decisions []lifecycle.Decision, idx []int, keep []lifecycle.Decision, outcomes []report.Outcome) bool {
	if len(idx) == 0 {
		return false
	}
	batch := make([]lifecycle.Decision, len(idx), len(idx)+len(keep))
	for j, i := range idx {
		batch[j] = decisions[i]
	}
	batch = append(batch, keep...)
	failed := false
	for j, res := range r.be.Apply(ctx, batch, r.c.DryRun)[:len(idx)] {
		outcomes[idx[j]] = report.Outcome{Changed: res.Changed, Note: res.Note, Err: res.Err}
		failed = failed || res.Err != nil
	}
	return failed
}

// undo restores what the decisions at idx did, after one of them failed:
// they depended on the new build, which the failed run forgets.
func (r *run) undo(decisions []lifecycle.Decision, idx []int, outcomes []report.Outcome) {
	var done []int
	var back []lifecycle.Decision
	for _, i := range idx {
		if outcomes[i].Err != nil || !outcomes[i].Changed {
			continue
		}
		d := decisions[i]
		img := lifecycle.Apply(d.Image, d, r.now)
		done = append(done, i)
		back = append(back, lifecycle.Decision{Image: img, Action: lifecycle.ActionRestore, To: lifecycle.StageActive,
			Reason: "restore: undoing " + string(d.Action) + " (the run failed and forgets the new build it depended on)"})
	}
	if len(back) == 0 {
		return
	}
	for j, res := range r.be.Apply(context.Background(), back, false) {
		o := &outcomes[done[j]]
		if res.Err != nil {
			o.Note = strings.TrimPrefix(o.Note+"; undoing it failed: "+res.Err.Error(), "; ")
			continue
		}
		o.Note, o.Undone = strings.TrimPrefix(o.Note+"; undone (restored): the run failed", "; "), true
	}
}
