//go:build bench

package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// regionWork is what one region's run must do at least: list the family,
// ask who uses its images, call EC2 once per decision and record each
// stage reached in one batched CreateTags.
type regionWork struct {
	listed, deprecate, disable, deregister, tagStages int
}

// minCalls is the minimum call count of one region's run:
// ⌈listed/1000⌉ DescribeImages pages, ⌈listed/10⌉ DescribeImageReferences,
// one DescribeImageAttribute per image to disable (EC2 gives launch
// permissions only image by image, and both the other-account usage check,
// is it shared, and the undo of a disable, whose permissions EC2 drops,
// need them), one CreateTags per stage recorded, one EC2 call per decision
// (DeregisterImage deleting the snapshots in the same call). A dry run
// needs only the reads.
func minCalls(w regionWork, dry bool) map[string]int {
	m := map[string]int{
		"DescribeImages":          ceilDiv(w.listed, 1000),
		"DescribeImageReferences": ceilDiv(w.listed, 10),
	}
	if w.disable > 0 {
		m["DescribeImageAttribute"] = w.disable
	}
	if dry {
		return m
	}
	for op, n := range map[string]int{"CreateTags": w.tagStages, "EnableImageDeprecation": w.deprecate, "DisableImage": w.disable, "DeregisterImage": w.deregister} {
		if n > 0 {
			m[op] = n
		}
	}
	return m
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// bucketOf classifies an operation as EC2 (and the emulator) does.
func bucketOf(l ec2emu.RateLimits, op string) (string, ec2emu.Bucket) {
	switch {
	case strings.HasPrefix(op, "Describe"):
		return "describe", l.Describe
	case op == "CreateTags" || op == "DeleteTags":
		return "tags", l.Tags
	case op == "DeregisterImage" || op == "DeleteSnapshot":
		return "delete", l.Delete
	}
	return "mutating", l.Mutating
}

// floorOf is the time EC2's buckets alone impose on a region's minimum
// calls, starting with full buckets: per bucket (calls − burst) / rate,
// the largest of them (buckets drain in parallel). Regions have buckets of
// their own and run in parallel, so a run's floor is its busiest region's.
func floorOf(calls map[string]int, l ec2emu.RateLimits) time.Duration {
	need := map[string]int{}
	var cfg = map[string]ec2emu.Bucket{}
	for op, n := range calls {
		class, b := bucketOf(l, op)
		need[class] += n
		cfg[class] = b
	}
	var worst float64
	for class, n := range need {
		b := cfg[class]
		worst = math.Max(worst, (float64(n)-b.Burst)/b.Rate)
	}
	return time.Duration(worst * float64(time.Second))
}

func times(m map[string]int, k int) map[string]int {
	out := map[string]int{}
	for op, n := range m {
		out[op] = n * k
	}
	return out
}

// runner measures the clients against one emulator.
type runner struct {
	t   *testing.T
	sw  *switchable
	dir string
}

func (r *runner) postProcessor(s *ec2emu.Server, l ec2emu.RateLimits, k float64, builderID, artifactID string, cfg map[string]any) measured {
	r.t.Helper()
	s.SetRateLimits(&l) // full buckets: the run starts after a quiet spell
	s.ResetCounters()
	cfg["report_path"] = filepath.Join(r.dir, "report.json")
	emu := selfCPU()
	out, u, err := runChild(r.dir, "post-processor", ppInput{Config: cfg, BuilderID: builderID, ArtifactID: artifactID, Endpoint: r.sw.url, Scale: k})
	if err != nil {
		r.t.Fatal(err)
	}
	m := collect(s, out.Wall, u)
	m.EmuCPU = selfCPU() - emu
	return m
}

func (r *runner) serial(s *ec2emu.Server, l ec2emu.RateLimits, in serialInput) measured {
	r.t.Helper()
	s.SetRateLimits(&l)
	s.ResetCounters()
	in.Endpoint = r.sw.url
	emu := selfCPU()
	out, u, err := runChild(r.dir, "serial", in)
	if err != nil {
		r.t.Fatal(err)
	}
	m := collect(s, out.Wall, u)
	m.EmuCPU = selfCPU() - emu
	return m
}

// expect fails the benchmark when a run did not make the decisions it
// had to (a failed action is retried by nobody).
func expect(t *testing.T, what string, m measured, want map[string]int) {
	t.Helper()
	for op, n := range want {
		if m.Calls[op] != n {
			t.Fatalf("%s: %d %s accepted, want %d (all: %v, throttled: %v)", what, m.Calls[op], op, n, m.Calls, m.Throttled)
		}
	}
}

// ---- Case 1: one build and retire, 3 regions × 50 releases.

var case1Regions = []string{"ap-southeast-2", "eu-west-1", "us-east-1"}

// seedCase1 is backend/aws's TestAPICallsForOneBuildAndRetire estate: per
// region 15 disabled, 15 deprecated and 20 active releases of web, and
// the new build's AMI (not recorded yet).
func seedCase1(s *ec2emu.Server, now time.Time) map[string]string {
	long := now.Add(-60 * 24 * time.Hour)
	fresh := map[string]string{}
	for _, region := range case1Regions {
		var rels []ami
		for i := 1; i <= 50; i++ {
			stage := lifecycle.StageActive
			switch {
			case i <= 15:
				stage = lifecycle.StageDisabled
			case i <= 30:
				stage = lifecycle.StageDeprecated
			}
			rels = append(rels, ami{family: "web", version: fmt.Sprintf("1.%d.0", i), built: long.Add(time.Duration(i) * time.Hour).Truncate(time.Second), since: long, stage: stage})
		}
		seed(s, region, rels)
		fresh[region] = seed(s, region, []ami{{built: now.Add(-time.Hour).Truncate(time.Second)}})[0]
	}
	return fresh
}

func case1Policy() lifecycle.Policy {
	p := lifecycle.DefaultPolicy()
	p.MinAge, p.DeprecateAfter, p.DisableAfter, p.DeregisterAfter = 0, 0, 7*lifecycle.Day, 7*lifecycle.Day
	return p
}

type case1Result struct {
	real, serial measured
	min          map[string]int
	floor        time.Duration
	limits       ec2emu.RateLimits
}

func (r *runner) case1(runs int) case1Result {
	var reals, serials []measured
	want := map[string]int{"EnableImageDeprecation": 3 * 18, "DisableImage": 3 * 15, "DeregisterImage": 3 * 15}
	var lim ec2emu.RateLimits
	for range runs {
		s, l := r.sw.fresh(1)
		lim = l
		fresh := seedCase1(s, time.Now().UTC())
		var id []string
		for _, region := range case1Regions {
			id = append(id, region+":"+fresh[region])
		}
		m := r.postProcessor(s, l, 1, "mitchellh.amazonebs", strings.Join(id, ","), map[string]any{
			"packer_builder_type": "amazon-ebs", "backend": "aws", "family": "web", "version": "2.0.0",
			"region": "us-east-1", "regions": case1Regions, "min_age": "0s", "deprecate_after": "0s",
			"disable_after": "7d", "deregister_after": "7d",
		})
		expect(r.t, "case 1", m, want)
		reals = append(reals, m)

		s, l = r.sw.fresh(1)
		fresh = seedCase1(s, time.Now().UTC())
		m = r.serial(s, l, serialInput{Regions: case1Regions, Family: "web", Version: "2.0.0", Fresh: fresh, Policy: case1Policy(), Scale: 1})
		expect(r.t, "case 1 serial", m, want)
		serials = append(serials, m)
		r.t.Logf("case 1: plugin %s (%d calls), serial %s (%d calls)", reals[len(reals)-1].Wall, reals[len(reals)-1].total(), m.Wall, m.total())
	}
	// Per region: 51 listed (50 and the new build), 18 deprecated (the new build pushes a third out of keep_releases), 15
	// disabled, 15 deregistered; stages recorded: the new release,
	// deprecated, disabled.
	per := minCalls(regionWork{listed: 51, deprecate: 18, disable: 15, deregister: 15, tagStages: 3}, false)
	return case1Result{real: fastest(reals), serial: fastest(serials), min: times(per, len(case1Regions)), floor: floorOf(per, lim), limits: lim}
}

// ---- Cases 2 and 3: the sweep of 5 regions × 2,000 images, one stage per run.

var sweepRegions = []string{"ap-southeast-2", "eu-central-1", "eu-west-1", "us-east-1", "us-west-2"}

const (
	sweepImages    = 2000
	sweepRetirable = 997
	sweepInUse     = 200
)

// seedSweep stores per region 2,000 releases of web and 2,000 of api (never
// touched: another family). The 997 oldest of web are past min_age (30
// days) and retirable; the 1,003 newer ones are within it, the newest 3
// kept by keep_releases besides, and 200 of them (10 %) are used by
// instances and launch templates.
func seedSweep(s *ec2emu.Server, now time.Time) {
	for _, region := range sweepRegions {
		for _, family := range []string{"web", "api"} {
			rels := make([]ami, sweepImages)
			for i := range rels {
				built := now.Add(-60*24*time.Hour + time.Duration(i)*time.Minute)
				if i >= sweepRetirable {
					built = now.Add(-20*24*time.Hour + time.Duration(i-sweepRetirable)*10*time.Minute)
				}
				built = built.Truncate(time.Second)
				rels[i] = ami{family: family, version: fmt.Sprintf("1.0.%d", i), built: built, since: built, stage: lifecycle.StageActive}
			}
			ids := seed(s, region, rels)
			if family == "web" {
				var used []string
				for j := range sweepInUse {
					used = append(used, ids[sweepRetirable+3+5*j])
				}
				use(s, region, used, now)
			}
		}
	}
}

func sweepPolicy() lifecycle.Policy {
	p := lifecycle.DefaultPolicy()
	p.MinAge, p.DisableAfter, p.DeregisterAfter = 30*lifecycle.Day, 0, 0
	return p
}

func sweepConfig(dry bool) map[string]any {
	return map[string]any{
		"packer_builder_type": "null", "sweep": true, "backend": "aws", "family": "web", "dry_run": dry,
		"region": "us-east-1", "regions": sweepRegions, "keep_releases": 3, "min_age": "30d",
		"deprecate_after": "0s", "disable_after": "0s", "deregister_after": "0s", "delete_snapshots": true,
	}
}

var stages = []struct {
	name, op string
	work     regionWork
}{
	{"deprecate", "EnableImageDeprecation", regionWork{listed: sweepImages, deprecate: sweepRetirable, tagStages: 1}},
	{"disable", "DisableImage", regionWork{listed: sweepImages, disable: sweepRetirable, tagStages: 1}},
	{"deregister", "DeregisterImage", regionWork{listed: sweepImages, deregister: sweepRetirable}},
}

type stageResult struct {
	name                 string
	real, dry, serial    measured
	min, dryMin          map[string]int
	floor, dryFloor      time.Duration
	realRuns, serialRuns []time.Duration
}

func (r *runner) sweep(k float64, runs int) []stageResult {
	res := make([]stageResult, len(stages))
	reals, drys, serials := make([][]measured, len(stages)), make([][]measured, len(stages)), make([][]measured, len(stages))
	var lim ec2emu.RateLimits
	n := len(sweepRegions)
	for rep := range runs {
		s, l := r.sw.fresh(k)
		lim = l
		seedSweep(s, time.Now().UTC())
		for i, st := range stages {
			d := r.postProcessor(s, l, k, "null", "", sweepConfig(true))
			expect(r.t, st.name+" dry run", d, map[string]int{st.op: 0})
			drys[i] = append(drys[i], d)
			m := r.postProcessor(s, l, k, "null", "", sweepConfig(false))
			expect(r.t, st.name, m, map[string]int{st.op: n * sweepRetirable})
			reals[i] = append(reals[i], m)
			r.t.Logf("sweep %d %s: plugin %s (%d calls, %d throttled), dry run %s (%d calls)", rep+1, st.name, m.Wall, m.total(), sum(m.Throttled), d.Wall, d.total())
		}
		s, l = r.sw.fresh(k)
		seedSweep(s, time.Now().UTC())
		for i, st := range stages {
			m := r.serial(s, l, serialInput{Regions: sweepRegions, Family: "web", Policy: sweepPolicy(), Scale: k})
			expect(r.t, st.name+" serial", m, map[string]int{st.op: n * sweepRetirable})
			serials[i] = append(serials[i], m)
			r.t.Logf("sweep %d %s: serial %s (%d calls, %d throttled)", rep+1, st.name, m.Wall, m.total(), sum(m.Throttled))
		}
	}
	for i, st := range stages {
		per, dry := minCalls(st.work, false), minCalls(st.work, true)
		res[i] = stageResult{name: st.name, real: fastest(reals[i]), dry: fastest(drys[i]), serial: fastest(serials[i]),
			min: times(per, n), dryMin: times(dry, n), floor: floorOf(per, lim), dryFloor: floorOf(dry, lim)}
		for j := range reals[i] {
			res[i].realRuns = append(res[i].realRuns, reals[i][j].Wall)
			res[i].serialRuns = append(res[i].serialRuns, serials[i][j].Wall)
		}
	}
	return res
}
