package azure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// tagReplicaDeletionWas keeps safetyProfile.allowDeletionOfReplicatedLocations
// as it was before a disable had to allow the withdrawal ("false"), so that
// restore sets it back.
const tagReplicaDeletionWas = lifecycle.TagPrefix + "replica-deletion-was"

// tagEndOfLifeWas keeps the end of life a deprecation replaced ("" when
// there was none), so that restore puts it back.
const tagEndOfLifeWas = lifecycle.TagPrefix + "end-of-life-was"

// testHookAfterAction, when set, runs after an ARM action; an error stands
// for a crash at the worst moment.
var testHookAfterAction func(ref lifecycle.Ref) error

// hookMu serialises testHookAfterAction: items run concurrently.
var hookMu sync.Mutex

// perDefinition bounds the versions of one definition acted on at once:
// each update is a long-running operation of seconds to minutes, and
// ARM's write budget (1,200 an hour a subscription, per principal) is far
// from reached.
const perDefinition = 8

// Apply carries decisions out, definitions in parallel and up to
// perDefinition versions of one at once:
//
//	deprecate   PATCH excludeFromLatest = true, endOfLifeDate now (kept when
//	            earlier, or when a deletion block guards it)
//	disable     PATCH targetRegions = the home region's only; the others in
//	            the lifecycle:replicas tag
//	deregister  DELETE the version
//	restore     PATCH excludeFromLatest = false, the end of life and the
//	            withdrawn regions put back
//	record      the stage tags (and excludeFromLatest for deprecated)
//
// Each PATCH carries the stage tags with it, so an action and its record
// are one ARM write: a crash leaves both done or neither. Each version is
// re-read (one list per definition) and, for disable and deregister, its
// usage looked up again right before acting; lifecycle.CheckTransition
// then decides whether the decision still holds. With dryRun it checks the
// decisions against the versions as listed and calls nothing.
func (b *Backend) Apply(ctx context.Context, ds []lifecycle.Decision, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(ds))
	var mut []int
	for i, d := range ds {
		results[i].Ref, results[i].Image = d.Image.Ref(), d.Image
		if d.Action.Mutates() {
			mut = append(mut, i)
		}
	}
	keys, idx := backend.ByRegion(len(mut), func(j int) string { return ds[mut[j]].Image.Region })
	items := map[string][]int{}
	for _, k := range keys {
		for _, j := range idx[k] {
			items[k] = append(items[k], mut[j])
		}
	}
	var mu sync.Mutex
	states := map[string]defState{}
	backend.Each(ctx, keys, b.opts.Parallel, func(ctx context.Context, key string) {
		st := b.current(ctx, key, ds, items[key], dryRun)
		mu.Lock()
		states[key] = st
		mu.Unlock()
	})
	var check []lifecycle.Image
	fresh := map[string][]*armcompute.GalleryImageVersion{}
	for _, k := range keys {
		check = append(check, states[k].check...)
		if st := states[k]; st.err == nil && !dryRun {
			for _, v := range st.raw {
				fresh[k] = append(fresh[k], v)
			}
			if fresh[k] == nil {
				fresh[k] = []*armcompute.GalleryImageVersion{}
			}
		}
	}
	usage := lifecycle.Usage{}
	if len(check) > 0 {
		// The definitions just re-read need not be listed again for it.
		b.setHandoff(&handoff{versions: fresh})
		usage = b.Usage(ctx, check)
	}
	backend.Each(ctx, keys, b.opts.Parallel, func(ctx context.Context, key string) {
		st := states[key]
		if err := ctx.Err(); err != nil && st.err == nil {
			st.err = err
		}
		if st.err != nil {
			for _, i := range items[key] {
				results[i].Err = st.err
			}
			return
		}
		sem := make(chan struct{}, perDefinition)
		var wg sync.WaitGroup
		for _, i := range items[key] {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				b.applyOne(ctx, st, ds[i], &results[i], usage, dryRun)
			}()
		}
		wg.Wait()
	})
	return results
}

