package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	awsbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/aws"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// The reliability guarantees of issue 21: what a run promises under kill -9,
// injected faults, a dead region and concurrent runs. LIFECYCLE_LONG=1
// (make test-long) runs every crash point and more seeds and rounds.

func long() bool { return os.Getenv("LIFECYCLE_LONG") != "" }

var sweepRegions = []string{"us-east-1", "eu-west-1"}

// seedRetirable gives each region one release due at every stage of a
// sweep (keep_releases 1, disable_after and deregister_after 7d): 1.0.0
// disabled long ago (deregister, snapshots too), 1.1.0 deprecated long ago
// and shared with an account (disable, its launch permissions saved first),
// 1.2.0 superseded (deprecate), 1.3.0 the newest (kept). It returns each
// image's seeded stage by id.
func seedRetirable(a *awsRun) map[string]string {
	seeded := map[string]string{}
	for _, region := range sweepRegions {
		for _, r := range []struct{ version, stage string }{{"1.0.0", "disabled"}, {"1.1.0", "deprecated"}, {"1.2.0", "active"}, {"1.3.0", "active"}} {
			id := a.seedReleaseIn(region, ec2emu.DefaultAccount, r.version, r.stage, func(img *ec2emu.Image) {
				if r.version == "1.1.0" {
					img.LaunchUsers = []string{"111122223333"}
				}
			})
			seeded[id] = r.stage
		}
	}
	return seeded
}

// familyState is every image of the emulator, deregistered ones included,
// by region and name: state, deprecation time, launch permissions, every
// tag, and whether each of its snapshots still exists.
func (a *awsRun) familyState() map[string]string {
	out := map[string]string{}
	a.s.Update(func(st *ec2emu.State) {
		for _, region := range sweepRegions {
			r := st.Region(region)
			for _, imgs := range []map[string]*ec2emu.Image{r.Deregistered, r.Images} {
				for _, img := range imgs {
					var sb strings.Builder
					fmt.Fprintf(&sb, "%s dep=%v users=%v", img.State, img.DeprecationTime, img.LaunchUsers)
					tags := r.Tags[img.ID]
					for _, k := range slices.Sorted(maps.Keys(tags)) {
						fmt.Fprintf(&sb, " %s=%s", k, tags[k])
					}
					for _, bd := range img.BlockDevices {
						fmt.Fprintf(&sb, " %s:exists=%v", bd.DeviceName, r.Snapshots[bd.SnapshotID] != nil)
					}
					out[region+"/"+img.Name] = sb.String()
				}
			}
		}
	})
	return out
}

// idempotent are the calls that change nothing when repeated with the same
// parameters (a tag written again, the same deprecation time set again).
var idempotent = map[string]bool{"CreateTags": true, "DeleteTags": true, "EnableImageDeprecation": true}

// resourceKey matches the parameters that name resources, and ClientToken:
// the SDK's random idempotency token differs between runs by design.
var resourceKey = regexp.MustCompile(`^(ResourceId|ImageId|SnapshotId)(\.\d+)?$|^ClientToken$`)

// mutations splits a journal into one key per call and resource (action,
// region, resource, the other parameters): the idempotent ones as a set,
// the others counted.
func mutations(j []ec2emu.Call) (idem map[string]bool, others map[string]int) {
	idem, others = map[string]bool{}, map[string]int{}
	for _, c := range j {
		var params []string
		for _, k := range slices.Sorted(maps.Keys(c.Params)) {
			if !resourceKey.MatchString(k) {
				params = append(params, k+"="+c.Params[k])
			}
		}
		for _, res := range c.Resources {
			key := fmt.Sprintf("%s %s:%s %s", c.Action, c.Region, res, strings.Join(params, " "))
			if idempotent[c.Action] {
				idem[key] = true
			} else {
				others[key]++
			}
		}
	}
	return idem, others
}

var stageRank = map[string]int{"pending": 0, "active": 1, "deprecated": 2, "disabled": 3, "deregistered": 4}

