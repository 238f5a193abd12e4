// Package backendtest is the conformance suite every backend.Backend
// passes: the contract the shell relies on, checked the same way for the
// local catalog and for AWS (against the EC2 emulator).
package backendtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Harness adapts one backend to the suite.
type Harness struct {
	// New returns an empty backend whose clock reads now().
	New func(t *testing.T, now func() time.Time) backend.Backend
	// Build makes a new build of family at version the way a builder
	// would (a file on disk, an AMI), not yet recorded, and returns it as
	// NewReleases describes it.
	Build func(t *testing.T, be backend.Backend, family, version string) lifecycle.Image
	// Crash makes the backend fail right after carrying out the next action
	// and before recording its stage, once (a kill -9 at the worst moment).
	Crash func(t *testing.T, be backend.Backend)
	// BreakUsage makes the usage lookup of img fail.
	BreakUsage func(t *testing.T, be backend.Backend, img lifecycle.Image)
	// UsageShared says the backend finds usage only by listings that cover
	// every image at once (Azure: VMs, scale sets, versions of the
	// gallery), so no lookup is img's alone: a broken one must then make
	// every image's usage unknown.
	UsageShared bool
	// BreakListing makes listing fail, for all or part of the backend.
	BreakListing func(t *testing.T, be backend.Backend)
}

// Run runs every conformance test.
func Run(t *testing.T, h Harness) {
	t.Run("RecordPendingThenRelease", func(t *testing.T) { recordPendingThenRelease(t, h) })
	t.Run("ListExcludesGone", func(t *testing.T) { listExcludesGone(t, h) })
	t.Run("ListAllFamilies", func(t *testing.T) { listAllFamilies(t, h) })
	t.Run("ApplyIsIdempotent", func(t *testing.T) { applyIsIdempotent(t, h) })
	t.Run("DryRunChangesNothing", func(t *testing.T) { dryRunChangesNothing(t, h) })
	t.Run("OneFailureHidesNoOther", func(t *testing.T) { oneFailureHidesNoOther(t, h) })
	t.Run("ForgetOnlyPending", func(t *testing.T) { forgetOnlyPending(t, h) })
	t.Run("CancelledContextStops", func(t *testing.T) { cancelledContextStops(t, h) })
	t.Run("UsageFailsClosed", func(t *testing.T) { usageFailsClosed(t, h) })
	t.Run("BrokenListingIsNeverEmpty", func(t *testing.T) { brokenListingIsNeverEmpty(t, h) })
	t.Run("CrashBeforeStageRecordConverges", func(t *testing.T) { crashConverges(t, h) })
	t.Run("MarkerFollowsTheStage", func(t *testing.T) { markerFollowsTheStage(t, h) })
	t.Run("CrashLeavesTheMarker", func(t *testing.T) { crashLeavesTheMarker(t, h) })
}

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fixture is a backend with a clock the test moves.
type fixture struct {
	t   *testing.T
	h   Harness
	be  backend.Backend
	now time.Time
	ctx context.Context
}

func newFixture(t *testing.T, h Harness) *fixture {
	f := &fixture{t: t, h: h, now: t0, ctx: context.Background()}
	f.be = h.New(t, func() time.Time { return f.now })
	return f
}

// release builds and records a release (pending, then released).
func (f *fixture) release(family, version string) lifecycle.Image {
	img := f.h.Build(f.t, f.be, family, version)
	img.State = backend.StatePending
	res := f.be.Record(f.ctx, []lifecycle.Image{img}, false)
	require.NoError(f.t, res[0].Err)
	img = res[0].Image
	img.State = lifecycle.StateAvailable
	res = f.be.Record(f.ctx, []lifecycle.Image{img}, false)
	require.NoError(f.t, res[0].Err)
	return res[0].Image
}

func (f *fixture) list(family string) map[lifecycle.Ref]lifecycle.Image {
	l, err := f.be.List(f.ctx, backend.Query{Family: family})
	require.NoError(f.t, err)
	require.Empty(f.t, l.Failed)
	out := map[lifecycle.Ref]lifecycle.Image{}
	for _, img := range l.Images {
		out[img.Ref()] = img
	}
	return out
}

// apply carries decisions out and requires every one to succeed.
func (f *fixture) apply(dry bool, ds ...lifecycle.Decision) []backend.Result {
	rs := f.be.Apply(f.ctx, ds, dry)
	require.Len(f.t, rs, len(ds))
	for i, r := range rs {
		require.NoError(f.t, r.Err, "decision %d (%s)", i, ds[i].Action)
		require.Equal(f.t, ds[i].Image.Ref(), r.Ref)
	}
	return rs
}

