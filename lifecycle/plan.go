package lifecycle

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Plan decides what to do with every image: exactly one Decision per input
// image, each with a reason. It performs no I/O and does not modify its
// inputs; the same inputs give the same plan whatever their order. Times are
// taken at whole seconds (now is truncated), as tags record them, so a plan
// carried out, written as tags, read back and planned again at the same
// instant takes no further step.
//
// Releases. Within (family, channel, region), images whose versions have the
// same precedence are one release: build metadata is ignored, so 1.4.2,
// v1.4.2 and 1.4.2+build.7 are one release, and so are 1.5, 1.5.0 and
// 1.5.0.0. An image without a version is a release of its own; text that is
// not a version is one release per distinct text. keep_releases counts
// releases, and so do the reasons. A release uses a keep slot only while it
// is live: its newest live build is active and not expired. A deprecated,
// disabled or expired release is kept while it is among the newest, but
// does not push an older live release out.
//
// Rebuilds. Within a release only the newest live build counts as the
// release; a build with an older build time is superseded by the rebuild
// from the moment the rebuild appeared (the later of its release and build
// time: a copy that arrives late in a region starts that region's clock when
// it arrives), and retires on the normal stages. Builds with the same build
// time are copies of one build: neither supersedes the other.
//
// Observed and recorded stage. The stage recorded in metadata and the one the
// backend state shows (EC2 state disabled, a DeprecationTime that has
// passed) can disagree. When the backend is ahead (a crash between the
// backend call and the tag write; EC2 deprecating at the DeprecationTime
// set at expiry; a person disabling by hand), the plan records what it
// shows: ActionRecord, To the observed stage, since now (the next delay
// runs from the record). When the backend is behind
// (a disabled image whose state is available again, a deprecated one whose
// DeprecationTime was cleared), the owner restored it by hand: the plan
// records the observed stage the same way ("active again"), and min_age
// holds it as after a restore. Nothing else happens to such an image in the
// same run.
//
// The rules, in the order they are tried (the first that applies wins):
//
//  0. What a stopped run left for its new build is undone: an image
//     deprecated or disabled whose SupersededBy names a build that never
//     became a release (absent, deregistered, no longer managed, failed,
//     or pending for forget_pending_after, so forgotten now, or gone by
//     this plan) is restored, whatever min_age: the run that changed it
//     would have undone it had it not been killed. The rest of the plan
//     does not lean on the restore (the next one sees the image active).
//     Unless the stage stands without that build: planned again one stage
//     back (deprecated as active, disabled as deprecated), the image
//     would be moved to its stage again (a rebuild after the killed run,
//     or a later release, supersedes it); then only the marker is
//     cleared, with a record of the stage (or the step the rest of the
//     plan takes). While the build is pending (its run may be going on)
//     the stage stands and the reason says so. A run that succeeds clears
//     the marker (the shell records the stage again without it).
//  1. A new build (Ref in newBuild; an empty Region matches every region)
//     is kept.
//  2. With an invalid policy (see Policy.Validate) everything is kept; with
//     an invalid override for one channel, that channel's images are kept.
//  3. Not ours to judge, skipped: already deregistered ("gone"), not managed,
//     owned by an account outside Policy.Owners, an unknown recorded stage,
//     or a backend state other than available/disabled (pending, failed…).
//     Except: a managed, unpinned image the backend shows as gone while its
//     metadata records a live stage is recorded as deregistered.
//  4. Pinned images are kept.
//  5. A stage the backend shows but the metadata does not is recorded (see
//     above).
//  6. The newest keep_releases live releases of (family, channel, region)
//     are kept; only if expired and deprecate_expired is set is an active
//     one deprecated.
//  7. Superseded releases and builds move one stage per run, when the delay
//     for leaving their current stage has passed: active → deprecate
//     (deprecate_after, or at expiry if that is earlier), deprecated →
//     disable (disable_after), disabled → deregister (deregister_after).
//     Guards keep them where they are: an image in use, whose usage is
//     unknown (ConsumerUnknown) or deregistration-protected is never
//     disabled or deregistered (deprecating it is allowed, as a warning to
//     its users); no image younger than min_age is touched; a stage whose
//     start is unknown is never left, and neither is active when the time of
//     the supersession is unknown (the newer releases have no build or
//     release time).
//
// A deregister with delete_snapshots lists in Decision.Snapshots the
// snapshots (or files) it may delete: those no other image of the plan still
// holds (any image not deregistered and not being deregistered). A snapshot
// shared by several images this plan deregisters is listed by the last of
// them in plan order only, so carrying the plan out in order (or letting
// that deregister wait for the others) never deletes a snapshot a
// registered image still refers to. When none of an image's
// snapshots is left to it, DeleteSnapshots is false.
//
// Every mutating decision passes CheckTransition on the images and usage
// Plan was given.
//
// Output order: family, channel, region ascending; within those, newest
// version first (see CompareVersions: version precedence, build time,
// version text), then id ascending.
func Plan(images []Image, usage Usage, policy Policy, now time.Time, newBuild []Ref) []Decision {
	p := newPlanner(images, usage, policy, now, newBuild)
	out := p.decideAll()
	p.settle(out)
	sortDecisions(p.versions, out)
	p.shareSnapshots(out)
	return out
}