// stagesInOrder: every stage a journal wrote on an image is its seeded
// stage or the next one (a run moves an image one stage, never back, never
// two), and only a disabled image was deregistered.
func stagesInOrder(t *testing.T, seeded map[string]string, j []ec2emu.Call) {
	t.Helper()
	for _, c := range j {
		switch c.Action {
		case "DeregisterImage":
			require.Equal(t, "disabled", seeded[c.Params["ImageId"]], "deregistered without being disabled: %+v", c)
		case "CreateTags":
			for k, v := range c.Params {
				if strings.HasSuffix(k, ".Key") && v == lifecycle.TagStage {
					stage := c.Params[strings.TrimSuffix(k, "Key")+"Value"]
					for _, res := range c.Resources {
						if from, ok := seeded[res]; ok {
							d := stageRank[stage] - stageRank[from]
							require.True(t, d == 0 || d == 1, "%s: %s -> %s in one sweep: %+v", res, from, stage, c)
						}
					}
				}
			}
		}
	}
}

// crashPoints are the Ns to crash after: all of 1..n in long mode, else the
// first call, one in the middle and the last.
func crashPoints(n int) []int {
	if long() {
		out := make([]int, n)
		for i := range out {
			out[i] = i + 1
		}
		return out
	}
	return slices.Compact([]int{1, (n + 1) / 2, n})
}

// awaitCrash waits for the crash point to fire (it reports once the killed
// caller hung up) and requires that it killed the plugin, no other process,
// and that the run r it killed failed.
func awaitCrash(t *testing.T, crashed <-chan ec2emu.Crash, r result) {
	t.Helper()
	require.NotZero(t, r.code, "the killed run must fail: %s", r)
	var crash ec2emu.Crash
	select {
	case crash = <-crashed:
	case <-time.After(time.Minute): // a bound, not a wait: it fires before packer exits
		t.Fatalf("the crash point never fired: %s", r)
	}
	require.Empty(t, crash.Err)
	require.Contains(t, crash.Exe, "packer-plugin-lifecycle", "the plugin process, no other")
	t.Logf("killed %d %s after %s %v", crash.PID, crash.Exe, crash.Call.Action, crash.Call.Resources)
}

// TestAWSSweepCrashConverges: kill -9 of the plugin after each mutating
// call of a sweep (the emulator kills the caller of the Nth mutating call
// once it took effect: after an EC2 action and before its stage tag, after
// a stage tag), then the same sweep again at the same time. The re-run
// succeeds and the family ends exactly as after one clean sweep: every
// image's state, tags, deprecation time, launch permissions and snapshots;
// nothing lost, no stage skipped, no non-idempotent call made twice and no
// call the clean sweep does not make.
func TestAWSSweepCrashConverges(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	clean := newAWSRun(t, start)
	seeded := seedRetirable(clean)
	mustSucceed(t, clean.packer("sweep.pkr.hcl"))
	want := clean.familyState()
	wantIdem, wantOthers := mutations(clean.s.Journal())
	n := len(clean.s.Journal())
	require.GreaterOrEqual(t, n, 10, "the sweep's mutating calls: %v", clean.s.Journal())
	stagesInOrder(t, seeded, clean.s.Journal())
	// The clean sweep did retire: each region moved three images.
	for _, region := range sweepRegions {
		require.Contains(t, want[region+"/web-1.0.0"], "deregistered")
		require.Contains(t, want[region+"/web-1.1.0"], "disabled")
		require.Contains(t, want[region+"/web-1.2.0"], lifecycle.TagStage+"=deprecated")
		require.Contains(t, want[region+"/web-1.3.0"], lifecycle.TagStage+"=active")
	}

	points := crashPoints(n)
	t.Logf("%d mutating calls in a clean sweep; crashing after %v", n, points)
	for _, at := range points {
		t.Run(fmt.Sprintf("after-%d", at), func(t *testing.T) {
			a := newAWSRun(t, start)
			require.Equal(t, seeded, seedRetirable(a), "the same estate, the same ids")
			crashed := a.s.ArmCrash(ec2emu.CrashPoint{After: at})
			awaitCrash(t, crashed, a.packer("sweep.pkr.hcl"))
			mustSucceed(t, a.packer("sweep.pkr.hcl"))
			require.Equal(t, want, a.familyState(), "the re-run converges to the clean sweep's state")
			j := a.s.Journal()
			stagesInOrder(t, seeded, j)
			idem, others := mutations(j)
			require.Equal(t, wantOthers, others, "non-idempotent calls: each exactly once, as in the clean sweep")
			require.Equal(t, wantIdem, idem, "idempotent calls: the clean sweep's, repeated at most")
		})
	}
}

// total sums region -> action -> count counters.
func total(counters map[string]map[string]int) int {
	n := 0
	for _, byAction := range counters {
		for _, c := range byAction {
			n += c
		}
	}
	return n
}

