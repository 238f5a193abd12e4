package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/backendtest"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/store"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Unit tests of the shell: PostProcess against the in-memory fake backend
// (which passes the same conformance suite as the real ones). No root, no
// network, no Packer.

var day0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// ui records every line, by kind.
type ui struct {
	*packersdk.MockUi
	says, messages, errors []string
}

func newUI() *ui               { return &ui{MockUi: &packersdk.MockUi{}} }
func (u *ui) Say(s string)     { u.says = append(u.says, s) }
func (u *ui) Message(s string) { u.messages = append(u.messages, s) }
func (u *ui) Error(s string)   { u.errors = append(u.errors, s) }
func (u *ui) all() []string {
	return append(append(append([]string{}, u.says...), u.messages...), u.errors...)
}

type shell struct {
	t    *testing.T
	fake *backendtest.Fake
	dir  string
	now  time.Time
}

func newShell(t *testing.T) *shell {
	s := &shell{t: t, dir: t.TempDir(), now: day0}
	s.fake = backendtest.NewFake(func() time.Time { return s.now })
	old := openBackend
	openBackend = func(store.Config, func() time.Time) (backend.Backend, error) { return s.fake, nil }
	t.Cleanup(func() { openBackend = old })
	return s
}

// run configures a post-processor with raw and runs it at s.now on an
// artifact with one file.
func (s *shell) run(raw map[string]interface{}, file string) (packersdk.Artifact, bool, *ui, error) {
	s.t.Helper()
	raw["catalog_dir"] = filepath.Join(s.dir, "catalog")
	if _, ok := raw["min_age"]; !ok {
		raw["min_age"] = "0s"
	}
	if _, ok := raw["allow_simulated_time"]; !ok {
		raw["allow_simulated_time"] = true
	}
	s.t.Setenv(clock.Env, s.now.Format(time.RFC3339))
	var p PostProcessor
	require.NoError(s.t, p.Configure(raw))
	u := newUI()
	in := &packersdk.MockArtifact{BuilderIdValue: "packer.file", IdValue: file, FilesValue: []string{file},
		StateValues: map[string]interface{}{"generated_data": map[string]interface{}{"k": "v"}}}
	a, _, force, err := p.PostProcess(context.Background(), u, in)
	return a, force, u, err
}

func build(version string) map[string]interface{} {
	return map[string]interface{}{"family": "web", "version": version, "keep_releases": 1}
}

func (s *shell) stages() map[string]lifecycle.Stage {
	out := map[string]lifecycle.Stage{}
	for _, img := range s.fake.Images {
		st := img.EffectiveStage(s.now)
		if img.State == backend.StatePending {
			st = "pending"
		}
		out[img.Version] = st
	}
	return out
}

func (s *shell) reports() []report.Report {
	paths, _ := filepath.Glob(filepath.Join(s.dir, "catalog", "reports", "*.json"))
	var out []report.Report
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(s.t, err)
		var r report.Report
		require.NoError(s.t, json.Unmarshal(data, &r))
		out = append(out, r)
	}
	return out
}

func TestRunRecordsPendingThenReleases(t *testing.T) {
	s := newShell(t)
	a, force, ui, err := s.run(build("1.0.0"), "a.img")
	require.NoError(t, err)
	require.True(t, force, "a recorded release must never be destroyed by Packer")
	require.Equal(t, map[string]lifecycle.Stage{"1.0.0": lifecycle.StageActive}, s.stages())
	require.Equal(t, 2, s.fake.Calls["record"], "pending, then released")
	rel, ok := a.State(StateKey).(map[string]string)
	require.True(t, ok)
	require.Equal(t, "1.0.0", rel[lifecycle.TagVersion])
	require.Equal(t, map[string]interface{}{"k": "v"}, a.State("generated_data"))
	require.Equal(t, "Acting at the simulated time 2026-05-01T12:00:00Z from PACKER_LIFECYCLE_NOW, not the wall clock", ui.says[0])
	require.Equal(t, "Recording web 1.0.0 (stable) in the fake backend", ui.says[1])
	require.Contains(t, ui.messages, "released fake:img-web-1.0.0-1")
	r := s.reports()
	require.Len(t, r, 1)
	require.Equal(t, "recorded", r[0].NewBuildStatus)
	require.True(t, r[0].SimulatedTime, "the report says the time was simulated")
}