func (p *planner) decideAll() []Decision {
	out := make([]Decision, len(p.images))
	for i := range p.images {
		out[i] = p.decide(i)
	}
	return out
}

// settle applies rule 0 to plan (by image index): what a stopped run left
// retired for its new build is restored, unless this plan would retire it
// as far without that build; then the stage stands and only the marker is
// cleared (a rebuild after the killed run, or a later release, took the
// killed build's place). While the build is pending the stage stands too.
func (p *planner) settle(plan []Decision) {
	left := p.unfinished(plan)
	if len(left) == 0 {
		return
	}
	anyway := p.retiredAnyway(left)
	for i, pending := range left {
		img := p.images[i]
		st, by := img.actualStage(p.now), clip(img.SupersededBy.String())
		switch {
		case anyway[i] != "":
			if plan[i].Action.Mutates() { // a step on (or a record) clears the marker itself
				plan[i].Reason += fmt.Sprintf("; %s stands without new build %s", st, by)
				break
			}
			plan[i] = Decision{Image: img, Action: ActionRecord, To: st, Consumers: plan[i].Consumers,
				Reason: fmt.Sprintf("record: %s stands without new build %s (%s)", st, by, anyway[i])}
		case pending:
			plan[i].Reason += fmt.Sprintf("; %s for new build %s, still pending: restored if it never becomes a release", st, by)
		default:
			plan[i] = Decision{Image: img, Action: ActionRestore, To: StageActive, Consumers: plan[i].Consumers,
				Reason: fmt.Sprintf("restore: %s for new build %s, which never became a release (its run stopped before it could undo this)", st, by)}
		}
	}
}

// unfinished finds what a stopped run left retired for its new build (see
// Plan, rule 0), by image index, with whether the build is still pending
// (its run may still be going). A build that plan forgets or deregisters
// counts as gone already, so that carrying the plan out leaves nothing for
// the next one.
func (p *planner) unfinished(plan []Decision) map[int]bool {
	var left map[int]bool
	for i, img := range p.images {
		by := img.SupersededBy
		if by.ID == "" || by.matches(img) || img.Pinned || p.isNewBuild(img) || skipReason(img, p.policy.Owners) != "" {
			continue
		}
		if st := img.actualStage(p.now); st != StageDeprecated && st != StageDisabled {
			continue
		}
		released, pending := false, false
		for j, b := range p.images {
			if !by.matches(b) || plan[j].Action == ActionForget || plan[j].Action == ActionDeregister {
				continue
			}
			switch skipReason(b, p.policy.Owners) {
			case "":
				released = true
			case skippedPending:
				pending = true
			case "skipped: gone (deregistered)", "skipped: not managed":
			default:
				if usableState(b.State) {
					released = true // not ours to judge, so not ours to undo either
				}
			}
		}
		if !released {
			if left == nil {
				left = map[int]bool{}
			}
			left[i] = pending
		}
	}
	return left
}

