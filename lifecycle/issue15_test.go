package lifecycle

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests for issue 15 (planner review): one per item, each written to fail
// on the planner before the change.

func planByID(t *testing.T, imgs []Image, usage Usage, pol Policy, at time.Time, newBuild ...Ref) map[string]Decision {
	t.Helper()
	out := map[string]Decision{}
	for _, d := range Plan(imgs, usage, pol, at, newBuild) {
		_, dup := out[d.Image.Ref().String()]
		require.False(t, dup, "two images %s", d.Image.Ref())
		out[d.Image.ID] = d
	}
	return out
}

func requireDecisions(t *testing.T, got map[string]Decision, wants map[string]want) {
	t.Helper()
	for id, w := range wants {
		d, ok := got[id]
		require.True(t, ok, "no decision for %s", id)
		require.Equal(t, w, want{d.Action, d.Reason}, "decision for %s", id)
	}
}

func at(days int) func(*Image) { return func(i *Image) { i.BuildTime = daysAgo(days) } }

// Item 1: versions of equal precedence are one release.
func TestIssue15OneReleasePerPrecedence(t *testing.T) {
	cases := []struct {
		name   string
		images []Image
		want   map[string]want
	}{{
		name: "build metadata",
		images: []Image{
			mk("ami-b1", "1.4.2+build.1", 10), mk("ami-b2", "1.4.2+build.2", 9), mk("ami-b3", "1.4.2+build.3", 8),
			mk("ami-141", "1.4.1", 40), mk("ami-140", "1.4.0", 80), mk("ami-130", "1.3.0", 120),
		},
		want: map[string]want{
			"ami-b3":  {ActionKeep, "kept: newest release (1 of 3)"},
			"ami-141": {ActionKeep, "kept: newest release (2 of 3)"},
			"ami-140": {ActionKeep, "kept: newest release (3 of 3)"},
			"ami-130": {ActionDeprecate, "deprecate: superseded by 1.4.2+build.3 (3 newer releases, keep 3)"},
			"ami-b2":  {ActionDeprecate, "deprecate: superseded by rebuild ami-b3 (1.4.2+build.3)"},
			"ami-b1":  {ActionDeprecate, "deprecate: superseded by rebuild ami-b3 (1.4.2+build.3)"},
		},
	}, {
		name: "v prefix and trailing zeros",
		images: []Image{
			mk("ami-15a", "1.5", 30), mk("ami-15b", "1.5.0", 20), mk("ami-15c", "1.5.0.0", 10),
			mk("ami-v142", "v1.4.2", 50), mk("ami-142", "1.4.2", 45),
			mk("ami-141", "1.4.1", 60), mk("ami-140", "1.4.0", 70),
		},
		want: map[string]want{
			"ami-15c": {ActionKeep, "kept: newest release (1 of 3)"},
			"ami-142": {ActionKeep, "kept: newest release (2 of 3)"},
			"ami-141": {ActionKeep, "kept: newest release (3 of 3)"},
			"ami-140": {ActionDeprecate, "deprecate: superseded by 1.5.0.0 (3 newer releases, keep 3)"},
		},
	}, {
		name: "numeric prerelease parts by value",
		images: []Image{
			mk("ami-rc01", "2.0.0-rc.01", 30), mk("ami-rc1", "2.0.0-rc.1", 20),
			mk("ami-1", "1.0.0", 50),
		},
		want: map[string]want{
			"ami-rc1":  {ActionKeep, "kept: newest release (1 of 3)"},
			"ami-1":    {ActionKeep, "kept: newest release (2 of 3)"},
			"ami-rc01": {ActionDeprecate, "deprecate: superseded by rebuild ami-rc1 (2.0.0-rc.1)"},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireDecisions(t, planByID(t, tc.images, nil, testPolicy(), now), tc.want)
		})
	}
}

