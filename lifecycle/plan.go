package lifecycle

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Plan decides what to do with every image: exactly one Decision per input
// image, each with a reason. It performs no I/O and does not modify its
// inputs; the same inputs give the same plan whatever their order.
//
// The rules, in the order they are tried (the first that applies wins):
//
//  1. A new build (id in newBuild) is kept.
//  2. With an invalid policy (see Policy.Validate) everything is kept.
//  3. Not ours to judge, skipped: already deregistered ("gone"), not managed,
//     owned by an account outside Policy.Owners, an unknown recorded stage,
//     or a backend state other than available/disabled (pending, failed…).
//  4. Pinned images are kept.
//  5. The newest keep_releases releases of (family, channel, region) are kept;
//     only if expired and deprecate_expired is set is an active one
//     deprecated.
//  6. Older ("superseded") releases move one stage per run, when the delay
//     for leaving their current stage has passed: active → deprecate
//     (deprecate_after), deprecated → disable (disable_after), disabled →
//     deregister (deregister_after). Guards keep them where they are: an
//     image in use or deregistration-protected is never disabled or
//     deregistered (deprecating it is allowed, as a warning to its users);
//     no image younger than min_age is touched; a stage whose start is
//     unknown is never left.
//
// Output order: family, channel, region ascending; within those, newest
// version first (see CompareVersions: version precedence, build time,
// version text), then id ascending.
func Plan(images []Image, usage Usage, policy Policy, now time.Time, newBuild []string) []Decision {
	p := newPlanner(images, usage, policy, now, newBuild)
	out := make([]Decision, len(images))
	for i, img := range images {
		out[i] = p.decide(img)
	}
	sortDecisions(p.versions, out)
	return out
}

// Restore is the explicit way back: each requested image that is deprecated
// or disabled is restored to active; everything else is kept (or skipped) with
// a reason. Plan never restores on its own. Restore takes no policy: the
// caller chose the ids, so only Managed is checked, not Owners. After Apply,
// the restored image is held for min_age before Plan may deprecate it again
// (pin it to keep it for good). Output order is Plan's.
func Restore(images []Image, ids []string, now time.Time) []Decision {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	out := make([]Decision, len(images))
	for i, img := range images {
		d := Decision{Image: img, Action: ActionKeep}
		eff := img.EffectiveStage(now)
		skip := skipReason(img, nil)
		switch {
		case !want[img.ID]:
			d.Reason = "kept: restore not requested"
		case skip != "":
			d.Action, d.Reason = ActionSkip, skip
		case eff == StageActive:
			d.Reason = "kept: already active"
		default:
			d.Action, d.Reason = ActionRestore, fmt.Sprintf("restore: requested (was %s)", eff)
		}
		out[i] = d
	}
	sortDecisions(versionCache{}, out)
	return out
}

// groupKey is the unit keep_releases counts in: releases of one family and
// channel in one region.
type groupKey struct{ family, channel, region string }

func keyOf(img Image) groupKey { return groupKey{img.Family, img.Channel, img.Region} }

// releaseKey identifies a release within a group: its version. An image
// without a version is a release of its own (ordered by build time), so a
// family that does not tag versions still retires old builds.
func releaseKey(img Image) string {
	if img.Version == "" {
		return "\x00" + img.ID
	}
	return img.Version
}

type release struct {
	key      string
	label    string // version, or the image id when there is none
	sv       *semver
	built    time.Time // newest build among its images: orders unparseable versions
	appeared time.Time // earliest release time among its images
}

// group holds the releases of one groupKey, newest first.
type group struct {
	releases   []release
	rank       map[string]int // releaseKey → index in releases
	supersedes []time.Time    // by rank; see supersededAt
}

type planner struct {
	now      time.Time
	policy   Policy
	invalid  error
	eff      map[string]Policy
	newBuild map[string]bool
	usage    Usage
	versions versionCache
	groups   map[groupKey]*group
}

func newPlanner(images []Image, usage Usage, policy Policy, now time.Time, newBuild []string) *planner {
	p := &planner{
		now:      now,
		policy:   policy,
		invalid:  policy.Validate(),
		eff:      map[string]Policy{},
		newBuild: make(map[string]bool, len(newBuild)),
		usage:    usage,
		versions: versionCache{},
		groups:   map[groupKey]*group{},
	}
	for _, id := range newBuild {
		p.newBuild[id] = true
	}

	// Only eligible images make releases. Images already deregistered do
	// not count, whether or not the backend still lists them, so pruning a
	// tombstone from a catalog never changes a plan.
	byGroup := map[groupKey]map[string]*release{}
	for _, img := range images {
		if skipReason(img, p.policy.Owners) != "" {
			continue
		}
		k := keyOf(img)
		if byGroup[k] == nil {
			byGroup[k] = map[string]*release{}
		}
		rk := releaseKey(img)
		r := byGroup[k][rk]
		if r == nil {
			label := img.Version
			if label == "" {
				label = img.ID
			}
			r = &release{key: rk, label: label, sv: p.versions.get(img.Version),
				built: img.BuildTime, appeared: img.releaseTime()}
			byGroup[k][rk] = r
		}
		if img.BuildTime.After(r.built) {
			r.built = img.BuildTime
		}
		if img.releaseTime().Before(r.appeared) {
			r.appeared = img.releaseTime()
		}
	}
	for k, rels := range byGroup {
		g := &group{rank: map[string]int{}}
		for _, r := range rels {
			g.releases = append(g.releases, *r)
		}
		slices.SortFunc(g.releases, func(a, b release) int { return compareReleases(b, a) })
		for i, r := range g.releases {
			g.rank[r.key] = i
		}
		p.groups[k] = g
	}
	return p
}

