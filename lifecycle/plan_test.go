package lifecycle

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// now is the fixed "current time" of the table tests.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return now.Add(-time.Duration(n) * Day) }

// mk builds a managed, owned, available image of family "base", channel
// "stable" in us-east-1, built (and released) `age` days ago.
func mk(id, version string, age int, opts ...func(*Image)) Image {
	img := Image{
		ID: id, Region: "us-east-1", Family: "base", Channel: "stable", Version: version,
		BuildTime: daysAgo(age), Managed: true, Owner: "111111111111", State: StateAvailable,
	}
	for _, o := range opts {
		o(&img)
	}
	return img
}

func stage(s Stage, sinceDays int) func(*Image) {
	return func(i *Image) {
		i.Stage, i.StageSince = s, daysAgo(sinceDays)
		switch s {
		case StageDeprecated:
			i.DeprecationTime = i.StageSince
		case StageDisabled:
			i.State = StateDisabled
			i.DeprecationTime = i.StageSince.Add(-30 * Day)
		}
	}
}

func with(f func(*Image)) func(*Image) { return f }

// ref is the Ref of a test image in us-east-1 (mk's region).
func ref(id string) Ref { return Ref{Region: "us-east-1", ID: id} }

// refs names ids in every region (requests may leave the region empty).
func refs(ids ...string) []Ref {
	out := make([]Ref, len(ids))
	for i, id := range ids {
		out[i] = Ref{ID: id}
	}
	return out
}

// history is four older releases behind 1.4.2, so with keep 3 the oldest
// (1.1.0) is superseded; opts apply to 1.1.0.
func history(opts ...func(*Image)) []Image {
	return []Image{
		mk("ami-142", "1.4.2", 10),
		mk("ami-130", "1.3.0", 40),
		mk("ami-120", "1.2.0", 80),
		mk("ami-110", "1.1.0", 120, opts...),
	}
}

func testPolicy() Policy {
	p := DefaultPolicy()
	p.Owners = []string{"111111111111"}
	return p
}

type want struct {
	action Action
	reason string
}