// retiredAnyway plans again with the images of left whose build is gone
// one stage back, as the stopped run found them (deprecated as active;
// disabled as deprecated since it was disabled, which is no earlier than
// the deprecation), and returns, by index, the reason of each the trial
// moves to its stage again. Those still waiting for their build stay as
// they are: they stay retired in this plan.
func (p *planner) retiredAnyway(left map[int]bool) map[int]string {
	trial := slices.Clone(p.images)
	for i, pending := range left {
		if pending {
			continue
		}
		img := &trial[i]
		st := img.actualStage(p.now)
		img.SupersededBy, img.State = Ref{}, StateAvailable
		if st == StageDisabled {
			img.Stage = StageDeprecated
			if img.DeprecationTime.IsZero() || img.DeprecationTime.After(p.now) {
				img.DeprecationTime = img.StageSince
			}
			continue
		}
		img.Stage, img.StageSince, img.DeprecationTime = StageActive, time.Time{}, time.Time{}
	}
	tp := newPlanner(trial, p.usage, p.policy, p.now, p.newBuild)
	out := map[int]string{}
	for i, pending := range left {
		if pending {
			continue
		}
		st, d := p.images[i].actualStage(p.now), tp.decide(i)
		if (d.Action == ActionDeprecate || d.Action == ActionDisable) && d.Target() == st {
			out[i] = d.Reason
		}
	}
	return out
}