var depTime = regexp.MustCompile(`dep=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC`)

// depSet replaces every deprecation time of a familyState with "set".
func depSet(state map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range state {
		out[k] = depTime.ReplaceAllString(v, "dep=set")
	}
	return out
}

// inRegion is the part of a familyState in region.
func inRegion(state map[string]string, region string) map[string]string {
	out := map[string]string{}
	for k, v := range state {
		if strings.HasPrefix(k, region+"/") {
			out[k] = v
		}
	}
	return out
}

// injectFaults makes every call fail at random: 30 % RequestLimitExceeded,
// 5 % 500 InternalError, 5 % 503 Unavailable.
func injectFaults(s *ec2emu.Server) {
	s.SetFault(ec2emu.Fault{Probability: 0.3, Kind: ec2emu.Throttle})
	s.SetFault(ec2emu.Fault{Probability: 0.05, Kind: ec2emu.ServerError})
	s.SetFault(ec2emu.Fault{Probability: 0.05, Kind: ec2emu.Unavailable})
}

// TestAWSDeadRegionDecidesNothingThere: one of the swept regions answers
// every call with 503 Unavailable. The sweep fails and says which region
// (report failed_regions), makes no call that changes anything there, and
// still converges in the other region to the clean sweep's state; once the
// region answers again, the next sweep converges there too. With
// LIFECYCLE_LONG the live region also suffers the fault mix of
// TestAWSSweepNeverTouchesWhatItMustNot (three seeds, max_retries 12).
func TestAWSDeadRegionDecidesNothingThere(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	clean := newAWSRun(t, start)
	seedRetirable(clean)
	mustSucceed(t, clean.packer("sweep.pkr.hcl"))
	want := clean.familyState()

	cases := []int64{0} // 0: no faults but the dead region
	if long() {
		cases = append(cases, 1, 2, 3)
	}
	for _, seed := range cases {
		t.Run(fmt.Sprintf("faults-seed-%d", seed), func(t *testing.T) {
			a := newAWSRun(t, start, ec2emu.WithSeed(seed))
			seedRetirable(a)
			before := a.familyState()
			var vars []string
			if seed != 0 {
				injectFaults(a.s)
				vars = append(vars, "max_retries=12")
			}
			a.s.SetFault(ec2emu.Fault{Region: "eu-west-1", Probability: 1, Kind: ec2emu.Unavailable})
			r := a.packer("sweep.pkr.hcl", vars...)
			require.NotZero(t, r.code, "a region that could not be listed fails the run: %s", r)
			mustContain(t, r.stdout+r.stderr, "Region eu-west-1 could not be listed; nothing in it is decided")
			rep := a.report("sweep/sweep.json")
			require.Len(t, rep.FailedRegions, 1)
			require.Equal(t, "eu-west-1", rep.FailedRegions[0].Region)
			for _, d := range rep.Decisions {
				require.Equal(t, "us-east-1", d.Region, "nothing decided in the dead region: %+v", d)
				require.NotEqual(t, "failed", d.Status, "the live region's actions all succeeded: %+v", d)
			}
			require.NotZero(t, a.s.Failed("eu-west-1", "DescribeImages"), "the dead region was asked")
			for _, c := range a.s.Journal() {
				require.Equal(t, "us-east-1", c.Region, "a call changed the dead region: %+v", c)
			}
			wantLive, gotLive := inRegion(want, "us-east-1"), inRegion(a.familyState(), "us-east-1")
			if seed != 0 {
				// EC2's deprecation time follows the run's clock (a minute or
				// two ahead of when the call is made): a run slowed by minutes
				// of retries sets a later one. Compare that it is set.
				wantLive, gotLive = depSet(wantLive), depSet(gotLive)
			}
			require.Equal(t, wantLive, gotLive, "the live region converged")
			require.Equal(t, inRegion(before, "eu-west-1"), inRegion(a.familyState(), "eu-west-1"), "the dead region is as it was")

			a.s.ClearFaults()
			mustSucceed(t, a.packer("sweep.pkr.hcl"))
			got := a.familyState()
			if seed != 0 {
				want, got = depSet(want), depSet(got) // the live region's deprecation followed its slow run
			}
			require.Equal(t, want, got, "the region back, the family converges everywhere")
		})
	}
}