func TestRunRetiresWhatTheNewBuildSupersedes(t *testing.T) {
	s := newShell(t)
	_, _, _, err := s.run(build("1.0.0"), "a.img")
	require.NoError(t, err)
	s.now = s.now.Add(time.Hour)
	_, _, _, err = s.run(build("1.1.0"), "b.img")
	require.NoError(t, err)
	require.Equal(t, map[string]lifecycle.Stage{"1.0.0": lifecycle.StageDeprecated, "1.1.0": lifecycle.StageActive}, s.stages())
}

// A failed retire action fails the run: Packer then destroys the artifact,
// so the new build is forgotten, and what the new build brought about
// (deprecating 1.1.0) is never left done.
func TestRunFailureForgetsTheNewBuildAndItsConsequences(t *testing.T) {
	s := newShell(t)
	cfg := func(v string) map[string]interface{} {
		return map[string]interface{}{"family": "web", "version": v, "keep_releases": 1, "disable_after": "1h"}
	}
	_, _, _, err := s.run(cfg("1.0.0"), "a.img")
	require.NoError(t, err)
	s.now = s.now.Add(time.Hour)
	_, _, _, err = s.run(cfg("1.1.0"), "b.img")
	require.NoError(t, err)
	s.now = s.now.Add(2 * time.Hour)
	var old lifecycle.Ref
	for ref, img := range s.fake.Images {
		if img.Version == "1.0.0" {
			old = ref
		}
	}
	s.fake.FailOn("apply", old, errors.New("boom"))

	_, _, ui, err := s.run(cfg("2.0.0"), "c.img")
	require.ErrorContains(t, err, "1 of 2 lifecycle actions failed")
	require.Equal(t, map[string]lifecycle.Stage{"1.0.0": lifecycle.StageDeprecated, "1.1.0": lifecycle.StageActive}, s.stages(),
		"2.0.0 forgotten, 1.1.0 not deprecated for it")
	require.NotEmpty(t, ui.errors)
	var last report.Report
	for _, r := range s.reports() {
		if r.NewBuildStatus != "recorded" {
			last = r
		}
	}
	require.Contains(t, last.NewBuildStatus, "not recorded")
	statuses := map[string]string{}
	for _, e := range last.Decisions {
		statuses[e.Version] = e.Status
	}
	require.Equal(t, report.StatusFailed, statuses["1.0.0"])
	require.Equal(t, report.StatusSkipped, statuses["1.1.0"])
}

// When the failure is among the new build's own consequences, the ones
// that were carried out are undone: here the new build pushes 1.0.0 out of
// the newest two in both regions, and its deprecation fails in one.
func TestRunFailureUndoesTheNewBuildsConsequences(t *testing.T) {
	s := newShell(t)
	s.fake.Regions = []string{"r1", "r2"}
	cfg := func(v string) map[string]interface{} {
		return map[string]interface{}{"family": "web", "version": v, "keep_releases": 2}
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		_, _, _, err := s.run(cfg(v), v+".img")
		require.NoError(t, err)
		s.now = s.now.Add(time.Hour)
	}
	for ref, img := range s.fake.Images {
		if img.Version == "1.0.0" && ref.Region == "r2" {
			s.fake.FailOn("apply", ref, errors.New("boom"))
		}
	}
	_, _, _, err := s.run(cfg("2.0.0"), "c.img")
	require.ErrorContains(t, err, "1 of 2 lifecycle actions failed")
	for ref, img := range s.fake.Images {
		require.NotEqual(t, "2.0.0", img.Version, "forgotten")
		require.Equal(t, lifecycle.StageActive, img.EffectiveStage(s.now), "%s %s", ref, img.Version)
	}
	var actions []string
	for _, d := range s.fake.Applied {
		actions = append(actions, string(d.Action)+" "+d.Image.Region+" "+d.Image.Version)
	}
	require.Equal(t, []string{"deprecate r1 1.0.0", "restore r1 1.0.0"}, actions)
	var last report.Report
	for _, r := range s.reports() {
		if r.NewBuildStatus != "recorded" {
			last = r
		}
	}
	statuses := map[string]string{}
	for _, e := range last.Decisions {
		statuses[e.Region+" "+e.Version] = e.Status
	}
	require.Equal(t, report.StatusUndone, statuses["r1 1.0.0"])
	require.Equal(t, report.StatusFailed, statuses["r2 1.0.0"])
}