func decide(img lifecycle.Image, a lifecycle.Action) lifecycle.Decision {
	return lifecycle.Decision{Image: img, Action: a, To: a.Target(), Reason: "conformance: " + string(a), DeleteSnapshots: true, Snapshots: img.Snapshots}
}

// listAllFamilies: AllFamilies lists every family's releases (revocation
// follows descendants into other families); a family's listing stays its own.
func listAllFamilies(t *testing.T, h Harness) {
	f := newFixture(t, h)
	web := f.release("web", "1.0.0")
	db := f.release("db", "2.0.0")
	l, err := f.be.List(f.ctx, backend.Query{AllFamilies: true})
	require.NoError(t, err)
	require.Empty(t, l.Failed)
	got := map[lifecycle.Ref]string{}
	for _, img := range l.Images {
		got[img.Ref()] = img.Family
	}
	require.Equal(t, map[lifecycle.Ref]string{web.Ref(): "web", db.Ref(): "db"}, got)
	require.Len(t, f.list("web"), 1)
}

func recordPendingThenRelease(t *testing.T, h Harness) {
	f := newFixture(t, h)
	img := h.Build(t, f.be, "web", "1.0.0")
	img.State = backend.StatePending
	res := f.be.Record(f.ctx, []lifecycle.Image{img}, false)
	require.NoError(t, res[0].Err)
	require.True(t, res[0].Changed)
	ref := res[0].Ref
	require.NotEmpty(t, ref.ID, "Record chooses the id")
	listed, ok := f.list("web")[ref]
	require.True(t, ok, "a pending build is listed")
	require.Equal(t, backend.StatePending, listed.State, "and is pending, so no plan counts it")

	again := f.be.Record(f.ctx, []lifecycle.Image{img}, false)
	require.NoError(t, again[0].Err)
	require.False(t, again[0].Changed, "recording what is recorded changes nothing")

	img = res[0].Image
	img.State = lifecycle.StateAvailable
	rel := f.be.Record(f.ctx, []lifecycle.Image{img}, false)
	require.NoError(t, rel[0].Err)
	require.True(t, rel[0].Changed)
	require.Equal(t, ref, rel[0].Ref, "releasing keeps the id")
	listed = f.list("web")[ref]
	require.Equal(t, lifecycle.StateAvailable, listed.State)
	require.Equal(t, lifecycle.StageActive, listed.EffectiveStage(f.now))
	require.True(t, listed.Managed)
	require.Equal(t, "1.0.0", listed.Version)
	require.Empty(t, f.list("other"), "List selects the family")
}

func listExcludesGone(t *testing.T, h Harness) {
	f := newFixture(t, h)
	img := f.release("web", "1.0.0")
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable, lifecycle.ActionDeregister} {
		f.now = f.now.Add(time.Hour)
		img = f.list("web")[img.Ref()]
		f.apply(false, decide(img, a))
	}
	require.NotContains(t, f.list("web"), img.Ref(), "a deregistered image is gone from List")
}

func applyIsIdempotent(t *testing.T, h Harness) {
	f := newFixture(t, h)
	img := f.release("web", "1.0.0")
	f.now = f.now.Add(time.Hour)
	d := decide(img, lifecycle.ActionDeprecate)
	require.True(t, f.apply(false, d)[0].Changed)
	after := f.list("web")[img.Ref()]
	require.Equal(t, lifecycle.StageDeprecated, after.EffectiveStage(f.now))
	f.now = f.now.Add(time.Minute)
	require.False(t, f.apply(false, d)[0].Changed, "a re-run changes nothing and says so")
	require.Equal(t, after.StageSince, f.list("web")[img.Ref()].StageSince, "and leaves the stage time alone")
}

func dryRunChangesNothing(t *testing.T, h Harness) {
	f := newFixture(t, h)
	img := f.release("web", "1.0.0")
	before := f.list("web")
	img = before[img.Ref()] // decisions come from a listing
	f.now = f.now.Add(time.Hour)
	f.apply(true, decide(img, lifecycle.ActionDeprecate))
	require.Equal(t, before, f.list("web"))
	fresh := h.Build(t, f.be, "web", "2.0.0")
	res := f.be.Record(f.ctx, []lifecycle.Image{fresh}, true)
	require.NoError(t, res[0].Err)
	require.Equal(t, before, f.list("web"), "a dry-run record records nothing")
	// A dry run refuses what the real run would refuse.
	rs := f.be.Apply(f.ctx, []lifecycle.Decision{decide(img, lifecycle.ActionDeregister)}, true)
	require.Error(t, rs[0].Err, "stages are never skipped, not even in a dry run")
}