// TestAWSConcurrentBuildsOfOneFamily: two packer builds of family web (the
// real amazon plugin, us-east-1 with a copy to eu-west-1) at once, at the
// same time, after a first release. Both succeed and record their release;
// the release they both push out (1.0.0) is deprecated once in effect
// (every report says done or unchanged, never failed), nothing is disabled
// or deregistered, the newest release stays active, and a sweep afterwards
// brings the family to the one state a sequential history gives. Three
// rounds with LIFECYCLE_LONG.
func TestAWSConcurrentBuildsOfOneFamily(t *testing.T) {
	rounds := 1
	if long() {
		rounds = 3
	}
	for round := range rounds {
		t.Run(fmt.Sprintf("round-%d", round), func(t *testing.T) {
			start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			a := newAWSRun(t, start)
			source := seedImage(a.s, ec2emu.DefaultAccount, "base-1", start.Add(-time.Hour), nil)
			a.build(source, "1.0.0")
			a.clock.Advance(8 * 24 * time.Hour)
			a.s.ResetCounters()

			releases := []string{"1.1.0", "1.2.0"}
			results := make([]result, len(releases))
			var wg sync.WaitGroup
			for i, v := range releases {
				wg.Go(func() {
					results[i] = a.packer("build.pkr.hcl", "endpoint="+a.url, "source_ami="+source, "release="+v)
				})
			}
			wg.Wait()
			deprecated := map[string][]string{} // region -> statuses of deprecating 1.0.0
			for i, v := range releases {
				mustSucceed(t, results[i])
				rep := a.report("build/report-" + v + ".json")
				require.Equal(t, "recorded", rep.NewBuildStatus, v)
				require.Len(t, rep.NewBuild, 2, "%s: one AMI per region", v)
				for _, d := range rep.Decisions {
					require.NotEqual(t, "failed", d.Status, "%s: %+v", v, d)
					if d.Action == lifecycle.ActionDeprecate && d.Version == "1.0.0" {
						deprecated[d.Region] = append(deprecated[d.Region], d.Status)
					}
					require.NotContains(t, []lifecycle.Action{lifecycle.ActionDisable, lifecycle.ActionDeregister}, d.Action, "%s: %+v", v, d)
				}
			}
			t.Logf("deprecating 1.0.0: %v", deprecated)
			for _, region := range sweepRegions {
				st := deprecated[region]
				require.Contains(t, st, "done", "%s: one run deprecated 1.0.0: %v", region, st)
				for _, s := range st {
					require.Contains(t, []string{"done", "unchanged"}, s, region)
				}
				imgs := a.images(region)
				require.Equal(t, "deprecated", a.tags(region, imgs["web-1.0.0"].ID)[lifecycle.TagStage], region)
				require.Equal(t, "active", a.tags(region, imgs["web-1.2.0"].ID)[lifecycle.TagStage], "%s: the newest stays active", region)
				require.Contains(t, []string{"active", "deprecated"}, a.tags(region, imgs["web-1.1.0"].ID)[lifecycle.TagStage], region)
				for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
					require.Equal(t, "available", imgs["web-"+v].State, "%s %s", region, v)
				}
			}
			for _, c := range a.s.Journal() {
				require.NotContains(t, []string{"DisableImage", "DeregisterImage", "DeleteSnapshot"}, c.Action, "%+v", c)
			}

			a.clock.Advance(2 * 24 * time.Hour) // past min_age 1d
			mustSucceed(t, a.packer("sweep.pkr.hcl"))
			for _, region := range sweepRegions {
				imgs := a.images(region)
				for v, stage := range map[string]string{"1.0.0": "deprecated", "1.1.0": "deprecated", "1.2.0": "active"} {
					require.Equal(t, stage, a.tags(region, imgs["web-"+v].ID)[lifecycle.TagStage], "%s %s after the sweep", region, v)
				}
			}
		})
	}
}

// ours keeps the calls our plugin made (its User-Agent names it).
func ours(j []ec2emu.Call) []ec2emu.Call {
	return slices.DeleteFunc(j, func(c ec2emu.Call) bool { return !strings.Contains(c.UserAgent, "app/"+awsbackend.AppID) })
}