// Item 2: a rebuild supersedes the older builds of its version, from the
// rebuild's time; order within a release is by build time.
func TestIssue15Rebuilds(t *testing.T) {
	t.Run("supersession dated to the rebuild, not the first build", func(t *testing.T) {
		imgs := []Image{
			mk("ami-b1", "1.7.0+b1", 60), mk("ami-b9", "1.7.0+b9", 20), mk("ami-b10", "1.7.0+b10", 10),
		}
		pol := testPolicy()
		pol.DeprecateAfter = 14 * Day
		requireDecisions(t, planByID(t, imgs, nil, pol, now), map[string]want{
			// b10 sorts below b9 as text; build time decides.
			"ami-b10": {ActionKeep, "kept: newest release (1 of 3)"},
			"ami-b9":  {ActionKeep, "kept: superseded by rebuild ami-b10 (1.7.0+b10), deprecate in 4d (deprecate_after 14d)"},
			// b1 was superseded by b9, 20 days ago.
			"ami-b1": {ActionDeprecate, "deprecate: superseded by rebuild ami-b10 (1.7.0+b10)"},
		})
	})
	t.Run("copies of one build do not supersede each other", func(t *testing.T) {
		imgs := []Image{mk("ami-a", "22.04", 10), mk("ami-b", "22.04", 10)}
		got := planByID(t, imgs, nil, testPolicy(), now)
		require.Equal(t, ActionKeep, got["ami-a"].Action)
		require.Equal(t, ActionKeep, got["ami-b"].Action)
	})
	t.Run("a deprecated rebuild does not retire the good build", func(t *testing.T) {
		imgs := []Image{mk("ami-good", "22.04", 20), mk("ami-bad", "22.04", 10, stage(StageDeprecated, 1))}
		got := planByID(t, imgs, nil, testPolicy(), now)
		require.Equal(t, want{ActionKeep, "kept: newest release (1 of 3)"}, want{got["ami-good"].Action, got["ami-good"].Reason})
	})
	t.Run("a year of weekly rebuilds of one version", func(t *testing.T) {
		pol := testPolicy()
		var imgs []Image
		start := now
		var maxLive int
		for week := 0; week < 52; week++ {
			for day := 0; day < 7; day++ {
				at := start.Add(time.Duration(week*7+day) * Day)
				var nb []Ref
				if day == 0 {
					b := Image{ID: fmt.Sprintf("ami-w%02d", week), Region: "us-east-1", Family: "base", Channel: "stable",
						Version: "22.04", BuildTime: at, Managed: true, Owner: "111111111111", State: StateAvailable,
						Stage: StageActive, StageSince: at, ReleasedAt: at}
					imgs = append(imgs, b)
					nb = []Ref{b.Ref()}
				}
				var next []Image
				for _, d := range Plan(imgs, nil, pol, at, nb) {
					require.NotEqual(t, ActionRecord, d.Action, "%s", d.Reason)
					img := Apply(d.Image, d, at)
					if img.Stage != StageDeregistered {
						next = append(next, img)
					}
				}
				imgs = next
				maxLive = max(maxLive, len(imgs))
			}
		}
		// min_age 7d + disable_after 30d + deregister_after 30d: about ten
		// weekly builds exist at any time, not 52.
		require.LessOrEqual(t, maxLive, 11)
		require.GreaterOrEqual(t, maxLive, 9)
		newest := imgs[len(imgs)-1]
		for _, img := range imgs {
			if img.BuildTime.After(newest.BuildTime) {
				newest = img
			}
		}
		require.Equal(t, StageActive, newest.Stage)
	})
}

// Item 3: expired and superseded is deprecated at expiry, whatever
// deprecate_after says; raising keep_releases never makes a plan more
// aggressive.
func TestIssue15ExpiredAndSuperseded(t *testing.T) {
	imgs := history(with(func(i *Image) { i.ExpiresAt = daysAgo(2) }))
	for _, keep := range []int{3, 4} {
		pol := testPolicy()
		pol.DeprecateAfter = 30 * Day
		pol.KeepReleases = keep
		got := planByID(t, imgs, nil, pol, now)
		require.Equal(t, ActionDeprecate, got["ami-110"].Action, "keep %d: %s", keep, got["ami-110"].Reason)
	}
	pol := testPolicy()
	pol.DeprecateAfter = 30 * Day
	pol.DeprecateExpired = false // expiry of a superseded image does not depend on it
	got := planByID(t, imgs, nil, pol, now)
	require.Equal(t, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3), expired 2d ago", got["ami-110"].Reason)
}