func TestPlanRules(t *testing.T) {
	lt := Consumer{Kind: "launch-template", ID: "lt-0def", Version: "4"}
	inst := Consumer{Kind: "instance", ID: "i-0abc"}
	cases := []struct {
		name     string
		images   []Image
		usage    Usage
		policy   func(*Policy)
		newBuild []Ref
		want     map[string]want
	}{
		{
			name:   "newest releases kept, oldest deprecated",
			images: history(),
			want: map[string]want{
				"ami-142": {ActionKeep, "kept: newest release (1 of 3)"},
				"ami-130": {ActionKeep, "kept: newest release (2 of 3)"},
				"ami-120": {ActionKeep, "kept: newest release (3 of 3)"},
				"ami-110": {ActionDeprecate, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3)"},
			},
		},
		{
			name:     "new build kept even before its tags are visible",
			images:   append(history(), mk("ami-new", "1.5.0", 0, with(func(i *Image) { i.Managed = false }))),
			newBuild: refs("ami-new"),
			want: map[string]want{
				"ami-new": {ActionKeep, "kept: new build"},
				"ami-110": {ActionDeprecate, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3)"},
			},
		},
		{
			name:     "new build counts as a release",
			images:   append(history(), mk("ami-150", "1.5.0", 0, with(func(i *Image) { i.BuildTime = now.Add(-time.Hour) }))),
			newBuild: refs("ami-150"),
			want: map[string]want{
				"ami-150": {ActionKeep, "kept: new build"},
				"ami-120": {ActionDeprecate, "deprecate: superseded by 1.5.0 (3 newer releases, keep 3)"},
				"ami-110": {ActionDeprecate, "deprecate: superseded by 1.5.0 (4 newer releases, keep 3)"},
			},
		},
		{
			name:     "a new build built this instant supersedes in the same run",
			images:   append(history(), mk("ami-150", "1.5.0", 0, with(func(i *Image) { i.BuildTime = now }))),
			newBuild: refs("ami-150"),
			want: map[string]want{
				"ami-150": {ActionKeep, "kept: new build"},
				"ami-120": {ActionDeprecate, "deprecate: superseded by 1.5.0 (3 newer releases, keep 3)"},
			},
		},
		{
			name:     "invalid policy keeps everything",
			images:   history(),
			policy:   func(p *Policy) { p.KeepReleases = 0 },
			newBuild: refs("ami-142"),
			want: map[string]want{
				"ami-142": {ActionKeep, "kept: new build"},
				"ami-110": {ActionKeep, "kept: policy is invalid (keep_releases must be at least 1 (got 0))"},
			},
		},
		{
			name: "not ours to judge",
			images: []Image{
				mk("ami-gone", "1.0.0", 300, stage(StageDeregistered, 1)),
				mk("ami-gone2", "1.0.1", 300, with(func(i *Image) { i.State = StateDeregistered })),
				mk("ami-unmanaged", "0.1", 300, with(func(i *Image) { i.Managed = false })),
				mk("ami-foreign", "0.2", 300, with(func(i *Image) { i.Owner = "999999999999" })),
				mk("ami-noowner", "0.3", 300, with(func(i *Image) { i.Owner = "" })),
				mk("ami-badstage", "0.4", 300, with(func(i *Image) { i.Stage = "retired" })),
				mk("ami-pending", "0.5", 300, with(func(i *Image) { i.State, i.StageSince = "pending", daysAgo(0).Add(-23*time.Hour) })),
				mk("ami-failed", "0.6", 300, with(func(i *Image) { i.State = "failed" })),
			},
			want: map[string]want{
				"ami-gone":      {ActionSkip, "skipped: gone (deregistered)"},
				"ami-gone2":     {ActionRecord, "record: deregistered (gone from the backend, never retired by the plugin)"},
				"ami-unmanaged": {ActionSkip, "skipped: not managed"},
				"ami-foreign":   {ActionSkip, "skipped: owned by 999999999999"},
				"ami-noowner":   {ActionSkip, "skipped: owner unknown"},
				"ami-badstage":  {ActionSkip, `skipped: unknown stage "retired"`},
				"ami-pending":   {ActionSkip, `skipped: state "pending" (not released yet: a build in progress, or one stopped before it finished)`},
				"ami-failed":    {ActionSkip, `skipped: state "failed"`},
			},
		},
		{
			name: "pending longer than forget_pending_after: a stopped run's, forgotten",
			images: []Image{
				mk("ami-stopped", "0.5", 300, with(func(i *Image) { i.State, i.StageSince = "pending", daysAgo(2) })),
				mk("ami-nosince", "0.6", 3, with(func(i *Image) { i.State = "pending" })), // the build time counts then
				mk("ami-young", "0.7", 300, with(func(i *Image) { i.State, i.StageSince = "pending", daysAgo(0).Add(-time.Hour) })),
				mk("ami-pinned", "0.8", 300, with(func(i *Image) { i.State, i.StageSince, i.Pinned = "pending", daysAgo(2), true })),
				mk("ami-unknown", "0.9", 0, with(func(i *Image) { i.State, i.BuildTime = "pending", time.Time{} })),
				mk("ami-theirs", "0.10", 300, with(func(i *Image) { i.State, i.StageSince, i.Owner = "pending", daysAgo(2), "999999999999" })),
				mk("ami-new", "0.11", 300, with(func(i *Image) { i.State, i.StageSince = "pending", daysAgo(2) })),
			},
			newBuild: []Ref{{Region: "us-east-1", ID: "ami-new"}},
			want: map[string]want{
				"ami-stopped": {ActionForget, "forget: pending for 2d, longer than forget_pending_after (1d): the run that recorded it stopped before it finished; no longer managed, delete the image by hand if unwanted"},
				"ami-nosince": {ActionForget, "forget: pending for 3d, longer than forget_pending_after (1d): the run that recorded it stopped before it finished; no longer managed, delete the image by hand if unwanted"},
				"ami-young":   {ActionSkip, `skipped: state "pending" (not released yet: a build in progress, or one stopped before it finished)`},
				"ami-pinned":  {ActionSkip, `skipped: state "pending" (not released yet: a build in progress, or one stopped before it finished)`},
				"ami-unknown": {ActionSkip, `skipped: state "pending" (not released yet: a build in progress, or one stopped before it finished)`},
				"ami-theirs":  {ActionSkip, "skipped: owned by 999999999999"},
				"ami-new":     {ActionKeep, "kept: new build"},
			},
		},
		{
			name: "what a stopped run left for its new build is undone once the build is no release",
			images: []Image{
				mk("ami-gone", "1.0", 300, stage(StageDeprecated, 1), with(func(i *Image) { i.SupersededBy = ref("ami-x1") })),
				mk("ami-dis", "1.1", 300, stage(StageDisabled, 1), with(func(i *Image) { i.SupersededBy = ref("ami-x2") })),
				mk("ami-x2", "2.1", 2, with(func(i *Image) { i.Managed = false })), // forgotten since
				mk("ami-wait", "1.2", 300, stage(StageDeprecated, 1), with(func(i *Image) { i.SupersededBy = ref("ami-x3") })),
				mk("ami-x3", "2.2", 0, with(func(i *Image) { i.State, i.StageSince = "pending", now.Add(-time.Hour) })),
				mk("ami-stale", "1.3", 300, stage(StageDeprecated, 3), with(func(i *Image) { i.SupersededBy = ref("ami-x4") })),
				mk("ami-x4", "2.3", 3, with(func(i *Image) { i.State, i.StageSince = "pending", daysAgo(3) })),
				mk("ami-done", "1.4", 300, stage(StageDeprecated, 1), with(func(i *Image) { i.SupersededBy = Ref{ID: "ami-x5"} })),
				mk("ami-x5", "2.4", 1, with(func(i *Image) { i.Region = "eu-west-1" })), // released; a marker without a region names any
				mk("ami-pin", "1.5", 300, stage(StageDeprecated, 1), with(func(i *Image) { i.SupersededBy, i.Pinned = ref("ami-x1"), true })),
				mk("ami-observed", "1.6", 300, with(func(i *Image) { i.DeprecationTime, i.SupersededBy = daysAgo(1), ref("ami-x1") })), // killed before its stage tag
			},
			want: map[string]want{
				"ami-gone":     {ActionRestore, "restore: deprecated for new build us-east-1:ami-x1, which never became a release (its run stopped before it could undo this)"},
				"ami-dis":      {ActionRestore, "restore: disabled for new build us-east-1:ami-x2, which never became a release (its run stopped before it could undo this)"},
				"ami-x2":       {ActionSkip, "skipped: not managed"},
				"ami-wait":     {ActionKeep, "kept: deprecated release, not counted in keep_releases (0 newer releases, keep 3); deprecated for new build us-east-1:ami-x3, still pending: restored if it never becomes a release"},
				"ami-x3":       {ActionSkip, `skipped: state "pending" (not released yet: a build in progress, or one stopped before it finished)`},
				"ami-stale":    {ActionRestore, "restore: deprecated for new build us-east-1:ami-x4, which never became a release (its run stopped before it could undo this)"},
				"ami-x4":       {ActionForget, "forget: pending for 3d, longer than forget_pending_after (1d): the run that recorded it stopped before it finished; no longer managed, delete the image by hand if unwanted"},
				"ami-done":     {ActionKeep, "kept: deprecated release, not counted in keep_releases (0 newer releases, keep 3)"},
				"ami-x5":       {ActionKeep, "kept: newest release (1 of 3)"},
				"ami-pin":      {ActionKeep, "kept: pinned"},
				"ami-observed": {ActionRestore, "restore: deprecated for new build us-east-1:ami-x1, which never became a release (its run stopped before it could undo this)"},
			},
		},
		{
			// The run of ami-killed deprecated 1.1.0 and disabled 1.0.0
			// before it was killed; the rebuild ami-new supersedes them
			// again, so only their markers are cleared: nothing flips.
			name: "a rebuild after a killed run keeps what the killed run retired",
			images: []Image{
				mk("ami-new", "1.2", 0),
				mk("ami-110", "1.1", 30, stage(StageDeprecated, 1), with(func(i *Image) { i.SupersededBy = ref("ami-killed") })),
				mk("ami-100", "1.0", 200, stage(StageDisabled, 1), with(func(i *Image) { i.StageSince, i.SupersededBy = daysAgo(40), ref("ami-killed") })),
				mk("ami-090", "0.9", 300, stage(StageDisabled, 1), with(func(i *Image) { i.SupersededBy = ref("ami-killed") })),
				mk("ami-080", "0.8", 300, stage(StageDisabled, 100), with(func(i *Image) { i.SupersededBy = ref("ami-killed") })),
			},
			policy:   func(p *Policy) { p.KeepReleases, p.DeregisterAfter = 1, 90*Day },
			newBuild: refs("ami-new"),
			want: map[string]want{
				"ami-new": {ActionKeep, "kept: new build"},
				"ami-110": {ActionRecord, "record: deprecated stands without new build us-east-1:ami-killed (deprecate: superseded by 1.2 (1 newer release, keep 1))"},
				"ami-100": {ActionRecord, "record: disabled stands without new build us-east-1:ami-killed (disable: superseded by 1.2, deprecated 40d ago (disable_after 30d))"},
				// Disabled a day ago: had it been deprecated no longer
				// than that, it would not be disabled yet.
				"ami-090": {ActionRestore, "restore: disabled for new build us-east-1:ami-killed, which never became a release (its run stopped before it could undo this)"},
				// The rest of the plan steps on: that clears the marker.
				"ami-080": {ActionDeregister, "deregister: superseded by 1.2, disabled 100d ago (deregister_after 90d); disabled stands without new build us-east-1:ami-killed"},
			},
		},
		{
			name:   "forget_pending_after zero: never forgotten",
			images: []Image{mk("ami-stopped", "0.5", 300, with(func(i *Image) { i.State, i.StageSince = "pending", daysAgo(200) }))},
			policy: func(p *Policy) { p.ForgetPendingAfter = 0 },
			want: map[string]want{
				"ami-stopped": {ActionSkip, `skipped: state "pending" (not released yet: a build in progress, or one stopped before it finished)`},
			},
		},
		{
			name:   "owners unchecked when the policy lists none",
			images: history(with(func(i *Image) { i.Owner = "999999999999" })),
			policy: func(p *Policy) { p.Owners = nil },
			want: map[string]want{
				"ami-110": {ActionDeprecate, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3)"},
			},
		},
		{
			name:   "pinned",
			images: history(stage(StageDisabled, 100), with(func(i *Image) { i.Pinned = true })),
			want:   map[string]want{"ami-110": {ActionKeep, "kept: pinned"}},
		},
		{
			name:   "disable after disable_after",
			images: history(stage(StageDeprecated, 30)),
			want: map[string]want{
				"ami-110": {ActionDisable, "disable: superseded by 1.4.2, deprecated 30d ago (disable_after 30d)"},
			},
		},
		{
			name:   "waiting to disable",
			images: history(stage(StageDeprecated, 2)),
			want: map[string]want{
				"ami-110": {ActionKeep, "kept: deprecated 2d ago, disable in 28d (disable_after 30d)"},
			},
		},
		{
			name:   "zero delay still waits for the next run",
			images: history(stage(StageDeprecated, 0)),
			policy: func(p *Policy) { p.DisableAfter = 0 },
			want: map[string]want{
				"ami-110": {ActionKeep, "kept: deprecated 0s ago, disable next run (disable_after 0s)"},
			},
		},
		{
			name:   "deregister after deregister_after",
			images: history(stage(StageDisabled, 7)),
			policy: func(p *Policy) { p.DeregisterAfter = 7 * Day },
			want: map[string]want{
				"ami-110": {ActionDeregister, "deregister: superseded by 1.4.2, disabled 7d ago (deregister_after 7d)"},
			},
		},
		{
			name: "deregister with snapshots",
			images: history(stage(StageDisabled, 31), with(func(i *Image) {
				i.Snapshots = []string{"snap-1", "snap-2"}
			})),
			policy: func(p *Policy) { p.DeleteSnapshots = true },
			want: map[string]want{
				"ami-110": {ActionDeregister, "deregister: superseded by 1.4.2, disabled 31d ago (deregister_after 30d); deleting 2 snapshots/files"},
			},
		},
		{
			name:   "waiting to deregister",
			images: history(stage(StageDisabled, 29)),
			want: map[string]want{
				"ami-110": {ActionKeep, "kept: disabled 29d ago, deregister in 1d (deregister_after 30d)"},
			},
		},
		{
			name:   "in use is never disabled",
			images: history(stage(StageDeprecated, 60)),
			usage:  Usage{ref("ami-110"): {lt, inst}},
			want: map[string]want{
				"ami-110": {ActionKeep, "kept: in use by i-0abc, lt-0def:v4"},
			},
		},
		{
			name:   "in use is never deregistered, long lists are cut",
			images: history(stage(StageDisabled, 60)),
			usage: Usage{ref("ami-110"): {
				{Kind: "instance", ID: "i-1"}, {Kind: "instance", ID: "i-2"}, {Kind: "asg", ID: "web"},
				{Kind: "ssm-parameter", ID: "/ami/base"}, {Kind: "account", ID: "222222222222", Account: "222222222222"},
			}},
			want: map[string]want{
				"ami-110": {ActionKeep, "kept: in use by 222222222222, web, i-1 and 2 more"},
			},
		},
		{
			name:   "in use may be deprecated, as a warning",
			images: history(),
			usage:  Usage{ref("ami-110"): {inst}},
			want: map[string]want{
				"ami-110": {ActionDeprecate, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3); still in use by i-0abc"},
			},
		},
		{
			name:   "protected is never disabled",
			images: history(stage(StageDeprecated, 60), with(func(i *Image) { i.Protected = true })),
			want:   map[string]want{"ami-110": {ActionKeep, "kept: deregistration-protected"}},
		},
		{
			name:   "protected is never deregistered",
			images: history(stage(StageDisabled, 60), with(func(i *Image) { i.Protected = true })),
			want:   map[string]want{"ami-110": {ActionKeep, "kept: deregistration-protected"}},
		},
		{
			name: "younger than min_age",
			images: []Image{
				mk("ami-4", "4", 1), mk("ami-3", "3", 1), mk("ami-2", "2", 1), mk("ami-1", "1", 2),
			},
			want: map[string]want{"ami-1": {ActionKeep, "kept: younger than min_age (2d < 7d)"}},
		},
		{
			name:   "build time unknown",
			images: history(with(func(i *Image) { i.BuildTime = time.Time{} })),
			want:   map[string]want{"ami-110": {ActionKeep, "kept: build time unknown (min_age 7d)"}},
		},
		{
			name:   "built in the future",
			images: history(with(func(i *Image) { i.BuildTime = now.Add(time.Hour) })),
			want:   map[string]want{"ami-110": {ActionKeep, "kept: built in the future (2025-06-01T13:00:00Z)"}},
		},
		{
			name: "restored recently",
			images: history(with(func(i *Image) {
				i.Stage, i.StageSince = StageActive, now.Add(-2*time.Hour)
			})),
			want: map[string]want{"ami-110": {ActionKeep, "kept: active again since 2h ago (min_age 7d)"}},
		},
		{
			name: "stage start unknown",
			images: history(with(func(i *Image) {
				i.Stage, i.StageSince, i.State = StageDeprecated, daysAgo(90), StateDisabled
			})),
			want: map[string]want{"ami-110": {ActionRecord, "record: disabled (observed, stage never recorded)"}},
		},
		{
			name: "stage start unknown",
			images: history(with(func(i *Image) {
				i.Stage, i.State = StageDisabled, StateDisabled
			})),
			want: map[string]want{"ami-110": {ActionKeep, "kept: disabled, since unknown (no lifecycle:stage-since)"}},
		},
		{
			name: "deprecated by EC2 at its DeprecationTime",
			images: history(with(func(i *Image) {
				i.DeprecationTime = daysAgo(45)
			})),
			want: map[string]want{
				"ami-110": {ActionRecord, "record: deprecated (observed, stage never recorded)"},
			},
		},
		{
			name: "deprecated by EC2 and recorded: the delay ran from the DeprecationTime",
			images: history(with(func(i *Image) {
				i.DeprecationTime = daysAgo(45)
				i.Stage, i.StageSince = StageDeprecated, daysAgo(45)
			})),
			want: map[string]want{
				"ami-110": {ActionDisable, "disable: superseded by 1.4.2, deprecated 45d ago (disable_after 30d)"},
			},
		},
		{
			name: "deprecated with a DeprecationTime still ahead is active",
			images: history(with(func(i *Image) {
				i.DeprecationTime = now.Add(Day)
			})),
			want: map[string]want{
				"ami-110": {ActionDeprecate, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3)"},
			},
		},
		{
			name:   "deprecate_after counts from supersession",
			images: append(history(), mk("ami-150", "1.5.0", 8)),
			policy: func(p *Policy) { p.DeprecateAfter = 10 * Day },
			want: map[string]want{
				// 1.2.0 was superseded when 1.5.0 appeared 8 days ago.
				"ami-120": {ActionKeep, "kept: superseded by 1.5.0, deprecate in 2d (deprecate_after 10d)"},
				// 1.1.0 was superseded by 1.4.2, 10 days ago.
				"ami-110": {ActionDeprecate, "deprecate: superseded by 1.5.0 (4 newer releases, keep 3)"},
			},
		},
		{
			name: "expired newest release is deprecated",
			images: []Image{mk("ami-1", "1.0.0", 40, with(func(i *Image) {
				i.ExpiresAt = daysAgo(2)
			}))},
			want: map[string]want{"ami-1": {ActionDeprecate, "deprecate: expired 2d ago"}},
		},
		{
			name: "expired newest release kept when deprecate_expired is off",
			images: []Image{mk("ami-1", "1.0.0", 40, with(func(i *Image) {
				i.ExpiresAt = daysAgo(2)
			}))},
			policy: func(p *Policy) { p.DeprecateExpired = false },
			want:   map[string]want{"ami-1": {ActionKeep, "kept: expired release, not counted in keep_releases (0 newer releases, keep 3)"}},
		},
		{
			name: "expiring right now is deprecated in this run",
			images: []Image{mk("ami-1", "1.0.0", 40, with(func(i *Image) {
				i.ExpiresAt = now
			}))},
			want: map[string]want{"ami-1": {ActionDeprecate, "deprecate: expired 0s ago"}},
		},
		{
			name: "expired newest release is never disabled",
			images: []Image{mk("ami-1", "1.0.0", 400, stage(StageDeprecated, 300), with(func(i *Image) {
				i.ExpiresAt = daysAgo(300)
			}))},
			want: map[string]want{"ami-1": {ActionKeep, "kept: deprecated release, not counted in keep_releases (0 newer releases, keep 3)"}},
		},
		{
			name: "copies in other regions count once per region",
			images: append(history(), func() []Image {
				var out []Image
				for _, im := range history() {
					im.ID += "-eu"
					im.Region = "eu-west-1"
					out = append(out, im)
				}
				return out
			}()...),
			want: map[string]want{
				"ami-120":    {ActionKeep, "kept: newest release (3 of 3)"},
				"ami-120-eu": {ActionKeep, "kept: newest release (3 of 3)"},
				"ami-110":    {ActionDeprecate, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3)"},
				"ami-110-eu": {ActionDeprecate, "deprecate: superseded by 1.4.2 (3 newer releases, keep 3)"},
			},
		},
		{
			name:   "duplicate copies in one region are one release",
			images: append(history(), mk("ami-142b", "1.4.2", 9)),
			want: map[string]want{
				"ami-142b": {ActionKeep, "kept: newest release (1 of 3)"},
				"ami-120":  {ActionKeep, "kept: newest release (3 of 3)"},
			},
		},
		{
			name: "channel override",
			images: func() []Image {
				var out []Image
				for _, im := range history() {
					im.Channel = "rc"
					out = append(out, im)
				}
				return out
			}(),
			policy: func(p *Policy) {
				two := 2
				p.Channels = map[string]ChannelPolicy{"rc": {KeepReleases: &two}}
			},
			want: map[string]want{
				"ami-130": {ActionKeep, "kept: newest release (2 of 2)"},
				"ami-120": {ActionDeprecate, "deprecate: superseded by 1.4.2 (2 newer releases, keep 2)"},
			},
		},
		{
			name: "deprecated release among the newest stays deprecated",
			images: []Image{
				mk("ami-2", "2.0.0", 20), mk("ami-1", "1.0.0", 90, stage(StageDeprecated, 80)),
			},
			want: map[string]want{"ami-1": {ActionKeep, "kept: deprecated release, not counted in keep_releases (1 newer release, keep 3)"}},
		},
		{
			name: "unparseable versions rank below parseable ones, by build time",
			images: []Image{
				mk("ami-a", "nightly-b", 10), mk("ami-b", "nightly-a", 20),
				mk("ami-c", "1.0.0", 300), mk("ami-d", "0.9", 400),
			},
			policy: func(p *Policy) { p.KeepReleases = 2 },
			want: map[string]want{
				"ami-c": {ActionKeep, "kept: newest release (1 of 2)"},
				"ami-d": {ActionKeep, "kept: newest release (2 of 2)"},
				"ami-a": {ActionDeprecate, "deprecate: superseded by 1.0.0 (2 newer releases, keep 2)"},
				"ami-b": {ActionDeprecate, "deprecate: superseded by 1.0.0 (3 newer releases, keep 2)"},
			},
		},
		{
			name: "images without a version are releases of their own",
			images: []Image{
				mk("ami-x", "", 10), mk("ami-y", "", 20), mk("ami-z", "", 30),
			},
			policy: func(p *Policy) { p.KeepReleases = 2 },
			want: map[string]want{
				"ami-x": {ActionKeep, "kept: newest release (1 of 2)"},
				"ami-y": {ActionKeep, "kept: newest release (2 of 2)"},
				"ami-z": {ActionDeprecate, "deprecate: superseded by ami-x (2 newer releases, keep 2)"},
			},
		},
		{
			name: "semantic precedence, not text",
			images: []Image{
				mk("ami-10", "1.10.0", 50), mk("ami-9", "1.9.0", 10), mk("ami-rc", "1.10.0-rc.1", 60),
			},
			policy: func(p *Policy) { p.KeepReleases = 1 },
			want: map[string]want{
				"ami-10": {ActionKeep, "kept: newest release (1 of 1)"},
				"ami-rc": {ActionDeprecate, "deprecate: superseded by 1.10.0 (1 newer release, keep 1)"},
				"ami-9":  {ActionDeprecate, "deprecate: superseded by 1.10.0 (2 newer releases, keep 1)"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pol := testPolicy()
			if tc.policy != nil {
				tc.policy(&pol)
			}
			before := deepCopyImages(tc.images)
			got := Plan(tc.images, tc.usage, pol, now, tc.newBuild)
			require.Equal(t, before, tc.images, "Plan modified its input")
			require.Len(t, got, len(tc.images), "one decision per image")
			byID := map[string]Decision{}
			for _, d := range got {
				byID[d.Image.ID] = d
				assert.True(t, strings.HasPrefix(d.Reason, reasonPrefix(d.Action)),
					"%s: reason %q does not start with %q", d.Image.ID, d.Reason, reasonPrefix(d.Action))
			}
			for id, w := range tc.want {
				d, ok := byID[id]
				require.True(t, ok, "no decision for %s", id)
				assert.Equal(t, w, want{d.Action, d.Reason}, "decision for %s", id)
			}
		})
	}
}

func reasonPrefix(a Action) string {
	switch a {
	case ActionKeep:
		return "kept: "
	case ActionSkip:
		return "skipped: "
	}
	return string(a) + ": "
}

func deepCopyImages(in []Image) []Image {
	out := make([]Image, len(in))
	for i, img := range in {
		out[i] = img
		out[i].Snapshots = slices.Clone(img.Snapshots)
		out[i].Tags = maps.Clone(img.Tags)
	}
	return out
}

func TestPlanConsumersAndSnapshots(t *testing.T) {
	imgs := history(stage(StageDisabled, 60))
	usage := Usage{ref("ami-142"): {{Kind: "instance", ID: "i-2"}, {Kind: "asg", ID: "web"}}}
	pol := testPolicy()
	pol.DeleteSnapshots = false
	got := Plan(imgs, usage, pol, now, nil)
	for _, d := range got {
		switch d.Image.ID {
		case "ami-142":
			want := []Consumer{{Kind: "asg", ID: "web"}, {Kind: "instance", ID: "i-2"}}
			assert.Equal(t, want, d.Consumers, "consumers, sorted")
		case "ami-110":
			assert.Equal(t, ActionDeregister, d.Action, "ami-110")
			assert.False(t, d.DeleteSnapshots, "ami-110: want deregister keeping snapshots (delete_snapshots off)")
		}
	}
	assert.Equal(t, "i-2", usage[ref("ami-142")][0].ID, "Plan reordered the caller's usage slice")
}

func TestPlanOrder(t *testing.T) {
	imgs := []Image{
		mk("ami-b", "1.0.0", 10, with(func(i *Image) { i.Region = "eu-west-1" })),
		mk("ami-a", "2.0.0", 10, with(func(i *Image) { i.Family = "app" })),
		mk("ami-d", "1.0.0", 20),
		mk("ami-c", "1.0.0", 20),
		mk("ami-e", "2.0.0", 30),
		mk("ami-f", "junk", 1),
		mk("ami-g", "1.0.0", 5, with(func(i *Image) { i.Channel = "beta" })),
	}
	var ids []string
	for _, d := range Plan(imgs, nil, testPolicy(), now, nil) {
		ids = append(ids, d.Image.ID)
	}
	want := []string{"ami-a", "ami-g", "ami-b", "ami-e", "ami-c", "ami-d", "ami-f"}
	assert.Equal(t, want, ids, "order")
}

func TestRestore(t *testing.T) {
	imgs := []Image{
		mk("ami-dep", "1.0.0", 90, stage(StageDeprecated, 10)),
		mk("ami-dis", "1.1.0", 90, stage(StageDisabled, 10)),
		mk("ami-act", "1.2.0", 90),
		mk("ami-other", "1.3.0", 90, stage(StageDeprecated, 10)),
		mk("ami-gone", "0.9.0", 90, stage(StageDeregistered, 10)),
		mk("ami-unm", "0.8.0", 90, stage(StageDeprecated, 10), with(func(i *Image) { i.Managed = false })),
		mk("ami-bad", "0.7.0", 90, with(func(i *Image) { i.Stage = "zombie" })),
		mk("ami-pend", "0.6.0", 90, with(func(i *Image) { i.State = "pending" })),
	}
	want := map[string]want{
		"ami-dep":   {ActionRestore, "restore: requested (was deprecated)"},
		"ami-dis":   {ActionRestore, "restore: requested (was disabled)"},
		"ami-act":   {ActionKeep, "kept: already active"},
		"ami-other": {ActionKeep, "kept: restore not requested"},
		"ami-gone":  {ActionSkip, "skipped: gone (deregistered)"},
		"ami-unm":   {ActionSkip, "skipped: not managed"},
		"ami-bad":   {ActionSkip, `skipped: unknown stage "zombie"`},
		"ami-pend":  {ActionSkip, `skipped: state "pending" (not released yet: a build in progress, or one stopped before it finished)`},
	}
	ids := []string{"ami-dep", "ami-dis", "ami-act", "ami-gone", "ami-unm", "ami-bad", "ami-pend"}
	got := Restore(imgs, refs(ids...), now)
	require.Len(t, got, len(imgs), "one decision per image")
	pol := testPolicy()
	for _, d := range got {
		w := want[d.Image.ID]
		assert.Equal(t, w.action, d.Action, "%s: action (reason %q)", d.Image.ID, d.Reason)
		assert.Equal(t, w.reason, d.Reason, "%s: reason", d.Image.ID)
		// Once restored, the image stays put for min_age: Plan does not
		// undo an explicit restore on the next run.
		if d.Action == ActionRestore {
			after := Apply(d.Image, d, now)
			assert.Equal(t, StageActive, after.EffectiveStage(now), "%s: restored image", d.Image.ID)
			p := Plan([]Image{after, mk("ami-new1", "5", 8), mk("ami-new2", "6", 8), mk("ami-new3", "7", 8)}, nil, pol, now.Add(time.Hour), nil)
			for _, pd := range p {
				if pd.Image.ID == d.Image.ID {
					assert.Equal(t, "kept: active again since 1h ago (min_age 7d)", pd.Reason, "%s after restore: %s", d.Image.ID, pd.Action)
				}
			}
		}
	}
}

func TestApply(t *testing.T) {
	base := mk("ami-1", "1.0.0", 90, with(func(i *Image) {
		i.ExpiresAt = daysAgo(1)
		i.Snapshots = []string{"snap-1"}
	}))
	at := now.Add(time.Minute)
	cases := []struct {
		action Action
		del    bool
		check  func(Image) bool
	}{
		{ActionKeep, false, func(i Image) bool { return reflect.DeepEqual(i, base) }},
		{ActionSkip, false, func(i Image) bool { return reflect.DeepEqual(i, base) }},
		{ActionDeprecate, false, func(i Image) bool {
			return i.Stage == StageDeprecated && i.StageSince.Equal(at) && i.DeprecationTime.Equal(at)
		}},
		{ActionDisable, false, func(i Image) bool {
			return i.Stage == StageDisabled && i.StageSince.Equal(at) && i.State == StateDisabled
		}},
		{ActionDeregister, false, func(i Image) bool {
			return i.Stage == StageDeregistered && i.State == StateDeregistered && len(i.Snapshots) == 1
		}},
		{ActionDeregister, true, func(i Image) bool { return i.Snapshots == nil }},
		{ActionRestore, false, func(i Image) bool {
			return i.Stage == StageActive && i.StageSince.Equal(at) && i.State == StateAvailable &&
				i.DeprecationTime.IsZero() && i.ExpiresAt.Equal(base.ExpiresAt) // a restore keeps the expiry
		}},
	}
	for _, tc := range cases {
		got := Apply(base, Decision{Image: base, Action: tc.action, DeleteSnapshots: tc.del}, at)
		assert.True(t, tc.check(got), "Apply(%s, delete=%v) = %+v", tc.action, tc.del, got)
	}
	assert.Len(t, base.Snapshots, 1, "Apply modified its input")
}

func TestEffectiveStage(t *testing.T) {
	cases := []struct {
		img  Image
		want Stage
	}{
		{Image{}, StageActive},
		{Image{Stage: StageActive}, StageActive},
		{Image{DeprecationTime: now}, StageDeprecated},
		{Image{DeprecationTime: now.Add(time.Second)}, StageActive},
		{Image{State: StateDisabled}, StageDisabled},
		{Image{Stage: StageDisabled, DeprecationTime: now}, StageDisabled},
		{Image{Stage: StageDeprecated, State: StateDisabled}, StageDisabled},
		{Image{Stage: StageDeregistered}, StageDeregistered},
		{Image{State: StateDeregistered}, StageDeregistered},
		{Image{Stage: "odd"}, "odd"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, tc.img.EffectiveStage(now), "EffectiveStage(%+v)", tc.img)
	}
}

// TestTimeline runs the default policy daily for 100 days: the superseded
// release walks every stage, each after its delay, and nothing else moves.
func TestTimeline(t *testing.T) {
	imgs := history(with(func(i *Image) { i.Snapshots = []string{"snap-1"} }))
	pol := testPolicy()
	pol.DeleteSnapshots = true
	var got []string
	for day := 0; day <= 100; day++ {
		at := now.Add(time.Duration(day) * Day)
		plan := Plan(imgs, nil, pol, at, nil)
		imgs = imgs[:0]
		for _, d := range plan {
			if d.Action.Mutates() {
				got = append(got, fmt.Sprintf("day %d: %s %s", day, d.Image.ID, d.Reason))
			}
			imgs = append(imgs, Apply(d.Image, d, at))
		}
	}
	want := []string{
		"day 0: ami-110 deprecate: superseded by 1.4.2 (3 newer releases, keep 3)",
		"day 30: ami-110 disable: superseded by 1.4.2, deprecated 30d ago (disable_after 30d)",
		"day 60: ami-110 deregister: superseded by 1.4.2, disabled 30d ago (deregister_after 30d); deleting 1 snapshot/file",
	}
	assert.Equal(t, want, got, "timeline:\n%s", strings.Join(got, "\n"))
}