// defState is what a definition's versions are right before acting.
type defState struct {
	def   Definition
	cur   map[string]lifecycle.Image // by version
	raw   map[string]*armcompute.GalleryImageVersion
	check []lifecycle.Image // about to be disabled or deleted: usage to look up
	err   error
}

// current re-reads the definition's versions; a dry run takes them from
// the listing it planned on and calls nothing.
func (b *Backend) current(ctx context.Context, key string, ds []lifecycle.Decision, items []int, dryRun bool) defState {
	st := defState{cur: map[string]lifecycle.Image{}, raw: map[string]*armcompute.GalleryImageVersion{}}
	d, err := definition(key)
	if err != nil {
		st.err = err
		return st
	}
	st.def = d
	if dryRun {
		for _, i := range items {
			st.cur[ds[i].Image.ID] = ds[i].Image
		}
		return st
	}
	raw, err := b.listRaw(ctx, d)
	if err != nil {
		st.err = fmt.Errorf("azure: re-reading %s: %w", key, err)
		return st
	}
	for _, v := range raw {
		st.raw[*v.Name] = v
		st.cur[*v.Name] = b.image(d, v)
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

// applyOne carries out one decision; it writes r only.
func (b *Backend) applyOne(ctx context.Context, st defState, d lifecycle.Decision, r *backend.Result, usage lifecycle.Usage, dryRun bool) {
	if err := ctx.Err(); err != nil {
		r.Err = err
		return
	}
	now := b.now()
	c, found := st.cur[d.Image.ID]
	if !found {
		if d.Target() != lifecycle.StageDeregistered {
			r.Err = fmt.Errorf("azure: %s %s: no such image version (deleted, or never there)", d.Action, d.Image.Ref())
			return
		}
		c = d.Image // gone: nothing is left to do or tag
		c.State = lifecycle.StateDeregistered
	}
	gone := c.State == lifecycle.StateDeregistered
	err := lifecycle.CheckTransition(c, d, usage[c.Ref()], now)
	switch {
	case errors.Is(err, lifecycle.ErrAlreadyDone):
		switch {
		case !gone && lifecycle.MarkerOnly(c, d): // the marker alone, in the tags
			d = lifecycle.Decision{Action: lifecycle.ActionRecord, To: d.Target(), Image: c, SupersededBy: d.SupersededBy}
		case gone || c.Stage == d.Target():
			r.Image = c
			return
		default:
			// Done by hand, or by an answer that was lost: record it.
			d = lifecycle.Decision{Action: lifecycle.ActionRecord, To: d.Target(), Image: c, SupersededBy: d.SupersededBy}
			r.Note = "found done, recorded"
		}
	case err != nil:
		r.Err = fmt.Errorf("azure: %w", err)
		return
	}
	r.Changed, r.Image = true, lifecycle.Apply(c, d, now)
	if d.Action == lifecycle.ActionRecord && gone {
		r.Changed = false // a deleted version cannot be tagged
		return
	}
	if dryRun {
		return
	}
	note, err := b.act(ctx, st.def, st.raw[c.ID], c, d, r.Image, now)
	if err != nil {
		r.Changed, r.Err = false, fmt.Errorf("azure: %s %s: %w", d.Action, c.Ref(), err)
		return
	}
	r.Note = strings.TrimPrefix(r.Note+"; "+note, "; ")
	r.Note = strings.TrimSuffix(r.Note, "; ")
	hookMu.Lock()
	var herr error
	if testHookAfterAction != nil {
		herr = testHookAfterAction(c.Ref())
	}
	hookMu.Unlock()
	if herr != nil {
		r.Err = herr
	}
}

// act makes the ARM call of one decision: the action and the stage tags
// of next in one PATCH, or the DELETE.
func (b *Backend) act(ctx context.Context, def Definition, v *armcompute.GalleryImageVersion, cur lifecycle.Image, d lifecycle.Decision, next lifecycle.Image, now time.Time) (string, error) {
	if d.Action == lifecycle.ActionDeregister {
		c, _, err := b.api()
		if err != nil {
			return "", err
		}
		p, err := c.versions.BeginDelete(ctx, def.ResourceGroup, def.Gallery, def.Image, cur.ID, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: b.opts.Client.Poll})
		}
		if isNotFound(err) {
			return "found deleted", nil // most likely this very call, whose answer was lost
		}
		if err != nil {
			return "", fmt.Errorf("deleting the image version: %w", err)
		}
		return fmt.Sprintf("deleted (%d bytes of replicas)", cur.Size), nil
	}
	if v == nil || v.Properties == nil {
		return "", errors.New("the image version is gone")
	}
	tags := cloneTags(cur.Tags)
	stage := lifecycle.Tags(next, "")
	for _, k := range []string{lifecycle.TagStage, lifecycle.TagStageSince} {
		tags[k] = stage[k]
	}
	// The marker goes with the action in the one PATCH: nothing can stop
	// the run between them.
	delete(tags, lifecycle.TagSupersededBy)
	if by, ok := stage[lifecycle.TagSupersededBy]; ok {
		tags[lifecycle.TagSupersededBy] = by
	}
	pp := v.Properties.PublishingProfile
	if pp == nil {
		pp = &armcompute.GalleryImageVersionPublishingProfile{}
	}
	sp := v.Properties.SafetyProfile
	patch := &armcompute.GalleryImageVersionPublishingProfile{}
	var restoreSafety *armcompute.GalleryImageVersionSafetyProfile
	var notes []string
	target := d.Target()
	switch {
	case d.Action == lifecycle.ActionDeprecate || d.Action == lifecycle.ActionRecord && target == lifecycle.StageDeprecated:
		patch.ExcludeFromLatest = to(true)
		notes = append(notes, "excluded from latest")
		if d.Action == lifecycle.ActionDeprecate {
			eol := now.Truncate(time.Second)
			blocked := sp != nil && deref(sp.BlockDeletionBeforeEndOfLife)
			switch {
			case pp.EndOfLifeDate != nil && !pp.EndOfLifeDate.After(eol):
			case pp.EndOfLifeDate != nil && blocked:
				notes = append(notes, "end of life kept at "+pp.EndOfLifeDate.UTC().Format(time.RFC3339)+" (deletion blocked until then)")
			default:
				if pp.EndOfLifeDate != nil {
					tags[tagEndOfLifeWas] = pp.EndOfLifeDate.UTC().Format(time.RFC3339)
				} else {
					tags[tagEndOfLifeWas] = ""
				}
				patch.EndOfLifeDate = &eol
				notes = append(notes, "end of life "+eol.Format(time.RFC3339))
			}
		}
	case d.Action == lifecycle.ActionDisable:
		home := region(deref(v.Location))
		keep, withdrawn := splitRegions(pp, home)
		patch.TargetRegions = keep
		tags[tagReplicas] = withdrawn
		if withdrawn == "" {
			notes = append(notes, "replicated to "+home+" only already")
			break
		}
		if sp == nil || !deref(sp.AllowDeletionOfReplicatedLocations) {
			// Azure refuses to drop a replicated region unless the
			// safety profile allows it (its default does not): allow it
			// first, remembering that it did not, then withdraw.
			first := cloneTags(cur.Tags)
			first[tagReplicaDeletionWas] = "false"
			tags[tagReplicaDeletionWas] = "false"
			if err := b.update(ctx, def, cur.ID, armcompute.GalleryImageVersionUpdate{Tags: azureTags(first), Properties: &armcompute.GalleryImageVersionProperties{
				SafetyProfile: &armcompute.GalleryImageVersionSafetyProfile{AllowDeletionOfReplicatedLocations: to(true)}}}); err != nil {
				return "", fmt.Errorf("allowing the replicas' withdrawal: %w", err)
			}
			notes = append(notes, "safetyProfile.allowDeletionOfReplicatedLocations set to true to withdraw them (restore sets it back)")
		}
		notes = append([]string{"replicas withdrawn to " + home + " (were also " + withdrawn + ")"}, notes...)
	case d.Action == lifecycle.ActionRestore:
		patch.ExcludeFromLatest = to(false)
		// The end of life the deprecation replaced comes back; one it left
		// alone stays, unless it has passed (the version would still count
		// as deprecated).
		if was, ok := tags[tagEndOfLifeWas]; ok {
			patch.EndOfLifeDate = azcore.NullValue[*time.Time]()
			if t, err := time.Parse(time.RFC3339, was); err == nil && t.After(now) {
				patch.EndOfLifeDate = &t
			}
		} else if pp.EndOfLifeDate != nil && !pp.EndOfLifeDate.After(now) {
			patch.EndOfLifeDate = azcore.NullValue[*time.Time]()
		}
		delete(tags, tagEndOfLifeWas)
		if w, ok := tags[tagReplicas]; ok {
			patch.TargetRegions = withRegions(pp, w)
			delete(tags, tagReplicas)
			if w != "" {
				notes = append(notes, "replicating back to "+w)
			}
		}
		if was, ok := tags[tagReplicaDeletionWas]; ok {
			restoreSafety = &armcompute.GalleryImageVersionSafetyProfile{AllowDeletionOfReplicatedLocations: to(was == "true")}
			delete(tags, tagReplicaDeletionWas)
		}
	}
	u := armcompute.GalleryImageVersionUpdate{Tags: azureTags(tags)}
	if patch.ExcludeFromLatest != nil || patch.EndOfLifeDate != nil || patch.TargetRegions != nil {
		u.Properties = &armcompute.GalleryImageVersionProperties{PublishingProfile: patch}
	}
	if restoreSafety != nil {
		if u.Properties == nil {
			u.Properties = &armcompute.GalleryImageVersionProperties{}
		}
		u.Properties.SafetyProfile = restoreSafety
	}
	if err := checkTags(tags); err != nil {
		return "", err
	}
	if err := b.update(ctx, def, cur.ID, u); err != nil {
		return "", err
	}
	return strings.Join(notes, "; "), nil
}