// Item 4: an unknown supersession time waits; a late copy in a region
// starts that region's clock when it arrives.
func TestIssue15UnknownSupersessionTime(t *testing.T) {
	t.Run("newer release without build or release time", func(t *testing.T) {
		imgs := append(history(), mk("ami-150", "1.5.0", 0, with(func(i *Image) { i.BuildTime = time.Time{} })))
		requireDecisions(t, planByID(t, imgs, nil, testPolicy(), now), map[string]want{
			"ami-150": {ActionKeep, "kept: newest release (1 of 3)"},
			"ami-120": {ActionKeep, "kept: superseded by 1.5.0, supersession time unknown: newer releases have no build or release time"},
			// Three newer releases with known times: superseded 10 days ago.
			"ami-110": {ActionDeprecate, "deprecate: superseded by 1.5.0 (4 newer releases, keep 3)"},
		})
	})
	t.Run("rebuild without build or release time", func(t *testing.T) {
		imgs := []Image{mk("ami-a", "1.0.0", 30), mk("ami-b", "1.0.0", 0, with(func(i *Image) { i.BuildTime = time.Time{} }))}
		got := planByID(t, imgs, nil, testPolicy(), now)
		// A build without a build time is not newer than any: no rebuild.
		require.Equal(t, "kept: newest release (1 of 3)", got["ami-a"].Reason)
	})
	t.Run("late copy", func(t *testing.T) {
		var imgs []Image
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			for _, im := range history() {
				im.ID += "-" + region
				im.Region = region
				im.ReleasedAt = im.BuildTime
				imgs = append(imgs, im)
			}
			arrived := 30
			if region == "eu-west-1" {
				arrived = 1 // copied a month after the release; the tag says 30d
			}
			imgs = append(imgs, mk("ami-150-"+region, "1.5.0", arrived, with(func(i *Image) {
				i.Region, i.ReleasedAt = region, daysAgo(30)
			})))
		}
		pol := testPolicy()
		pol.DeprecateAfter = 7 * Day
		requireDecisions(t, planByID(t, imgs, nil, pol, now), map[string]want{
			"ami-120-us-east-1": {ActionDeprecate, "deprecate: superseded by 1.5.0 (3 newer releases, keep 3)"},
			"ami-120-eu-west-1": {ActionKeep, "kept: superseded by 1.5.0, deprecate in 6d (deprecate_after 7d)"},
		})
	})
}

// Item 5: snapshots another live image holds are never listed for deletion.
func TestIssue15SharedSnapshots(t *testing.T) {
	snaps := func(s ...string) func(*Image) { return func(i *Image) { i.Snapshots = s } }
	imgs := []Image{
		mk("ami-142", "1.4.2", 10), mk("ami-130", "1.3.0", 40, snaps("snap-shared")), mk("ami-120", "1.2.0", 80),
		mk("ami-110", "1.1.0", 120, stage(StageDisabled, 31), snaps("snap-1", "snap-shared")),
		mk("ami-100", "1.0.0", 130, stage(StageDisabled, 31), snaps("snap-shared")),
		mk("ami-090", "0.9.0", 140, stage(StageDisabled, 31), snaps("snap-2", "snap-2")),
	}
	got := planByID(t, imgs, nil, testPolicy(), now)
	d := got["ami-110"]
	require.Equal(t, ActionDeregister, d.Action)
	require.True(t, d.DeleteSnapshots)
	require.Equal(t, []string{"snap-1"}, d.Snapshots)
	require.Equal(t, "deregister: superseded by 1.4.2, disabled 31d ago (deregister_after 30d); deleting 1 snapshot/file; keeping 1 shared with us-east-1:ami-130", d.Reason)
	d = got["ami-100"]
	require.Equal(t, ActionDeregister, d.Action)
	require.False(t, d.DeleteSnapshots, "all its snapshots are shared")
	require.Empty(t, d.Snapshots)
	require.Equal(t, []string{"snap-2"}, got["ami-090"].Snapshots)
	// Shared only among images this plan deregisters: the last in plan
	// order deletes it, once the others are gone.
	imgs = []Image{
		mk("ami-142", "1.4.2", 10), mk("ami-130", "1.3.0", 40), mk("ami-120", "1.2.0", 80),
		mk("ami-110", "1.1.0", 120, stage(StageDisabled, 31), snaps("snap-1", "snap-shared")),
		mk("ami-100", "1.0.0", 130, stage(StageDisabled, 31), snaps("snap-shared")),
	}
	plan := Plan(imgs, nil, testPolicy(), now, nil)
	require.Equal(t, "ami-110", plan[3].Image.ID)
	require.Equal(t, []string{"snap-1"}, plan[3].Snapshots)
	require.Equal(t, "deregister: superseded by 1.4.2, disabled 31d ago (deregister_after 30d); deleting 1 snapshot/file; keeping 1 shared with us-east-1:ami-100", plan[3].Reason)
	require.Equal(t, "ami-100", plan[4].Image.ID)
	require.Equal(t, []string{"snap-shared"}, plan[4].Snapshots)
	// Applied, only the listed snapshot is gone.
	require.Equal(t, []string{"snap-shared"}, Apply(got["ami-110"].Image, got["ami-110"], now).Snapshots)
}