func TestRunRecordFailureTouchesNothing(t *testing.T) {
	s := newShell(t)
	s.fake.FailOn("record", lifecycle.Ref{}, errors.New("catalog is read-only"))
	_, _, _, err := s.run(build("1.0.0"), "a.img")
	require.ErrorContains(t, err, "catalog is read-only")
	require.Empty(t, s.fake.Images)
	require.Zero(t, s.fake.Calls["list"], "nothing is planned without the new build")
}

func TestRunDryRunRecordsAndChangesNothing(t *testing.T) {
	s := newShell(t)
	_, _, _, err := s.run(build("1.0.0"), "a.img")
	require.NoError(t, err)
	before := s.stages()
	s.now = s.now.Add(time.Hour)
	raw := build("1.1.0")
	raw["dry_run"] = true
	_, force, ui, err := s.run(raw, "b.img")
	require.NoError(t, err)
	require.False(t, force, "a dry run recorded nothing: keep_input_artifact decides")
	require.Equal(t, before, s.stages())
	require.Empty(t, s.fake.Applied)
	said := ui.all()
	require.Contains(t, said, "Would record web 1.1.0 (stable) in the fake backend")
	require.Contains(t, said, "fake:img-web-1.0.0-1 1.0.0 (stable): would deprecate: superseded by 1.1.0 (1 newer release, keep 1)")
	for _, m := range said {
		require.NotContains(t, m, "recorded ")
	}
}

func TestRunFailedRegionFailsTheRunAndDecidesNothingThere(t *testing.T) {
	s := newShell(t)
	s.fake.FailedRegions["eu-west-1"] = errors.New("region down")
	_, _, ui, err := s.run(build("1.0.0"), "a.img")
	require.ErrorContains(t, err, "1 region(s) could not be listed")
	require.Contains(t, ui.errors[0], "eu-west-1")
	r := s.reports()
	require.Len(t, r, 1)
	require.Equal(t, []report.RegionFailure{{Region: "eu-west-1", Error: "region down"}}, r[0].FailedRegions)
	require.Empty(t, s.fake.Images, "the failed run forgot its new build")
}

func TestRunCancelledStopsBetweenActions(t *testing.T) {
	s := newShell(t)
	_, _, _, err := s.run(build("1.0.0"), "a.img")
	require.NoError(t, err)
	s.now = s.now.Add(time.Hour)
	var p PostProcessor
	require.NoError(t, p.Configure(map[string]interface{}{"family": "web", "sweep": true, "keep_releases": 1, "min_age": "0s",
		"catalog_dir": filepath.Join(s.dir, "catalog"), "allow_simulated_time": true}))
	s.fake.Images[lifecycle.Ref{Region: "fake", ID: "newer"}] = lifecycle.Image{ID: "newer", Region: "fake", Family: "web", Version: "2.0.0",
		Channel: "stable", Managed: true, Stage: lifecycle.StageActive, State: lifecycle.StateAvailable, BuildTime: s.now}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t.Setenv(clock.Env, s.now.Format(time.RFC3339))
	_, _, _, err = p.PostProcess(ctx, newUI(), &packersdk.MockArtifact{})
	require.ErrorContains(t, err, "lifecycle actions failed")
	require.Equal(t, lifecycle.StageActive, s.stages()["1.0.0"])
	require.Equal(t, report.StatusFailed, s.reports()[1].Decisions[1].Status)
}