func oneFailureHidesNoOther(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.release("web", "1.0.0"), f.release("web", "1.1.0")
	ghost := a
	ghost.ID += "-ghost"
	f.now = f.now.Add(time.Hour)
	rs := f.be.Apply(f.ctx, []lifecycle.Decision{
		decide(a, lifecycle.ActionDeprecate),
		decide(ghost, lifecycle.ActionDeprecate),
		decide(b, lifecycle.ActionDisable), // skips a stage: refused
		{Image: b, Action: lifecycle.ActionKeep, Reason: "kept"},
	}, false)
	require.Len(t, rs, 4)
	require.NoError(t, rs[0].Err)
	require.True(t, rs[0].Changed)
	require.Error(t, rs[1].Err)
	require.Equal(t, ghost.Ref(), rs[1].Ref)
	require.Error(t, rs[2].Err)
	require.NoError(t, rs[3].Err)
	require.False(t, rs[3].Changed, "keep does nothing")
	l := f.list("web")
	require.Equal(t, lifecycle.StageDeprecated, l[a.Ref()].EffectiveStage(f.now))
	require.Equal(t, lifecycle.StageActive, l[b.Ref()].EffectiveStage(f.now))
}

func forgetOnlyPending(t *testing.T, h Harness) {
	f := newFixture(t, h)
	kept := f.release("web", "1.0.0")
	img := h.Build(t, f.be, "web", "2.0.0")
	img.State = backend.StatePending
	res := f.be.Record(f.ctx, []lifecycle.Image{img}, false)
	require.NoError(t, res[0].Err)
	rs := f.be.Forget(f.ctx, []lifecycle.Ref{res[0].Ref, kept.Ref()})
	require.NoError(t, rs[0].Err)
	require.True(t, rs[0].Changed)
	require.NoError(t, rs[1].Err)
	require.False(t, rs[1].Changed, "a release is never forgotten")
	l := f.list("web")
	require.NotContains(t, l, res[0].Ref)
	require.Contains(t, l, kept.Ref())
}

func cancelledContextStops(t *testing.T, h Harness) {
	f := newFixture(t, h)
	img := f.release("web", "1.0.0")
	before := f.list("web")
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	f.now = f.now.Add(time.Hour)
	rs := f.be.Apply(ctx, []lifecycle.Decision{decide(img, lifecycle.ActionDeprecate)}, false)
	require.ErrorIs(t, rs[0].Err, context.Canceled)
	require.False(t, rs[0].Changed)
	require.Equal(t, before, f.list("web"))
}

func usageFailsClosed(t *testing.T, h Harness) {
	f := newFixture(t, h)
	img := f.release("web", "1.0.0")
	other := f.release("web", "1.1.0")
	h.BreakUsage(t, f.be, img)
	imgs := []lifecycle.Image{f.list("web")[img.Ref()], f.list("web")[other.Ref()]}
	u := f.be.Usage(f.ctx, imgs)
	require.NotEmpty(t, u[img.Ref()], "an image whose usage is unknown is in use")
	require.Equal(t, lifecycle.ConsumerUnknown, u[img.Ref()][0].Kind)
	require.NotEmpty(t, u[img.Ref()][0].ID, "the consumer says why")
	if h.UsageShared {
		require.NotEmpty(t, u[other.Ref()], "a shared lookup that failed leaves every image's usage unknown")
		require.Equal(t, lifecycle.ConsumerUnknown, u[other.Ref()][0].Kind)
		return
	}
	for _, c := range u[other.Ref()] {
		require.NotEqual(t, lifecycle.ConsumerUnknown, c.Kind, "one failed lookup fails only its image")
	}
}

func brokenListingIsNeverEmpty(t *testing.T, h Harness) {
	f := newFixture(t, h)
	f.release("web", "1.0.0")
	h.BreakListing(t, f.be)
	l, err := f.be.List(f.ctx, backend.Query{Family: "web"})
	if err == nil {
		require.NotEmpty(t, l.Failed, "a listing that failed says so, never passes for an empty family")
		for _, fail := range l.Failed {
			require.NotEmpty(t, fail.Region)
			require.Error(t, fail.Err)
		}
	}
}

func crashConverges(t *testing.T, h Harness) {
	f := newFixture(t, h)
	img := f.release("web", "1.0.0")
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable, lifecycle.ActionDeregister} {
		f.now = f.now.Add(time.Hour)
		cur := f.list("web")[img.Ref()]
		d := decide(cur, a)
		h.Crash(t, f.be)
		rs := f.be.Apply(f.ctx, []lifecycle.Decision{d}, false)
		require.Error(t, rs[0].Err, "%s: the crash", a)
		// The re-run, from a fresh listing, converges.
		f.now = f.now.Add(time.Minute)
		if cur, ok := f.list("web")[img.Ref()]; ok {
			d = decide(cur, a)
		}
		f.apply(false, d)
		if a != lifecycle.ActionDeregister {
			require.Equal(t, a.Target(), f.list("web")[img.Ref()].EffectiveStage(f.now), "after %s", a)
		}
	}
	require.NotContains(t, f.list("web"), img.Ref())
}