// Item 6: plan, apply, write tags, read them back (whole seconds) and plan
// again at the same instant: no second step.
func TestIssue15TagPrecision(t *testing.T) {
	pol := testPolicy()
	pol.MinAge, pol.DisableAfter, pol.DeregisterAfter = 0, 0, 0
	at := now.Add(700 * time.Millisecond)
	imgs := history()
	for run := 0; run < 4; run++ {
		plan := Plan(imgs, nil, pol, at, nil)
		imgs = imgs[:0]
		for _, d := range plan {
			img := Apply(d.Image, d, at)
			back, err := FromTags(img, Tags(img, pol.ManagedBy))
			require.NoError(t, err)
			imgs = append(imgs, back)
		}
		for _, d := range Plan(imgs, nil, pol, at, nil) {
			require.False(t, d.Action.Mutates(), "run %d: second step at the same instant: %s %s", run, d.Image.ID, d.Reason)
		}
		at = at.Add(time.Second)
	}
}

// A newest release that is deprecated, disabled or expired uses no keep
// slot.
func TestIssue15BadNewestReleaseUsesNoSlot(t *testing.T) {
	for name, opt := range map[string]func(*Image){
		"deprecated": stage(StageDeprecated, 1),
		"disabled":   stage(StageDisabled, 1),
		"expired":    with(func(i *Image) { i.ExpiresAt = daysAgo(1) }),
	} {
		t.Run(name, func(t *testing.T) {
			imgs := append(history(), mk("ami-150", "1.5.0", 8, opt))
			pol := testPolicy()
			pol.DeprecateExpired = false
			got := planByID(t, imgs, nil, pol, now)
			require.Equal(t, "kept: newest release (3 of 3)", got["ami-120"].Reason)
			require.Equal(t, fmt.Sprintf("kept: %s release, not counted in keep_releases (0 newer releases, keep 3)", name), got["ami-150"].Reason)
		})
	}
}

// An image re-enabled by hand is restored by its owner: recorded again,
// never carried on to deregistration.
func TestIssue15ReenabledByHand(t *testing.T) {
	cases := []struct {
		name string
		opt  func(*Image)
		want want
		to   Stage
	}{
		{"disabled, enabled and undeprecated", with(func(i *Image) {
			i.Stage, i.StageSince, i.State = StageDisabled, daysAgo(60), StateAvailable
		}), want{ActionRecord, "record: active again (re-enabled outside the plugin; was recorded disabled)"}, StageActive},
		{"disabled, enabled, still deprecated", with(func(i *Image) {
			i.Stage, i.StageSince, i.State, i.DeprecationTime = StageDisabled, daysAgo(60), StateAvailable, daysAgo(90)
		}), want{ActionRecord, "record: deprecated again (re-enabled outside the plugin; was recorded disabled)"}, StageDeprecated},
		{"deprecation cleared", with(func(i *Image) {
			i.Stage, i.StageSince = StageDeprecated, daysAgo(60)
		}), want{ActionRecord, "record: active again (re-enabled outside the plugin; was recorded deprecated)"}, StageActive},
		{"deprecation time ahead is not a restore (EC2 rounds to the minute)", with(func(i *Image) {
			i.Stage, i.StageSince, i.DeprecationTime = StageDeprecated, now.Add(-time.Second), now.Add(30*time.Second)
		}), want{ActionKeep, "kept: deprecated 1s ago, disable in 29d (disable_after 30d)"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := planByID(t, history(tc.opt), nil, testPolicy(), now)
			d := got["ami-110"]
			require.Equal(t, tc.want, want{d.Action, d.Reason})
			require.Equal(t, tc.to, d.To)
			if d.Action != ActionRecord {
				return
			}
			// Then held like a restore, and after min_age it starts over.
			img := Apply(d.Image, d, now)
			require.Equal(t, tc.to, img.Stage)
			next := planByID(t, append(history()[:3], img), nil, testPolicy(), now.Add(time.Hour))
			if tc.to == StageActive {
				require.Equal(t, "kept: active again since 1h ago (min_age 7d)", next["ami-110"].Reason)
			} else {
				require.Equal(t, "kept: deprecated 1h ago, disable in 29d (disable_after 30d)", next["ami-110"].Reason)
			}
		})
	}
}