func TestRunRestoreTakesRegionQualifiedIDs(t *testing.T) {
	s := newShell(t)
	_, _, _, err := s.run(build("1.0.0"), "a.img")
	require.NoError(t, err)
	s.now = s.now.Add(time.Hour)
	_, _, _, err = s.run(build("1.1.0"), "b.img")
	require.NoError(t, err)
	s.now = s.now.Add(time.Hour)
	_, _, _, err = s.run(map[string]interface{}{"family": "web", "sweep": true, "restore": []string{"fake:img-web-1.0.0-1"}}, "x")
	require.NoError(t, err)
	require.Equal(t, lifecycle.StageActive, s.stages()["1.0.0"])
	_, _, _, err = s.run(map[string]interface{}{"family": "web", "sweep": true, "restore": []string{"us-east-1:img-web-1.0.0-1"}}, "x")
	require.ErrorContains(t, err, "restore: no release us-east-1:img-web-1.0.0-1")
}

// report_path may not be the build's own file: the report would replace it.
func TestRunRefusesAReportPathThatIsTheArtifact(t *testing.T) {
	s := newShell(t)
	art := filepath.Join(s.dir, "out.json")
	require.NoError(t, os.WriteFile(art, []byte("image"), 0o644))
	raw := build("1.0.0")
	raw["report_path"] = art
	_, _, _, err := s.run(raw, art)
	require.ErrorContains(t, err, "is the artifact file")
	data, _ := os.ReadFile(art)
	require.Equal(t, "image", string(data))
	require.Empty(t, s.fake.Images)
}

// A dry run shows every decision, even when one of them would fail: it has
// nothing to undo, so it never holds the new build's consequences back.
func TestDryRunPlansEverythingEvenWhenOneWouldFail(t *testing.T) {
	s := newShell(t)
	cfg := func(v string) map[string]interface{} {
		return map[string]interface{}{"family": "web", "version": v, "keep_releases": 1, "disable_after": "1h"}
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		_, _, _, err := s.run(cfg(v), v+".img")
		require.NoError(t, err)
		s.now = s.now.Add(2 * time.Hour)
	}
	for ref, img := range s.fake.Images {
		if img.Version == "1.0.0" {
			s.fake.FailOn("apply", ref, errors.New("boom"))
		}
	}
	applied := len(s.fake.Applied)
	raw := cfg("2.0.0")
	raw["dry_run"] = true
	_, _, _, err := s.run(raw, "c.img")
	require.Error(t, err, "the dry-run twin of the disable fails")
	var last report.Report
	for _, r := range s.reports() {
		if r.DryRun {
			last = r
		}
	}
	statuses := map[string]string{}
	for _, e := range last.Decisions {
		statuses[e.Version] = e.Status
	}
	require.Equal(t, report.StatusFailed, statuses["1.0.0"])
	require.Equal(t, report.StatusPlanned, statuses["1.1.0"], "the new build's consequence is still shown")
	require.Len(t, s.fake.Applied, applied, "a dry run carries nothing out")
}