// markedBy says whether img's marker names by (a marker without a region
// names the build in any region: GCP labels hold the image name alone).
func markedBy(img lifecycle.Image, by lifecycle.Ref) bool {
	return img.SupersededBy.ID == by.ID && (img.SupersededBy.Region == "" || img.SupersededBy.Region == by.Region)
}

func withMark(d lifecycle.Decision, by lifecycle.Ref) lifecycle.Decision {
	d.SupersededBy = by
	return d
}

// markerFollowsTheStage: a stage change records the decision's marker
// (lifecycle.Plan, rule 0); a record of the same stage without one clears
// it alone, keeping the stage and its since, and a dry run of that changes
// nothing; a restore clears it.
func markerFollowsTheStage(t *testing.T, h Harness) {
	f := newFixture(t, h)
	old := f.release("web", "1.0.0")
	by := f.release("web", "2.0.0").Ref()
	f.now = f.now.Add(time.Hour)
	f.apply(false, withMark(decide(old, lifecycle.ActionDeprecate), by))
	cur := f.list("web")[old.Ref()]
	require.True(t, markedBy(cur, by), "deprecated for %s: %+v", by, cur.SupersededBy)
	require.Equal(t, lifecycle.StageDeprecated, cur.Stage)

	f.now = f.now.Add(time.Hour)
	clear := lifecycle.Decision{Image: cur, Action: lifecycle.ActionRecord, To: lifecycle.StageDeprecated, Reason: "conformance: the build is a release"}
	require.True(t, f.apply(true, clear)[0].Changed, "a dry run says the marker would be cleared")
	require.True(t, markedBy(f.list("web")[old.Ref()], by), "and leaves it")
	require.True(t, f.apply(false, clear)[0].Changed)
	after := f.list("web")[old.Ref()]
	require.Equal(t, lifecycle.Ref{}, after.SupersededBy, "the marker is cleared")
	require.Equal(t, lifecycle.StageDeprecated, after.Stage)
	require.Equal(t, lifecycle.StageDeprecated, after.EffectiveStage(f.now))
	require.True(t, cur.StageSince.Equal(after.StageSince), "the since stands: %s, was %s", after.StageSince, cur.StageSince)
	require.False(t, f.apply(false, clear)[0].Changed, "cleared already")

	f.now = f.now.Add(time.Hour)
	f.apply(false, withMark(decide(after, lifecycle.ActionDisable), by))
	cur = f.list("web")[old.Ref()]
	require.True(t, markedBy(cur, by), "disabled for %s: %+v", by, cur.SupersededBy)
	f.now = f.now.Add(time.Hour)
	f.apply(false, decide(cur, lifecycle.ActionRestore))
	cur = f.list("web")[old.Ref()]
	require.Equal(t, lifecycle.StageActive, cur.EffectiveStage(f.now))
	require.Equal(t, lifecycle.Ref{}, cur.SupersededBy, "a restore clears the marker")
}

// crashLeavesTheMarker: a run killed right after a marked deprecate or
// disable leaves the image marked, however far it got: the next run must
// be able to tell what to undo if the build never becomes a release.
func crashLeavesTheMarker(t *testing.T, h Harness) {
	f := newFixture(t, h)
	img := f.release("web", "1.0.0")
	by := f.release("web", "2.0.0").Ref()
	for _, a := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable} {
		f.now = f.now.Add(time.Hour)
		d := withMark(decide(f.list("web")[img.Ref()], a), by)
		h.Crash(t, f.be)
		require.Error(t, f.be.Apply(f.ctx, []lifecycle.Decision{d}, false)[0].Err, "%s: the crash", a)
		cur := f.list("web")[img.Ref()]
		if cur.EffectiveStage(f.now) == a.Target() {
			require.True(t, markedBy(cur, by), "%s carried out, then the crash: the marker must be there (%+v)", a, cur.SupersededBy)
		}
		f.now = f.now.Add(time.Minute)
		f.apply(false, withMark(decide(cur, a), by))
		cur = f.list("web")[img.Ref()]
		require.Equal(t, a.Target(), cur.EffectiveStage(f.now), "after %s", a)
		require.True(t, markedBy(cur, by), "after the re-run of %s", a)
	}
}