// Restore is the explicit way back: each requested image that is deprecated
// or disabled is restored to active; everything else is kept (or skipped) with
// a reason. Plan restores on its own only what rule 0 undoes. A requested Ref with an empty
// Region names the id in every region. Restore takes no policy: the caller
// chose the images, so only Managed is checked, not Owners. After Apply, the
// restored image is held for min_age before Plan may deprecate it again (pin
// it to keep it for good). A restore keeps the release's expiry: a restored
// release that has expired is deprecated again after min_age (with
// deprecate_expired, or when superseded) unless its expires-at is cleared or
// its channel is never_expire. Output order is Plan's.
func Restore(images []Image, refs []Ref, now time.Time) []Decision {
	now = now.Truncate(time.Second)
	out := make([]Decision, len(images))
	for i, img := range images {
		d := Decision{Image: img, Action: ActionKeep}
		eff := img.EffectiveStage(now)
		skip := skipReason(img, nil)
		switch {
		case !slices.ContainsFunc(refs, func(r Ref) bool { return r.matches(img) }):
			d.Reason = "kept: restore not requested"
		case skip != "":
			d.Action, d.Reason = ActionSkip, skip
		case eff == StageActive:
			d.Reason = "kept: already active"
		default:
			d.Action, d.To, d.Reason = ActionRestore, StageActive, fmt.Sprintf("restore: requested (was %s)", eff)
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

// releaseKey identifies a release within a group: its precedence (see
// canonical), so that every spelling of one version is one release. An image
// without a version is a release of its own (ordered by build time), so a
// family that does not tag versions still retires old builds; text that is
// not a version is a release per distinct text.
func releaseKey(c versionCache, img Image) string {
	switch sv := c.get(img.Version); {
	case img.Version == "":
		return "\x00" + img.ID
	case sv == nil:
		return "\x01" + img.Version
	default:
		return sv.canonical()
	}
}

// timeOrUnknown is a time that may be unknown (zero): unknown sorts after
// every known time, so "the earliest of" never picks it while a known one
// exists.
func earlier(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

type release struct {
	key      string
	label    string // version text of its newest build, or the image id when there is none
	sv       *semver
	built    time.Time // newest build among its images: orders unparseable versions
	appeared time.Time // earliest appearance among its images; zero: unknown
	live     bool      // uses a keep slot: some build is active and not expired
	liveHead time.Time // build time of its newest live build
	// rank is the number of newer live releases; supersedes is when the
	// rank reached keep (zero: unknown or never); see group.index.
	rank       int
	supersedes time.Time
	// builds in the release, for rebuild supersession: newest live build
	// time first.
	liveBuilds []buildTime
}

type buildTime struct {
	built, appeared time.Time
	label           string // "ami-… (1.4.2+b3)"
}

// group holds the releases of one groupKey, newest first.
type group struct {
	releases []*release
	keep     int
	namer    *release // the newest live release (else the newest): "superseded by <its label>"
}

type planner struct {
	images   []Image
	now      time.Time
	policy   Policy
	invalid  error
	eff      map[string]Policy
	chanErr  map[string]error
	newBuild []Ref
	usage    Usage
	versions versionCache
	groups   map[groupKey]*group
	rels     []*release // by image index; nil when not eligible
	stages   []Stage    // by image index: the stage planned from (actualStage)
}

func newPlanner(images []Image, usage Usage, policy Policy, now time.Time, newBuild []Ref) *planner {
	now = now.Truncate(time.Second)
	p := &planner{
		images:   images,
		now:      now,
		policy:   policy,
		invalid:  policy.validateTop(),
		eff:      map[string]Policy{},
		chanErr:  map[string]error{},
		newBuild: newBuild,
		usage:    usage,
		versions: versionCache{},
		groups:   map[groupKey]*group{},
		rels:     make([]*release, len(images)),
		stages:   make([]Stage, len(images)),
	}

	// Only eligible images make releases. Images already deregistered do
	// not count, whether or not the backend still lists them, so pruning a
	// tombstone from a catalog never changes a plan.
	byGroup := map[groupKey]map[string]*release{}
	for i, img := range images {
		if skipReason(img, p.policy.Owners) != "" {
			continue
		}
		p.stages[i] = img.actualStage(now)
		k := keyOf(img)
		if byGroup[k] == nil {
			byGroup[k] = map[string]*release{}
		}
		rk := releaseKey(p.versions, img)
		r := byGroup[k][rk]
		if r == nil {
			r = &release{key: rk, sv: p.versions.get(img.Version), built: img.BuildTime}
			byGroup[k][rk] = r
		}
		p.rels[i] = r
		if img.BuildTime.After(r.built) {
			r.built = img.BuildTime
		}
		r.appeared = earlier(r.appeared, img.appearedAt())
		if p.live(i) {
			r.live = true
			if img.BuildTime.After(r.liveHead) {
				r.liveHead = img.BuildTime
			}
			r.liveBuilds = append(r.liveBuilds, buildTime{img.BuildTime, img.appearedAt(), buildLabel(img)})
		}
	}
	// Labels: the version text of the newest build (ties: the image order).
	head := map[*release]Image{}
	for i, img := range images {
		if r := p.rels[i]; r != nil {
			if h, ok := head[r]; !ok || compareImages(p.versions, img, h) > 0 {
				head[r] = img
			}
		}
	}
	for r, img := range head {
		r.label = img.Version
		if r.label == "" {
			r.label = img.ID
		}
		slices.SortFunc(r.liveBuilds, func(a, b buildTime) int {
			return cmp.Or(b.built.Compare(a.built), strings.Compare(a.label, b.label))
		})
	}
	for k, rels := range byGroup {
		// An invalid keep (a bad policy) keeps every image anyway; 1 keeps
		// the index well defined.
		g := &group{keep: max(1, p.policyFor(k.channel).KeepReleases)}
		for _, r := range rels {
			g.releases = append(g.releases, r)
		}
		slices.SortFunc(g.releases, func(a, b *release) int { return compareReleases(b, a) })
		g.index()
		p.groups[k] = g
	}
	return p
}

func buildLabel(img Image) string {
	if img.Version == "" {
		return img.ID
	}
	return img.ID + " (" + img.Version + ")"
}

// live reports whether image i could be the release: active (as planned
// from) and not expired.
func (p *planner) live(i int) bool {
	img := p.images[i]
	return p.stages[i] == StageActive && !p.expired(img)
}

func (p *planner) expired(img Image) bool {
	return !img.ExpiresAt.IsZero() && !img.ExpiresAt.After(p.now) && !p.policyFor(img.Channel).NeverExpire
}

// compareReleases is a strict total order on the distinct releases of a
// group: precedence, then newest build, then the key itself.
func compareReleases(a, b *release) int {
	if c := compareSemver(a.sv, b.sv); c != 0 {
		return c
	}
	if c := a.built.Compare(b.built); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// index computes, for every release, how many newer live releases there are
// and when the keep-th of them appeared: the moment it stopped being among
// the newest keep (supersession). O(n log keep), walking the releases newest
// first with a max-heap of the keep earliest known appearance times; a newer
// release whose appearance is unknown counts, but its time is not known, so
// when fewer than keep known times remain the supersession time is unknown.
func (g *group) index() {
	h := &latestFirst{}
	n := 0
	g.namer = g.releases[0]
	for i := len(g.releases) - 1; i >= 0; i-- {
		if g.releases[i].live {
			g.namer = g.releases[i]
		}
	}
	for _, rel := range g.releases {
		rel.rank = n
		if n >= g.keep && h.Len() == g.keep {
			rel.supersedes = (*h)[0]
		}
		if !rel.live {
			continue
		}
		n++
		if rel.appeared.IsZero() {
			continue
		}
		heap.Push(h, rel.appeared)
		if h.Len() > g.keep {
			heap.Pop(h)
		}
	}
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
		p.chanErr[channel] = p.policy.validateChannel(channel)
	}
	return pol
}

func (p *planner) isNewBuild(img Image) bool {
	return slices.ContainsFunc(p.newBuild, func(r Ref) bool { return r.matches(img) })
}

func knownStage(s Stage) bool { _, ok := s.rank(); return ok }

func usableState(s string) bool {
	return s == "" || s == StateAvailable || s == StateDisabled
}

// goneUnrecorded reports whether the backend shows one of our images as
// gone (deregistered outside the plugin, or its files vanished) while its
// metadata still records a live stage: the plan records the fact, so the
// catalog or the tags stop claiming a release that no longer exists. A pin
// is left alone, as every record is.
func goneUnrecorded(img Image, owners []string) bool {
	return img.State == StateDeregistered && img.Stage != StageDeregistered && knownStage(img.Stage) &&
		img.Managed && !img.Pinned && (len(owners) == 0 || slices.Contains(owners, img.Owner))
}

// skipReason says why an image is not ours to judge, or "" when it is.
// Empty owners means the owner is not checked (Restore, a local catalog).
const skippedPending = `skipped: state "pending" (not released yet: a build in progress, or one stopped before it finished)`

// forget forgets a pending release (managed and owned: skipReason said
// pending) recorded longer than forget_pending_after ago: its run stopped
// before it finished. A pinned one, or one whose age is unknown, stays.
func (p *planner) forget(d Decision) (Decision, bool) {
	img, grace := d.Image, p.policy.ForgetPendingAfter
	since := img.StageSince
	if since.IsZero() {
		since = img.BuildTime
	}
	if grace <= 0 || img.Pinned || since.IsZero() || p.now.Sub(since) < grace {
		return d, false
	}
	d.Action = ActionForget
	d.Reason = fmt.Sprintf("forget: pending for %s, longer than forget_pending_after (%s): the run that recorded it stopped before it finished; no longer managed, delete the image by hand if unwanted",
		formatDuration(p.now.Sub(since).Truncate(time.Minute)), formatDuration(grace))
	return d, true
}

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
	case img.State == StatePending:
		return skippedPending
	case !usableState(img.State):
		return fmt.Sprintf("skipped: state %q", clip(img.State))
	}
	if r := foreignMetadata(img); r != "" {
		return "skipped: " + r
	}
	if img.BadMetadata != "" {
		return "skipped: unreadable metadata (" + img.BadMetadata + ")"
	}
	return ""
}

// The longest names the plugin writes (the post-processor refuses longer
// ones at validate): metadata beyond them, or with control characters, was
// written by someone else, so the image is not ours to judge.
const (
	MaxFamily  = 100
	MaxVersion = 64
	MaxChannel = 64
)

// foreignMetadata says why img's release metadata cannot be the plugin's
// own, or "" when it can.
func foreignMetadata(img Image) string {
	for _, f := range []struct {
		name, v string
		max     int
	}{{"family", img.Family, MaxFamily}, {"version", img.Version, MaxVersion}, {"channel", img.Channel, MaxChannel}} {
		if n := utf8.RuneCountInString(f.v); n > f.max {
			return fmt.Sprintf("%s of %d characters, longer than the plugin ever writes (%d)", f.name, n, f.max)
		}
		if strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return fmt.Sprintf("%s %q has a control character, which the plugin never writes", f.name, clip(f.v))
		}
	}
	return ""
}

// consumers returns a sorted copy of who uses the image, so the plan does not
// depend on the order the backend found them in.
func (p *planner) consumers(r Ref) []Consumer {
	return sortedConsumers(p.usage[r])
}

func sortedConsumers(in []Consumer) []Consumer {
	if len(in) == 0 {
		return nil // an empty list means not in use, like a missing one
	}
	cs := slices.Clone(in)
	slices.SortFunc(cs, func(a, b Consumer) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.ID, b.ID),
			strings.Compare(a.Version, b.Version), strings.Compare(a.Account, b.Account))
	})
	return cs
}