// Apply is given the kept releases as context (GCP names the replacement
// of a deprecated image from them). The batch that runs before the new
// build is safe must not lean on it: its context is the plan without it.
// A dry run is given the same batches.
func TestRunGivesApplyTheKeptReleasesWithoutLeaningOnTheNewBuild(t *testing.T) {
	s := newShell(t)
	for i, v := range []string{"1.0.0", "1.1.0"} {
		cfg := build(v)
		cfg["keep_releases"] = 3
		_, _, _, err := s.run(cfg, "b"+v+".img")
		require.NoError(t, err)
		s.now = s.now.Add(time.Duration(i+1) * time.Hour)
	}
	split := func(batch []lifecycle.Decision) (acts, keeps map[string]lifecycle.Action) {
		acts, keeps = map[string]lifecycle.Action{}, map[string]lifecycle.Action{}
		for _, d := range batch {
			if d.Action.Mutates() {
				acts[d.Image.Version] = d.Action
			} else {
				keeps[d.Image.Version] = d.Action
			}
		}
		return acts, keeps
	}
	// The dry run first: its batches and their context are the real run's,
	// so what it plans (a replacement) is what the real run does.
	for _, dry := range []bool{true, false} {
		s.fake.Batches = nil
		cfg := build("1.2.0")
		cfg["dry_run"] = dry
		_, _, _, err := s.run(cfg, "c.img")
		require.NoError(t, err)
		batches := 2
		if !dry {
			batches = 3 // and once it is released, their marks are cleared
		}
		require.Len(t, s.fake.Batches, batches, "dry run %v: the decisions the new build brings about run in a batch of their own", dry)
		acts, keeps := split(s.fake.Batches[0])
		require.Equal(t, map[string]lifecycle.Action{"1.0.0": lifecycle.ActionDeprecate}, acts, "dry run %v", dry)
		require.Equal(t, map[string]lifecycle.Action{"1.1.0": lifecycle.ActionKeep}, keeps, "dry run %v: before the new build is safe, only what stays without it", dry)
		acts, keeps = split(s.fake.Batches[1])
		require.Equal(t, map[string]lifecycle.Action{"1.1.0": lifecycle.ActionDeprecate}, acts, "dry run %v", dry)
		require.Equal(t, map[string]lifecycle.Action{"1.2.0": lifecycle.ActionKeep}, keeps, "dry run %v", dry)
		for _, d := range s.fake.Batches[1] {
			if d.Action.Mutates() {
				fresh := s.fake.Batches[1][slices.IndexFunc(s.fake.Batches[1], func(d lifecycle.Decision) bool { return d.Image.Version == "1.2.0" })]
				require.Equal(t, fresh.Image.Ref(), d.SupersededBy, "dry run %v: marked with the new build", dry)
			}
		}
		if !dry {
			unmark := s.fake.Batches[2]
			require.Len(t, unmark, 1)
			require.Equal(t, lifecycle.ActionRecord, unmark[0].Action)
			require.Equal(t, "1.1.0", unmark[0].Image.Version)
			require.Zero(t, unmark[0].SupersededBy)
		}
	}
	for _, img := range s.fake.Images {
		require.Zero(t, img.SupersededBy, "%s: no mark left once the build is a release", img.Version)
	}
	require.Equal(t, map[string]lifecycle.Stage{"1.0.0": lifecycle.StageDeprecated, "1.1.0": lifecycle.StageDeprecated, "1.2.0": lifecycle.StageActive}, s.stages())
}

// A release still pending a day after it was recorded was left by a run
// that stopped (a killed packer): a sweep forgets it (the backend's Forget,
// nothing deleted) and says so; its dry run only plans it; a younger one,
// perhaps a build in progress, is left alone.
func TestRunForgetsWhatAStoppedRunLeftPending(t *testing.T) {
	s := newShell(t)
	_, _, _, err := s.run(build("1.0.0"), "a.img")
	require.NoError(t, err)
	left := func(id, version string, since time.Time) lifecycle.Ref {
		img := lifecycle.Image{ID: id, Region: "fake", Name: id, Family: "web", Channel: "stable", Version: version,
			Managed: true, State: backend.StatePending, Stage: lifecycle.StageActive, BuildTime: since, StageSince: since,
			Tags: map[string]string{lifecycle.TagManagedBy: lifecycle.DefaultManagedBy}}
		s.fake.Images[img.Ref()] = img
		return img.Ref()
	}
	stopped := left("img-stopped", "1.1.0", s.now.Add(-25*time.Hour))
	running := left("img-running", "1.2.0", s.now.Add(-2*time.Hour))
	sweep := func(dry bool) report.Entry {
		_, _, _, err := s.run(map[string]interface{}{"family": "web", "sweep": true, "keep_releases": 1, "dry_run": dry}, "x")
		require.NoError(t, err)
		var got []report.Entry
		var decisions []report.Entry
		for _, r := range s.reports() {
			if r.Sweep && r.DryRun == dry {
				decisions = r.Decisions
			}
		}
		for _, e := range decisions {
			if e.ID == "img-running" {
				require.Equal(t, lifecycle.ActionSkip, e.Action, "a younger pending release is left alone: %s", e.Reason)
			}
			if e.ID == "img-stopped" {
				got = append(got, e)
			}
		}
		require.Len(t, got, 1)
		return got[0]
	}
	s.now = s.now.Add(time.Minute)
	e := sweep(true)
	require.Equal(t, lifecycle.ActionForget, e.Action)
	require.Equal(t, report.StatusPlanned, e.Status)
	require.Contains(t, s.fake.Images, stopped, "a dry run forgets nothing")
	require.Zero(t, s.fake.Calls["forget"])

	e = sweep(false)
	require.Equal(t, lifecycle.ActionForget, e.Action)
	require.Equal(t, report.StatusDone, e.Status)
	require.Contains(t, e.Reason, "longer than forget_pending_after (1d)")
	require.NotContains(t, s.fake.Images, stopped, "forgotten")
	require.Contains(t, s.fake.Images, running)
	require.Equal(t, 1, s.fake.Calls["forget"])
}

