package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// testHookAfterAction, when set, runs after an EC2 action and before its
// stage is tagged; an error stands for a crash at the worst moment.
var testHookAfterAction func(ref lifecycle.Ref) error

// Apply carries decisions out, regions in parallel and up to perRegion
// decisions of a region at once until EC2 throttles there, then one at a
// time (applyRegion says how order is kept):
//
//	deprecate   EnableImageDeprecation(now)
//	disable     save the launch permissions in a tag, then DisableImage
//	deregister  DeregisterImage, with DeleteAssociatedSnapshots when every
//	            snapshot may go, else DeleteSnapshot for those that may
//	restore     EnableImage, launch permissions back, DisableImageDeprecation
//	record      no EC2 call: the stage tag only
//
// Each image is re-read (one DescribeImages per region) and, for disable
// and deregister, its usage looked up again right before acting; then
// lifecycle.CheckTransition decides whether the decision still holds. The
// EC2 action comes first, then one CreateTags per region and stage records
// the stages, so a crash in between converges on the re-run. With dryRun
// it checks the decisions against the images as listed and calls nothing.
func (b *Backend) Apply(ctx context.Context, ds []lifecycle.Decision, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(ds))
	var mut []int
	for i, d := range ds {
		results[i].Ref, results[i].Image = d.Image.Ref(), d.Image
		if d.Action.Mutates() {
			mut = append(mut, i)
		}
	}
	regions, idx := backend.ByRegion(len(mut), func(j int) string { return ds[mut[j]].Image.Region })
	b.eachRegion(ctx, regions, func(ctx context.Context, region string) {
		items := make([]int, len(idx[region]))
		for k, j := range idx[region] {
			items[k] = mut[j]
		}
		b.applyRegion(ctx, region, ds, items, results, dryRun)
	})
	return results
}

// hookMu serialises testHookAfterAction: items run concurrently.
var hookMu sync.Mutex

// applyRegion carries out a region's decisions, up to perRegion at once,
// started in plan order. Order does not matter to the plan's guarantees
// (each decision is checked alone, by CheckTransition on the re-read,
// against usage looked up for it) but for one thing: a snapshot shared by
// images this plan deregisters is listed by the last of them only, and
// deleting it while another image still refers to it fails. So a
// deregister that deletes snapshots waits for every earlier decision of
// an image holding one of them (waitFor).
func (b *Backend) applyRegion(ctx context.Context, region string, ds []lifecycle.Decision, items []int, results []backend.Result, dryRun bool) {
	if err := ctx.Err(); err != nil {
		for _, i := range items {
			results[i].Err = err
		}
		return
	}
	cur, usage, err := b.current(ctx, region, ds, items, dryRun)
	if err != nil {
		for _, i := range items {
			results[i].Err = err
		}
		return
	}
	now := b.now()
	rc := b.client(region)
	cl := rc.ec2
	w := newTagWriter()
	after := waitFor(ds, items, cur)
	done := make(map[int]chan struct{}, len(items))
	for _, i := range items {
		done[i] = make(chan struct{})
	}
	rc.inFlight(len(items), func(k int) {
		i := items[k]
		defer close(done[i])
		for _, j := range after[i] {
			<-done[j] // started before i: inFlight starts in order
		}
		b.applyOne(ctx, cl, ds[i], i, &results[i], cur, usage, now, w, dryRun)
	})
	if !w.empty() {
		w.flush(ctx, cl, func(i int, err error) {
			results[i].Err = fmt.Errorf("aws: %s %s: carried out, but recording the stage failed (a re-run records it): %w", ds[i].Action, ds[i].Image.Ref(), err)
		})
	}
}

// waitFor maps each deregister that deletes snapshots to the earlier items
// whose images hold one of those snapshots: they must be done first.
func waitFor(ds []lifecycle.Decision, items []int, cur map[string]lifecycle.Image) map[int][]int {
	snaps := func(i int) []string {
		if c, ok := cur[ds[i].Image.ID]; ok {
			return c.Snapshots
		}
		return ds[i].Image.Snapshots
	}
	out := map[int][]int{}
	for k, i := range items {
		d := ds[i]
		if d.Action != lifecycle.ActionDeregister || !d.DeleteSnapshots {
			continue
		}
		del := d.Snapshots
		if del == nil {
			del = snaps(i)
		}
		for _, j := range items[:k] {
			if slices.ContainsFunc(snaps(j), func(s string) bool { return slices.Contains(del, s) }) {
				out[i] = append(out[i], j)
			}
		}
	}
	return out
}