// supersession says whether image i is superseded, since when (zero:
// unknown) and why, for reasons.
type supersession struct {
	superseded bool
	at         time.Time
	known      bool
	by         string // "superseded by 1.5.0" or "superseded by rebuild ami-… (1.4.2+b3)"
	because    string // adds the counts: "superseded by 1.5.0 (3 newer releases, keep 3)"
	unknownBy  string // what has no time, when !known
}

func (p *planner) supersession(i int, g *group) supersession {
	img, r := p.images[i], p.rels[i]
	k := g.keep
	var s supersession
	newest := g.namer
	if r.rank >= k {
		s.superseded, s.at = true, r.supersedes
		s.by = "superseded by " + clip(newest.label)
		s.because = fmt.Sprintf("%s (%d newer release%s, keep %d)", s.by, r.rank, plural(r.rank), k)
		s.known = !r.supersedes.IsZero()
		if !s.known {
			s.unknownBy = "newer releases"
		}
	}
	// A newer live build of the same release supersedes this one from when
	// it appeared.
	var rebuildAt time.Time
	var rebuilt, rebuildKnown bool
	var by string
	for _, b := range r.liveBuilds {
		if !b.built.After(img.BuildTime) {
			break
		}
		if !rebuilt {
			by = b.label // the newest
		}
		rebuilt = true
		if !b.appeared.IsZero() {
			rebuildAt, rebuildKnown = earlier(rebuildAt, b.appeared), true
		}
	}
	if rebuilt {
		if !s.superseded {
			s.superseded = true
			s.by = "superseded by rebuild " + clip(by)
			s.because = s.by
			s.unknownBy = "the rebuild"
		}
		if rebuildKnown {
			s.at, s.known = earlier(s.at, rebuildAt), true
		}
	}
	return s
}