// compareReleases is a strict total order on the distinct releases of a
// group: precedence, then newest build, then the key itself.
func compareReleases(a, b release) int {
	if c := compareSemver(a.sv, b.sv); c != 0 {
		return c
	}
	if c := a.built.Compare(b.built); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// supersededAt is when the release at rank r stopped being among the newest
// keep: when the keep-th earliest of its newer releases appeared. The answer
// for every rank is computed once per group in O(n log keep), walking the
// releases newest first with a max-heap of the keep earliest appearance
// times seen so far. A group has one channel, so keep is the same on every
// call and the first call's answers serve them all.
func (g *group) supersededAt(r, keep int) time.Time {
	if g.supersedes == nil {
		g.supersedes = make([]time.Time, len(g.releases))
		h := &latestFirst{}
		for i, rel := range g.releases {
			if h.Len() == keep {
				g.supersedes[i] = (*h)[0]
			}
			heap.Push(h, rel.appeared)
			if h.Len() > keep {
				heap.Pop(h)
			}
		}
	}
	return g.supersedes[r]
}

// latestFirst is a max-heap of times.
type latestFirst []time.Time

func (h latestFirst) Len() int           { return len(h) }
func (h latestFirst) Less(i, j int) bool { return h[i].After(h[j]) }
func (h latestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *latestFirst) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *latestFirst) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (p *planner) policyFor(channel string) Policy {
	pol, ok := p.eff[channel]
	if !ok {
		pol = p.policy.For(channel)
		p.eff[channel] = pol
	}
	return pol
}

func knownStage(s Stage) bool { _, ok := s.rank(); return ok }

func usableState(s string) bool {
	return s == "" || s == StateAvailable || s == StateDisabled
}

// skipReason says why an image is not ours to judge, or "" when it is.
// Empty owners means the owner is not checked (Restore, a local catalog).
func skipReason(img Image, owners []string) string {
	owned := len(owners) == 0 || slices.Contains(owners, img.Owner)
	switch {
	case img.Stage == StageDeregistered || img.State == StateDeregistered:
		return "skipped: gone (deregistered)"
	case !img.Managed:
		return "skipped: not managed"
	case !owned && img.Owner == "":
		return "skipped: owner unknown"
	case !owned:
		return "skipped: owned by " + clip(img.Owner)
	case !knownStage(img.Stage):
		return fmt.Sprintf("skipped: unknown stage %q", clip(string(img.Stage)))
	case !usableState(img.State):
		return fmt.Sprintf("skipped: state %q", clip(img.State))
	}
	return ""
}

// consumers returns a sorted copy of who uses the image, so the plan does not
// depend on the order the backend found them in.
func (p *planner) consumers(id string) []Consumer {
	if len(p.usage[id]) == 0 {
		return nil // an empty list means not in use, like a missing one
	}
	cs := slices.Clone(p.usage[id])
	slices.SortFunc(cs, func(a, b Consumer) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.ID, b.ID),
			strings.Compare(a.Version, b.Version), strings.Compare(a.Account, b.Account))
	})
	return cs
}