// applyOne carries out one decision; it writes r and adds to w only.
func (b *Backend) applyOne(ctx context.Context, cl ec2Client, d lifecycle.Decision, i int, r *backend.Result, cur map[string]lifecycle.Image, usage lifecycle.Usage, now time.Time, w *tagWriter, dryRun bool) {
	if err := ctx.Err(); err != nil {
		r.Err = err
		return
	}
	c, found := cur[d.Image.ID]
	if !found {
		if d.Target() != lifecycle.StageDeregistered {
			r.Err = fmt.Errorf("aws: %s %s: no such AMI owned by %s (deregistered, or never there)", d.Action, d.Image.Ref(), strings.Join(b.owners(), ", "))
			return
		}
		// Gone: nothing can be tagged, nothing is left to do.
		c = d.Image
		c.State, c.Snapshots = lifecycle.StateDeregistered, nil
	}
	gone := c.State == lifecycle.StateDeregistered
	err := lifecycle.CheckTransition(c, d, usage[c.Ref()], now)
	switch {
	case errors.Is(err, lifecycle.ErrAlreadyDone):
		if !gone && lifecycle.MarkerOnly(c, d) {
			r.Changed, r.Image = true, c
			r.Image.SupersededBy = d.SupersededBy
			if !dryRun {
				w.add(map[string]string{lifecycle.TagSupersededBy: d.SupersededBy.String()}, i, []string{c.ID})
			}
			return
		}
		if gone || c.Stage == d.Target() {
			r.Image = c
			return
		}
		r.Changed, r.Note, r.Image = true, "found done, recorded", lifecycle.Apply(c, d, now)
		if !dryRun {
			w.add(stageTags(c, r.Image), i, []string{c.ID})
		}
		return
	case err != nil:
		r.Err = fmt.Errorf("aws: %w", err)
		return
	}
	r.Changed, r.Image = true, lifecycle.Apply(c, d, now)
	if d.Action == lifecycle.ActionRecord && gone {
		r.Changed = false // a gone AMI cannot be tagged
		return
	}
	if dryRun {
		return
	}
	if by := d.SupersededBy.String(); by != "" && c.SupersededBy != d.SupersededBy && d.Action != lifecycle.ActionRecord { // a record makes no EC2 call
		// Marked before the EC2 call: a kill between the two leaves
		// the mark, and a later run undoes the change if the new build
		// never became a release (lifecycle.Plan, rule 0).
		if _, err := cl.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{c.ID},
			Tags: []types.Tag{{Key: aws.String(lifecycle.TagSupersededBy), Value: aws.String(by)}}}); err != nil {
			r.Changed, r.Err = false, fmt.Errorf("aws: %s %s: marking it with the new build: %w", d.Action, c.Ref(), err)
			return
		}
	}
	note, extra, err := b.act(ctx, cl, c, d, now)
	if err != nil {
		r.Changed, r.Err = false, fmt.Errorf("aws: %s %s: %w", d.Action, c.Ref(), err)
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
		return // the AMI is gone: there is nothing left to tag
	}
	tags := stageTags(c, r.Image)
	for k, v := range extra {
		tags[k] = v
	}
	w.add(tags, i, []string{c.ID})
}

// current returns the items' images as they are now and, for those about
// to be disabled or deregistered, who uses them now. A dry run takes both
// from the listing it planned on: it changes nothing, so reading again
// moments later could only show a race, at the cost of a second read of
// every image (a third of a sweep's calls).
func (b *Backend) current(ctx context.Context, region string, ds []lifecycle.Decision, items []int, dryRun bool) (map[string]lifecycle.Image, lifecycle.Usage, error) {
	if dryRun {
		cur := map[string]lifecycle.Image{}
		for _, i := range items {
			cur[ds[i].Image.ID] = ds[i].Image
		}
		return cur, lifecycle.Usage{}, nil
	}
	ids := make([]string, len(items))
	for k, i := range items {
		ids[k] = ds[i].Image.ID
	}
	cur, err := b.reread(ctx, region, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("aws: re-reading %s: %w", region, err)
	}
	var check []lifecycle.Image
	for _, i := range items {
		if a := ds[i].Action; a == lifecycle.ActionDisable || a == lifecycle.ActionDeregister {
			if c, ok := cur[ds[i].Image.ID]; ok {
				check = append(check, c)
			}
		}
	}
	usage := lifecycle.Usage{}
	if len(check) > 0 {
		usage = b.Usage(ctx, check)
	}
	return cur, usage, nil
}