// Observed ahead of recorded (a crash between the backend call and the tag
// write): the stage is recorded, since now, and the next step waits its
// full delay from there.
func TestIssue15RecordObservedStage(t *testing.T) {
	imgs := history(with(func(i *Image) { i.State = StateDisabled; i.DeprecationTime = daysAgo(90) }))
	got := planByID(t, imgs, nil, testPolicy(), now)
	d := got["ami-110"]
	require.Equal(t, want{ActionRecord, "record: disabled (observed, stage never recorded)"}, want{d.Action, d.Reason})
	require.Equal(t, StageDisabled, d.Target())
	require.True(t, d.Action.Mutates())
	img := Apply(d.Image, d, now)
	require.Equal(t, StageDisabled, img.Stage)
	require.Equal(t, now, img.StageSince)
	require.Equal(t, StateDisabled, img.State, "a record changes no backend state")
	next := planByID(t, append(history()[:3], img), nil, testPolicy(), now.Add(30*Day))
	require.Equal(t, ActionDeregister, next["ami-110"].Action)
}

// keep_releases = 0 is rejected; a bad channel override keeps that channel
// only, naming the field.
func TestIssue15ChannelValidation(t *testing.T) {
	pol := testPolicy()
	pol.KeepReleases = 0
	require.ErrorContains(t, pol.Validate(), "keep_releases must be at least 1 (got 0)")

	var imgs []Image
	for _, ch := range []string{"stable", "rc"} {
		for _, im := range history() {
			im.ID += "-" + ch
			im.Channel = ch
			imgs = append(imgs, im)
		}
	}
	pol = testPolicy()
	pol.Channels = map[string]ChannelPolicy{"rc": {KeepReleases: new(int)}}
	require.EqualError(t, pol.Validate(), `channel "rc": keep_releases must be at least 1 (got 0)`)
	got := planByID(t, imgs, nil, pol, now)
	require.Equal(t, ActionDeprecate, got["ami-110-stable"].Action)
	require.Equal(t, `kept: policy is invalid (channel "rc": keep_releases must be at least 1 (got 0))`, got["ami-110-rc"].Reason)
	// nil inherits: an override that sets nothing is valid and changes nothing.
	pol.Channels = map[string]ChannelPolicy{"rc": {}}
	require.NoError(t, pol.Validate())
	require.Equal(t, 3, pol.For("rc").KeepReleases)
}

// never_expire ignores an expiry recorded earlier.
func TestIssue15NeverExpire(t *testing.T) {
	imgs := []Image{mk("ami-1", "1.0.0", 40, with(func(i *Image) { i.ExpiresAt = daysAgo(2) }))}
	pol := testPolicy()
	pol.Channels = map[string]ChannelPolicy{"stable": {NeverExpire: true}}
	got := planByID(t, imgs, nil, pol, now)
	require.Equal(t, want{ActionKeep, "kept: newest release (1 of 3)"}, want{got["ami-1"].Action, got["ami-1"].Reason})
	require.True(t, pol.For("stable").NeverExpire)
	require.True(t, pol.ExpiresAt("stable", now).IsZero())
}