// TestAWSBuildCrashConverges: kill -9 of the plugin after each of its
// mutating calls in a build (amazon-ebs in us-east-1 with a copy to
// eu-west-1) that records its AMIs pending, disables 1.0.0, deprecates
// 1.1.0 and releases its own: Packer fails the build and deregisters the
// new AMIs, and the same build run again (once the deregistered name is no
// longer listed) converges to exactly the state of one clean build: every
// image's state, tags, deprecation time and snapshots, each of the
// plugin's non-idempotent calls on the images that existed before made once. The first, a middle and the last
// call; every one with LIFECYCLE_LONG.
func TestAWSBuildCrashConverges(t *testing.T) {
	// The history before: 1.0.0, then 1.1.0 eight days later (1.0.0
	// deprecated); the build under test comes eight days after that.
	h, source := awsTwoReleases(t)
	var history bytes.Buffer
	require.NoError(t, h.s.SaveState(&history))
	existing := map[string]bool{} // the images and snapshots before the build
	h.s.Update(func(st *ec2emu.State) {
		for _, region := range sweepRegions {
			for id := range st.Region(region).Images {
				existing[id] = true
			}
			for id := range st.Region(region).Snapshots {
				existing[id] = true
			}
		}
	})
	// The plugin's calls on what existed before the build: the new AMIs
	// differ between runs (Packer destroys those of a killed run).
	onExisting := func(j []ec2emu.Call) []ec2emu.Call {
		var out []ec2emu.Call
		for _, c := range ours(j) {
			c.Resources = slices.DeleteFunc(c.Resources, func(id string) bool { return !existing[id] })
			if len(c.Resources) > 0 {
				out = append(out, c)
			}
		}
		return out
	}
	at := h.clock.Now().Add(8 * 24 * time.Hour)
	fresh := func(t *testing.T) *awsRun {
		a := newAWSRun(t, at, ec2emu.WithDeregisteredVisibility(0))
		require.NoError(t, a.s.LoadState(bytes.NewReader(history.Bytes())))
		return a
	}
	build := func(a *awsRun) result {
		return a.packer("build.pkr.hcl", "endpoint="+a.url, "source_ami="+source, "release=1.2.0")
	}

	clean := fresh(t)
	mustSucceed(t, build(clean))
	want := clean.familyState()
	for _, region := range sweepRegions {
		require.Contains(t, want[region+"/web-1.0.0"], "disabled dep=")
		require.Contains(t, want[region+"/web-1.1.0"], lifecycle.TagStage+"=deprecated")
		require.Contains(t, want[region+"/web-1.2.0"], lifecycle.TagStage+"=active")
	}
	_, wantOthers := mutations(onExisting(clean.s.Journal()))
	require.NotEmpty(t, wantOthers, "the clean build disables 1.0.0")
	n := len(ours(clean.s.Journal()))
	require.GreaterOrEqual(t, n, 8, "the plugin's mutating calls: %v", ours(clean.s.Journal()))

	points := crashPoints(n)
	t.Logf("%d mutating calls of the plugin in a clean build; crashing after %v", n, points)
	for _, k := range points {
		t.Run(fmt.Sprintf("after-%d", k), func(t *testing.T) {
			a := fresh(t)
			crashed := a.s.ArmCrash(ec2emu.CrashPoint{After: k, UserAgent: "app/" + awsbackend.AppID})
			awaitCrash(t, crashed, build(a))

			mustSucceed(t, build(a))
			got := a.familyState() // the AMIs Packer deregistered are listed under the same names: the rebuilt ones win
			require.Equal(t, want, got, "the re-run converges to the clean build's state")
			_, others := mutations(onExisting(a.s.Journal()))
			require.Equal(t, wantOthers, others, "the plugin's non-idempotent calls on existing images: each once, as in the clean build")
		})
	}
}

// TestAWSSweepSurvivesLostAnswers: in each region the first answer to every
// kind of mutating call is lost after EC2 carried the call out (a reset, a
// timeout), so the SDK sends it again. The sweep still succeeds, with no
// failed decision, and ends where a clean sweep ends.
func TestAWSSweepSurvivesLostAnswers(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	clean := newAWSRun(t, start)
	seedRetirable(clean)
	mustSucceed(t, clean.packer("sweep.pkr.hcl"))
	want := depSet(clean.familyState())

	a := newAWSRun(t, start)
	seedRetirable(a)
	ops := []string{"CreateTags", "EnableImageDeprecation", "DisableImage", "DeregisterImage"}
	for _, region := range sweepRegions {
		for _, op := range ops {
			a.s.SetFault(ec2emu.Fault{Action: op, Region: region, Probability: 1, Kind: ec2emu.LoseAnswer, Times: 1})
		}
	}
	r := a.packer("sweep.pkr.hcl")
	mustSucceed(t, r)
	for _, region := range sweepRegions {
		for _, op := range ops {
			require.Equal(t, 1, a.s.Failed(region, op), "%s %s: one answer lost", region, op)
		}
	}
	for _, d := range a.report("sweep/sweep.json").Decisions {
		require.NotEqual(t, "failed", d.Status, "%+v", d)
	}
	require.Equal(t, want, depSet(a.familyState()), "as a clean sweep ends")
}