// stageTags are the tags a stage change from cur to next writes: the
// new-build mark too where either has one (so a restore clears it).
func stageTags(cur, next lifecycle.Image) map[string]string {
	all := lifecycle.Tags(next, "")
	tags := map[string]string{lifecycle.TagStage: all[lifecycle.TagStage], lifecycle.TagStageSince: all[lifecycle.TagStageSince]}
	if cur.SupersededBy.ID != "" || next.SupersededBy.ID != "" {
		tags[lifecycle.TagSupersededBy] = next.SupersededBy.String()
	}
	return tags
}

// act makes the EC2 calls of one decision and returns a note for the
// report and extra tags to write with the stage.
func (b *Backend) act(ctx context.Context, cl ec2Client, img lifecycle.Image, d lifecycle.Decision, now time.Time) (string, map[string]string, error) {
	id := aws.String(img.ID)
	switch d.Action {
	case lifecycle.ActionDeprecate:
		// EC2 takes whole minutes, strictly in the future of its own
		// clock when the call arrives: a whole minute at least after now,
		// moved on by how long the run has lasted (now is the run's start,
		// and deprecating a thousand images at EC2's 5 calls a second takes
		// minutes). The next minute alone fails the calls made in the last
		// moments of a minute. The stage tag makes the image deprecated for
		// the planner now.
		at := ceilMinute(now.Add(b.lasted() + time.Minute))
		_, err := cl.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: id, DeprecateAt: aws.Time(at)})
		return "", nil, wrap("EnableImageDeprecation", err)

	case lifecycle.ActionDisable:
		// EC2 drops the launch permissions of a disabled image and
		// EnableImage does not give them back: save them first, as this
		// run's usage check read them (permsFresh) or read now.
		lp, ok := b.recentPerms(img.Ref())
		if !ok {
			attr, err := cl.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: id, Attribute: types.ImageAttributeNameLaunchPermission})
			if err != nil {
				return "", nil, wrap("DescribeImageAttribute", err)
			}
			lp = attr.LaunchPermissions
		}
		var extra map[string]string
		if perms := formatPerms(lp); perms != "" {
			if len(perms) > 256 {
				return "", nil, fmt.Errorf("its launch permissions (%d characters) do not fit in a tag to be restored later; remove some, or disable it by hand", len(perms))
			}
			// Written before DisableImage: a crash in between loses nothing.
			if _, err := cl.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{img.ID}, Tags: []types.Tag{{Key: aws.String(TagLaunchPermissions), Value: aws.String(perms)}}}); err != nil {
				return "", nil, wrap("CreateTags", err)
			}
		}
		_, err := cl.DisableImage(ctx, &ec2.DisableImageInput{ImageId: id})
		return "", extra, wrap("DisableImage", err)

	case lifecycle.ActionDeregister:
		if img.State == lifecycle.StateDeregistered {
			// Deregistered already (a crash, a re-run): finish deleting
			// the snapshots that may go; one already gone is done.
			return deleteSnapshots(ctx, cl, img, d), nil, nil
		}
		all := d.DeleteSnapshots && (d.Snapshots == nil || !slices.ContainsFunc(img.Snapshots, func(s string) bool { return !slices.Contains(d.Snapshots, s) }))
		out, err := cl.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: id, DeleteAssociatedSnapshots: aws.Bool(all && len(img.Snapshots) > 0)})
		if isGone(err) {
			// Deregistered since the re-read: most likely by this very
			// call, whose answer was lost and which the SDK sent again.
			// Finish as after a crash: the snapshots that may go.
			img.State = lifecycle.StateDeregistered
			return strings.TrimSuffix("found deregistered; "+deleteSnapshots(ctx, cl, img, d), "; "), nil, nil
		}
		if err != nil {
			return "", nil, wrap("DeregisterImage", err)
		}
		var notes []string
		for _, r := range out.DeleteSnapshotResults {
			notes = append(notes, fmt.Sprintf("%s %s", aws.ToString(r.SnapshotId), r.ReturnCode))
		}
		if d.DeleteSnapshots && !all {
			// Only those no kept image shares: one by one.
			if n := deleteSnapshots(ctx, cl, img, d); n != "" {
				notes = append(notes, n)
			}
		}
		if len(notes) == 0 {
			if len(img.Snapshots) > 0 {
				return "snapshots kept: " + strings.Join(img.Snapshots, ", "), nil, nil
			}
			return "", nil, nil
		}
		return "snapshots: " + strings.Join(notes, ", "), nil, nil

	case lifecycle.ActionRestore:
		var notes []string
		if img.State == lifecycle.StateDisabled {
			if _, err := cl.EnableImage(ctx, &ec2.EnableImageInput{ImageId: id}); err != nil {
				return "", nil, wrap("EnableImage", err)
			}
		}
		extra := map[string]string{}
		if saved := img.Tags[TagLaunchPermissions]; saved != "" {
			perms := parsePerms(saved)
			if _, err := cl.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: id,
				LaunchPermission: &types.LaunchPermissionModifications{Add: perms}}); err != nil {
				return "", nil, wrap("ModifyImageAttribute", err)
			}
			notes = append(notes, "launch permissions given back: "+saved)
			extra[TagLaunchPermissions] = ""
		}
		if !img.DeprecationTime.IsZero() {
			if _, err := cl.DisableImageDeprecation(ctx, &ec2.DisableImageDeprecationInput{ImageId: id}); err != nil {
				return "", nil, wrap("DisableImageDeprecation", err)
			}
		}
		return strings.Join(notes, "; "), extra, nil
	}
	return "", nil, nil // record: the stage tag only
}