// otherUsageFake is the fake with usage found only image by image.
type otherUsageFake struct {
	*backendtest.Fake
	asked  [][]string // versions asked about, per call
	dryRun []bool
	used   map[string]bool // versions some other account uses
}

func (f *otherUsageFake) OtherUsage(_ context.Context, images []lifecycle.Image, dryRun bool) (lifecycle.Usage, []string) {
	var vs []string
	u := lifecycle.Usage{}
	for _, img := range images {
		vs = append(vs, img.Version)
		if f.used[img.Version] {
			u[img.Ref()] = []lifecycle.Consumer{{Kind: lifecycle.ConsumerInstance, ID: "2 instances", Account: "210987654321"}}
		}
	}
	f.asked, f.dryRun = append(f.asked, vs), append(f.dryRun, dryRun)
	return u, []string{"asked about " + fmt.Sprint(vs)}
}

// TestRunAsksForOtherUsageOfWhatItWouldRetire: the shell asks the backend
// for the usage it finds only image by image about the images a first
// plan would disable or deregister, and no other; what it finds keeps
// them (the plan is made again); a dry run asks with dryRun.
func TestRunAsksForOtherUsageOfWhatItWouldRetire(t *testing.T) {
	s := newShell(t)
	o := &otherUsageFake{Fake: s.fake, used: map[string]bool{"1.0.0": true}}
	openBackend = func(store.Config, func() time.Time) (backend.Backend, error) { return o, nil }
	policy := func(raw map[string]interface{}) map[string]interface{} {
		raw["deprecate_after"], raw["disable_after"] = "0s", "1h"
		return raw
	}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		_, _, _, err := s.run(policy(build(v)), v+".img")
		require.NoError(t, err)
		s.now = s.now.Add(2 * time.Hour)
	}
	// 1.0.0 was due for disabling at the third build; 1.1.0 was deprecated then.
	require.Equal(t, [][]string{{"1.0.0"}}, o.asked)
	require.Equal(t, map[string]lifecycle.Stage{"1.0.0": lifecycle.StageDeprecated, "1.1.0": lifecycle.StageDeprecated, "1.2.0": lifecycle.StageActive}, s.stages())

	sweep := map[string]interface{}{"family": "web", "sweep": true, "keep_releases": 1}
	_, _, u, err := s.run(policy(sweep), "")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"1.0.0", "1.1.0"}, o.asked[1])
	require.Contains(t, u.says, "Checking other accounts' use of shared images")
	require.Contains(t, u.messages, "asked about "+fmt.Sprint(o.asked[1]))
	require.Equal(t, map[string]lifecycle.Stage{"1.0.0": lifecycle.StageDeprecated, "1.1.0": lifecycle.StageDisabled, "1.2.0": lifecycle.StageActive}, s.stages(),
		"1.0.0 is used in another account: kept")
	require.Equal(t, []bool{false, false}, o.dryRun)

	dry := policy(map[string]interface{}{"family": "web", "sweep": true, "keep_releases": 1, "dry_run": true})
	_, _, _, err = s.run(dry, "")
	require.NoError(t, err)
	require.Equal(t, []bool{false, false, true}, o.dryRun)
}