// region normalises a region name as ARM compares them ("West Europe" is
// westeurope).
func region(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) }

// splitRegions keeps the home region's target and renders the others as
// "name=replicas,…" (sorted).
func splitRegions(pp *armcompute.GalleryImageVersionPublishingProfile, home string) ([]*armcompute.TargetRegion, string) {
	var keep []*armcompute.TargetRegion
	var withdrawn []string
	for _, t := range pp.TargetRegions {
		if t == nil || t.Name == nil {
			continue
		}
		if region(*t.Name) == home {
			keep = append(keep, t)
			continue
		}
		n := max(deref(t.RegionalReplicaCount), deref(pp.ReplicaCount), 1)
		withdrawn = append(withdrawn, fmt.Sprintf("%s=%d", region(*t.Name), n))
	}
	if len(keep) == 0 {
		keep = []*armcompute.TargetRegion{{Name: to(home), RegionalReplicaCount: to(int32(1))}}
	}
	sort.Strings(withdrawn)
	return keep, strings.Join(withdrawn, ",")
}

// withRegions adds the regions a disable withdrew back to the targets.
func withRegions(pp *armcompute.GalleryImageVersionPublishingProfile, withdrawn string) []*armcompute.TargetRegion {
	out := slices.Clone(pp.TargetRegions)
	have := map[string]bool{}
	for _, t := range out {
		if t != nil && t.Name != nil {
			have[region(*t.Name)] = true
		}
	}
	for _, w := range strings.Split(withdrawn, ",") {
		name, n, _ := strings.Cut(strings.TrimSpace(w), "=")
		if name == "" || have[name] {
			continue
		}
		count, err := strconv.Atoi(n)
		if err != nil || count < 1 || count > 100 {
			count = 1
		}
		out = append(out, &armcompute.TargetRegion{Name: to(name), RegionalReplicaCount: to(int32(count))})
		have[name] = true
	}
	return out
}

func to[T any](v T) *T { return &v }