// "active again" only for an image that was restored: a release whose
// stage-since is its release time was never restored.
func TestIssue15ActiveAgainOnlyAfterRestore(t *testing.T) {
	imgs := history(with(func(i *Image) {
		i.ReleasedAt = daysAgo(2) // released long after it was built
		i.Stage, i.StageSince = StageActive, daysAgo(2)
	}))
	got := planByID(t, imgs, nil, testPolicy(), now)
	require.NotContains(t, got["ami-110"].Reason, "again")
	require.Equal(t, ActionDeprecate, got["ami-110"].Action)
}

// Unknown usage keeps an image from being disabled or deregistered, with a
// reason saying why.
func TestIssue16UnknownUsage(t *testing.T) {
	u := Usage{ref("ami-110"): {{Kind: ConsumerUnknown, ID: "DescribeInstances: AccessDenied"}, {Kind: ConsumerInstance, ID: "i-1"}}}
	got := planByID(t, history(stage(StageDisabled, 90)), u, testPolicy(), now)
	require.Equal(t, want{ActionKeep, "kept: usage unknown (DescribeInstances: AccessDenied)"}, want{got["ami-110"].Action, got["ami-110"].Reason})
	got = planByID(t, history(), u, testPolicy(), now)
	require.Equal(t, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3); usage unknown (DescribeInstances: AccessDenied)", got["ami-110"].Reason)
	// Keyed by region: the same id in another region is another image.
	u = Usage{{Region: "eu-west-1", ID: "ami-110"}: {{Kind: ConsumerInstance, ID: "i-1"}}}
	got = planByID(t, history(stage(StageDisabled, 90)), u, testPolicy(), now)
	require.Equal(t, ActionDeregister, got["ami-110"].Action)
}

func TestRef(t *testing.T) {
	r := mk("ami-1", "1", 1).Ref()
	require.Equal(t, Ref{"us-east-1", "ami-1"}, r)
	require.Equal(t, "us-east-1:ami-1", r.String())
	require.Equal(t, "ami-1", Ref{ID: "ami-1"}.String())
	require.Equal(t, r, ParseRef(r.String()))
	require.Equal(t, Ref{ID: "ami-1"}, ParseRef("ami-1"))
}

func TestIssue15ChooseOwnersAndCounts(t *testing.T) {
	img := func(id, ver, owner string, mod func(*Image)) Image {
		i := Image{ID: id, Region: "us-east-1", Family: "base", Channel: "stable", Version: ver, Managed: true,
			State: StateAvailable, BuildTime: now.Add(-time.Hour), Owner: owner}
		if mod != nil {
			mod(&i)
		}
		return i
	}
	dep := func(i *Image) { i.Stage = StageDeprecated }
	all := []Image{
		img("a", "1.0.0", "111", nil),
		img("evil", "9.0.0", "666", nil),
		img("d1", "2.0.0", "111", dep), img("d2", "v2.0.0", "111", dep), img("d3", "2.0.0+b2", "111", dep),
		img("d4", "2.0.0", "111", func(i *Image) { dep(i); i.Region = "eu-west-1" }),
	}
	got, err := Choose(all, Choice{Family: "base", Owners: []string{"111"}}, now)
	require.NoError(t, err)
	require.Equal(t, "a", got.ID)
	got, err = Choose(all, Choice{Family: "base"}, now)
	require.NoError(t, err)
	require.Equal(t, "evil", got.ID, "owners unset: not checked")
	_, err = Choose(all, Choice{Family: "base", Owners: []string{"111"}, Constraint: ">= 2"}, now)
	require.EqualError(t, err, "no supported release of family base: passed over 1 deprecated, 1 not owned by an allowed owner, 1 outside >= 2")
}

// Reasons never repeat the action.
func TestIssue15ReasonsDoNotRepeatTheAction(t *testing.T) {
	imgs := history(with(func(i *Image) { i.ExpiresAt = daysAgo(1) }))
	for _, d := range Plan(imgs, nil, testPolicy(), now, nil) {
		rest := strings.TrimPrefix(d.Reason, reasonPrefix(d.Action))
		require.False(t, strings.HasPrefix(rest, reasonPrefix(d.Action)), d.Reason)
	}
}