// isGone says whether EC2 refused a call because the AMI is deregistered.
func isGone(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "InvalidAMIID.Unavailable" || ae.ErrorCode() == "InvalidAMIID.NotFound")
}

// deleteSnapshots deletes the decision's snapshots of img one by one and
// says what became of each; one already gone counts as deleted.
func deleteSnapshots(ctx context.Context, cl ec2Client, img lifecycle.Image, d lifecycle.Decision) string {
	if !d.DeleteSnapshots {
		return ""
	}
	want := d.Snapshots
	if want == nil {
		want = img.Snapshots
	}
	var notes []string
	for _, s := range want {
		if !slices.Contains(img.Snapshots, s) {
			continue
		}
		_, err := cl.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(s)})
		code := "deleted"
		var ae smithy.APIError
		switch {
		case errors.As(err, &ae) && ae.ErrorCode() == "InvalidSnapshot.NotFound":
			code = "gone already"
		case err != nil:
			code = "not deleted: " + err.Error()
		}
		notes = append(notes, s+" "+code)
	}
	return strings.Join(notes, ", ")
}

// ceilMinute is t rounded up to a whole minute.
func ceilMinute(t time.Time) time.Time {
	if m := t.Truncate(time.Minute); m.Before(t) {
		return m.Add(time.Minute)
	}
	return t
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// formatPerms renders launch permissions for a tag: account ids,
// "group:all", "org:<arn>", "ou:<arn>", comma-separated.
func formatPerms(ps []types.LaunchPermission) string {
	var out []string
	for _, p := range ps {
		switch {
		case p.UserId != nil:
			out = append(out, *p.UserId)
		case p.Group != "":
			out = append(out, "group:"+string(p.Group))
		case p.OrganizationArn != nil:
			out = append(out, "org:"+*p.OrganizationArn)
		case p.OrganizationalUnitArn != nil:
			out = append(out, "ou:"+*p.OrganizationalUnitArn)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func parsePerms(s string) []types.LaunchPermission {
	var out []types.LaunchPermission
	for _, p := range strings.Split(s, ",") {
		switch {
		case p == "":
		case strings.HasPrefix(p, "group:"):
			out = append(out, types.LaunchPermission{Group: types.PermissionGroup(strings.TrimPrefix(p, "group:"))})
		case strings.HasPrefix(p, "org:"):
			out = append(out, types.LaunchPermission{OrganizationArn: aws.String(strings.TrimPrefix(p, "org:"))})
		case strings.HasPrefix(p, "ou:"):
			out = append(out, types.LaunchPermission{OrganizationalUnitArn: aws.String(strings.TrimPrefix(p, "ou:"))})
		default:
			out = append(out, types.LaunchPermission{UserId: aws.String(p)})
		}
	}
	return out
}