func (p *planner) decide(i int) Decision {
	img := p.images[i]
	d := Decision{Image: img, Action: ActionKeep, Consumers: p.consumers(img.Ref())}
	keep := func(format string, args ...any) Decision {
		d.Reason = "kept: " + fmt.Sprintf(format, args...)
		return d
	}
	if p.isNewBuild(img) {
		return keep("new build")
	}
	if p.invalid != nil {
		first, _, _ := strings.Cut(p.invalid.Error(), "\n")
		return keep("policy is invalid (%s)", first)
	}
	if goneUnrecorded(img, p.policy.Owners) {
		d.Action, d.To = ActionRecord, StageDeregistered
		d.Reason = "record: deregistered (gone from the backend, never retired by the plugin)"
		return d
	}
	if r := skipReason(img, p.policy.Owners); r != "" {
		if r == skippedPending {
			if f, ok := p.forget(d); ok {
				return f
			}
		}
		d.Action, d.Reason = ActionSkip, r
		return d
	}
	pol := p.policyFor(img.Channel)
	if err := p.chanErr[img.Channel]; err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		return keep("policy is invalid (%s)", first)
	}
	if img.Pinned {
		return keep("pinned")
	}

	now := p.now
	eff := p.stages[i]
	if rec := recordedStage(img); eff != rec {
		d.Action, d.To = ActionRecord, eff
		if r1, _ := eff.rank(); r1 > mustRank(rec) {
			d.Reason = fmt.Sprintf("record: %s (observed, stage never recorded)", eff)
		} else if eff == StageActive {
			d.Reason = fmt.Sprintf("record: active again (re-enabled outside the plugin; was recorded %s)", rec)
		} else {
			d.Reason = fmt.Sprintf("record: %s again (re-enabled outside the plugin; was recorded %s)", eff, rec)
		}
		return d
	}

	g := p.groups[keyOf(img)]
	r, k := p.rels[i], g.keep
	sup := p.supersession(i, g)
	expired := p.expired(img)
	kept := func() Decision {
		if p.live(i) {
			return keep("newest release (%d of %d)", r.rank+1, k)
		}
		what := string(eff)
		if eff == StageActive {
			what = "expired"
		}
		return keep("%s release, not counted in keep_releases (%d newer release%s, keep %d)", what, r.rank, plural(r.rank), k)
	}

	// What would the policy do next, from when, and why?
	var (
		step    Action
		since   time.Time // the delay runs from here
		entered time.Time // when the current stage was entered
		known   = true
		unknown string // what is unknown when !known
		delay   time.Duration
		knob    string // the policy knob that sets the delay
		state   string // where the image stands, for reasons: "deprecated 2d ago"
		because string // the action's reason
	)
	switch eff {
	case StageActive:
		activeSince, _ := img.stageSince(StageActive, now)
		entered = activeSince
		switch {
		case sup.superseded && expired:
			// Expired and superseded: at expiry, whatever deprecate_after says.
			step = ActionDeprecate
			since = later(activeSince, img.ExpiresAt)
			state = fmt.Sprintf("%s, expired %s", sup.by, ago(now, img.ExpiresAt))
			because = fmt.Sprintf("%s, expired %s", sup.because, ago(now, img.ExpiresAt))
		case sup.superseded:
			step = ActionDeprecate
			since = later(activeSince, sup.at)
			known, unknown = sup.known, "supersession time unknown: "+sup.unknownBy+" have no build or release time"
			if sup.unknownBy == "the rebuild" {
				unknown = "supersession time unknown: the rebuild has no build or release time"
			}
			delay, knob = pol.DeprecateAfter, "deprecate_after"
			state = sup.by
			because = sup.because
		case expired && pol.DeprecateExpired:
			step = ActionDeprecate
			since = later(activeSince, img.ExpiresAt)
			state = "expired " + ago(now, img.ExpiresAt)
			because = state
		default:
			return kept()
		}
	case StageDeprecated, StageDisabled:
		if !sup.superseded {
			return kept()
		}
		step, delay, knob = ActionDisable, pol.DisableAfter, "disable_after"
		if eff == StageDisabled {
			step, delay, knob = ActionDeregister, pol.DeregisterAfter, "deregister_after"
		}
		since, known = img.stageSince(eff, now)
		unknown = fmt.Sprintf("%s, since unknown (no %s)", eff, TagStageSince)
		entered = since
		state = fmt.Sprintf("%s %s", eff, ago(now, since))
		because = fmt.Sprintf("%s, %s (%s %s)", sup.by, state, knob, formatDuration(delay))
	}

	// Guards: what must hold however overdue the step is.
	if step == ActionDisable || step == ActionDeregister {
		if why := usedBy(d.Consumers); why != "" {
			return keep("%s", why)
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
	// Active again (restored, by the plugin or by hand) is held for min_age
	// like a new release. A stage-since no later than the release is the
	// release itself, not a restore.
	if eff == StageActive && img.Stage == StageActive && img.StageSince.After(img.appearedAt()) &&
		now.Sub(img.StageSince) < pol.MinAge {
		return keep("active again since %s (min_age %s)", ago(now, img.StageSince), formatDuration(pol.MinAge))
	}
	if !known {
		if eff == StageActive {
			return keep("%s, %s", state, unknown)
		}
		return keep("%s", unknown)
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

	d.Action, d.To = step, step.Target()
	d.Reason = fmt.Sprintf("%s: %s", step, because)
	if step == ActionDeregister && pol.DeleteSnapshots {
		d.DeleteSnapshots = true
		d.Snapshots = slices.Clone(img.Snapshots) // shareSnapshots removes what others hold
	}
	if why := usedBy(d.Consumers); strings.HasPrefix(why, "in use") {
		d.Reason += "; still " + why
	} else if why != "" {
		d.Reason += "; " + why
	}
	return d
}

// shareSnapshots takes out of every deregister's Snapshots what another
// image still holds (one not deregistered, now or by this plan), and writes
// the reason's account of what is deleted. A snapshot that several images
// deregistered by this plan share is listed once, by the last of them in
// plan order: backends carry that one out after the others of its images
// (in order, or waiting for them), so by then the others are gone and
// nothing registered refers to it. ds must be in plan order.
func (p *planner) shareSnapshots(ds []Decision) {
	held := map[string]string{} // snapshot → the (least) image that holds it
	last := map[string]int{}    // snapshot → the last deregister that may delete it
	for i, d := range ds {
		img := d.Image
		switch {
		case d.Action == ActionDeregister && d.DeleteSnapshots:
			for _, s := range d.Snapshots {
				last[s] = i
			}
		case d.Action == ActionDeregister, img.Stage == StageDeregistered, img.State == StateDeregistered:
		default:
			for _, s := range img.Snapshots {
				if h, ok := held[s]; !ok || img.Ref().String() < h {
					held[s] = img.Ref().String()
				}
			}
		}
	}
	for i := range ds {
		d := &ds[i]
		if d.Action != ActionDeregister || !d.DeleteSnapshots {
			continue
		}
		var del []string
		shared := map[string]bool{}
		holder := ""
		for _, s := range d.Snapshots {
			h, ok := held[s]
			if !ok && last[s] != i {
				h, ok = ds[last[s]].Image.Ref().String(), true
			}
			if ok {
				shared[s] = true
				if holder == "" || h < holder {
					holder = h
				}
			} else if !slices.Contains(del, s) {
				del = append(del, s)
			}
		}
		d.Snapshots = del
		if len(shared) > 0 && len(del) == 0 {
			d.DeleteSnapshots, d.Snapshots = false, nil
		}
		if n := len(del); n > 0 {
			d.Reason += fmt.Sprintf("; deleting %d snapshot%s/file%s", n, plural(n), plural(n)) // AMI snapshots or local files
		}
		if n := len(shared); n > 0 {
			d.Reason += fmt.Sprintf("; keeping %d shared with %s", n, clip(holder))
		}
	}
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