func (p *planner) decide(img Image) Decision {
	d := Decision{Image: img, Action: ActionKeep, Consumers: p.consumers(img.ID)}
	keep := func(format string, args ...any) Decision {
		d.Reason = "kept: " + fmt.Sprintf(format, args...)
		return d
	}
	if p.newBuild[img.ID] {
		return keep("new build")
	}
	if p.invalid != nil {
		first, _, _ := strings.Cut(p.invalid.Error(), "\n")
		return keep("policy is invalid (%s)", first)
	}
	if r := skipReason(img, p.policy.Owners); r != "" {
		d.Action, d.Reason = ActionSkip, r
		return d
	}
	if img.Pinned {
		return keep("pinned")
	}

	now := p.now
	pol := p.policyFor(img.Channel)
	g := p.groups[keyOf(img)]
	r, k := g.rank[releaseKey(img)], pol.KeepReleases
	superseded := r >= k
	newestLabel := g.releases[0].label

	// What would the policy do next, from when, and why?
	var (
		step    Action
		since   time.Time // the delay runs from here
		entered time.Time // when the current stage was entered
		known   = true
		delay   time.Duration
		knob    string // the policy knob that sets the delay
		state   string // where the image stands, for reasons: "deprecated 2d ago"
		because string // the action's reason
	)
	eff := img.EffectiveStage(now)
	switch eff {
	case StageActive:
		activeSince, _ := img.stageSince(StageActive, now)
		entered = activeSince
		expired := !img.ExpiresAt.IsZero() && !img.ExpiresAt.After(now)
		switch {
		case superseded:
			step = ActionDeprecate
			since = later(activeSince, g.supersededAt(r, k))
			delay, knob = pol.DeprecateAfter, "deprecate_after"
			state = "superseded by " + clip(newestLabel)
			because = fmt.Sprintf("%s (%d newer release%s, keep %d)", state, r, plural(r), k)
		case expired && pol.DeprecateExpired:
			step = ActionDeprecate
			since = later(activeSince, img.ExpiresAt)
			state = "expired " + ago(now, img.ExpiresAt)
			because = state
		default:
			return keep("newest release (%d of %d)", r+1, k)
		}
	case StageDeprecated, StageDisabled:
		if !superseded {
			return keep("newest release (%d of %d)", r+1, k)
		}
		step, delay, knob = ActionDisable, pol.DisableAfter, "disable_after"
		if eff == StageDisabled {
			step, delay, knob = ActionDeregister, pol.DeregisterAfter, "deregister_after"
		}
		since, known = img.stageSince(eff, now)
		entered = since
		state = fmt.Sprintf("%s %s", eff, ago(now, since))
		because = fmt.Sprintf("superseded by %s, %s (%s %s)", clip(newestLabel), state, knob, formatDuration(delay))
	}

	// Guards: what must hold however overdue the step is.
	if step == ActionDisable || step == ActionDeregister {
		if len(d.Consumers) > 0 {
			return keep("in use by %s", formatConsumers(d.Consumers))
		}
		if img.Protected {
			return keep("deregistration-protected")
		}
	}
	if pol.MinAge > 0 && img.BuildTime.IsZero() {
		return keep("build time unknown (min_age %s)", formatDuration(pol.MinAge))
	}
	if img.BuildTime.After(now) {
		return keep("built in the future (%s)", img.BuildTime.UTC().Format(time.RFC3339))
	}
	if age := now.Sub(img.BuildTime); age < pol.MinAge {
		return keep("younger than min_age (%s < %s)", formatDuration(age), formatDuration(pol.MinAge))
	}
	if eff == StageActive && img.Stage == StageActive && !img.StageSince.IsZero() &&
		now.Sub(img.StageSince) < pol.MinAge {
		return keep("active again since %s (min_age %s)", ago(now, img.StageSince), formatDuration(pol.MinAge))
	}
	if !known {
		return keep("%s, since unknown (no %s)", eff, TagStageSince)
	}

	// Timing: the stage must have been entered before now (so a stage entered
	// by carrying out this very plan is never left in the same run, even with
	// a zero delay) and the delay must have passed. Supersession itself may be
	// this instant: the build that supersedes a release deprecates it in the
	// same run when deprecate_after is zero.
	if due := since.Add(delay); !now.After(entered) || now.Before(due) {
		when := "next run"
		if rem := due.Sub(now); rem > 0 {
			when = "in " + formatDuration(rem)
		}
		if knob == "" {
			return keep("%s, %s %s", state, step, when)
		}
		return keep("%s, %s %s (%s %s)", state, step, when, knob, formatDuration(delay))
	}

	d.Action = step
	d.Reason = fmt.Sprintf("%s: %s", step, because)
	if step == ActionDeregister && pol.DeleteSnapshots {
		d.DeleteSnapshots = true
		if n := len(img.Snapshots); n > 0 {
			d.Reason += fmt.Sprintf("; deleting %d snapshot%s/file%s", n, plural(n), plural(n)) // AMI snapshots or local files
		}
	}
	if len(d.Consumers) > 0 {
		d.Reason += "; still in use by " + formatConsumers(d.Consumers)
	}
	return d
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// sortDecisions puts a plan in its documented order. Stable, so that even
// duplicate ids (which backends should not produce) keep a defined order.
func sortDecisions(c versionCache, ds []Decision) {
	slices.SortStableFunc(ds, func(x, y Decision) int {
		a, b := x.Image, y.Image
		return cmp.Or(
			strings.Compare(a.Family, b.Family),
			strings.Compare(a.Channel, b.Channel),
			strings.Compare(a.Region, b.Region),
			compareImages(c, b, a), // newest first
		)
	})
}