// TestAWSKilledBuildIsUndoneByTheNextRun: kill -9 of the plugin right after
// it deprecated 1.1.0 for the new build 1.2.0 (the second batch), before it
// recorded the stage: Packer deregisters 1.2.0, and the family is left with
// no supported release. The next run, a sweep, not a rebuild, finds 1.1.0
// marked with a build that never became a release and restores it in every
// region, and a child build starts from it again. After a clean build the
// mark is cleared.
func TestAWSKilledBuildIsUndoneByTheNextRun(t *testing.T) {
	a, source := awsTwoReleases(t)
	for _, region := range sweepRegions {
		imgs := a.images(region)
		require.Equal(t, "deprecated", a.tags(region, imgs["web-1.0.0"].ID)[lifecycle.TagStage], region)
		require.Empty(t, a.tags(region, imgs["web-1.0.0"].ID)[lifecycle.TagSupersededBy], "%s: the mark is cleared once 1.1.0 is a release", region)
	}
	a.clock.Advance(8 * 24 * time.Hour)
	crashed := a.s.ArmCrash(ec2emu.CrashPoint{After: 1, Actions: []string{"EnableImageDeprecation"}, UserAgent: "app/" + awsbackend.AppID})
	awaitCrash(t, crashed, a.packer("build.pkr.hcl", "endpoint="+a.url, "source_ami="+source, "release=1.2.0"))

	var hit []string // the regions whose 1.1.0 the killed run deprecated (one, or both at once)
	for _, region := range sweepRegions {
		imgs := a.images(region)
		require.Equal(t, "deregistered", imgs["web-1.2.0"].State, "%s: Packer destroys the build of a failed post-processor", region)
		if imgs["web-1.1.0"].DeprecationTime != nil {
			hit = append(hit, region+" 1.1.0 done")
			require.Equal(t, region+":"+imgs["web-1.2.0"].ID, a.tags(region, imgs["web-1.1.0"].ID)[lifecycle.TagSupersededBy], "marked before the EC2 call")
			// active where the kill came before the stage was recorded
			require.Contains(t, []string{"active", "deprecated"}, a.tags(region, imgs["web-1.1.0"].ID)[lifecycle.TagStage], region)
		}
	}
	require.NotEmpty(t, hit, "the killed run deprecated 1.1.0 somewhere")

	a.clock.Advance(time.Hour) // past the deprecation time EC2 took
	mustSucceed(t, a.packer("sweep.pkr.hcl"))
	for _, region := range sweepRegions {
		imgs := a.images(region)
		tags := a.tags(region, imgs["web-1.1.0"].ID)
		require.Nil(t, imgs["web-1.1.0"].DeprecationTime, region)
		require.Equal(t, "active", tags[lifecycle.TagStage], region)
		require.Empty(t, tags[lifecycle.TagSupersededBy], region)
	}
	var restored []string
	for _, d := range a.report("sweep/sweep.json").Decisions {
		if d.Action == lifecycle.ActionRestore {
			restored = append(restored, d.Region+" "+d.Version+" "+d.Status)
			require.Contains(t, d.Reason, "which never became a release", "%+v", d)
		}
	}
	slices.Sort(restored)
	slices.Sort(hit)
	require.Equal(t, hit, restored)

	mustSucceed(t, a.packer("child.pkr.hcl", "endpoint="+a.url))
	require.Equal(t, a.images("us-east-1")["web-1.1.0"].ID, a.images("us-east-1")["app-1"].SourceImageID, "the child starts from 1.1.0 again")
}

// awsTwoReleases is a run with web 1.0.0 built from a seeded source AMI on
// 2026-03-02, then 1.1.0 eight days later (1.0.0 deprecated); it returns
// the source too.
func awsTwoReleases(t *testing.T) (*awsRun, string) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a := newAWSRun(t, start)
	source := seedImage(a.s, ec2emu.DefaultAccount, "base-1", start.Add(-time.Hour), nil)
	a.build(source, "1.0.0")
	a.clock.Advance(8 * 24 * time.Hour)
	a.build(source, "1.1.0")
	return a, source
}
