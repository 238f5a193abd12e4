//go:build bench

package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	awsbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/aws"
	gcpbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/gcp"
)

type machine struct {
	nproc              int
	cpu, kernel, goVer string
	loadStart, commit  string
	date               string
}

func describeMachine() machine {
	m := machine{nproc: runtime.NumCPU(), goVer: runtime.Version(), loadStart: loadAverage(), date: time.Now().UTC().Format(time.RFC3339)}
	if out, err := exec.Command("nproc").Output(); err == nil {
		fmt.Sscan(string(out), &m.nproc)
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", "..", "describe", "--always", "--dirty").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
	}
	return m
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// report is BENCHMARKS.md.
type report struct {
	set     settings
	machine machine
	size    sizes
	case1   *case1Result
	sweep   []stageResult
	ds      *dsResult
	local   *localResult
	gcp     *gcpResult
	azure   *azResult
	took    time.Duration
	loadEnd string
	goals   []goal
}

type goal struct {
	what, target, measured string
	met                    bool
	why                    string
}

func (r *report) addGoal(what, target, measured string, met bool, why string) {
	r.goals = append(r.goals, goal{what, target, measured, met, why})
}

func secs(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// callList renders calls by operation, throttled answers in brackets.
func callList(m measured) string {
	var parts []string
	for _, op := range ops(m.Calls) {
		if m.Calls[op] == 0 && m.Throttled[op] == 0 {
			continue
		}
		s := fmt.Sprintf("%s %d", op, m.Calls[op])
		if t := m.Throttled[op]; t > 0 {
			s += fmt.Sprintf(" (+%d throttled)", t)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func minList(m map[string]int) string {
	var parts []string
	for _, op := range ops(m) {
		parts = append(parts, fmt.Sprintf("%s %d", op, m[op]))
	}
	return strings.Join(parts, ", ")
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	k := r.set.scale
	m := r.machine
	w("# Benchmarks\n\n")
	w("Written by `make bench` (issue 20) on %s at %s; the run took %s.\n", m.date, m.commit, secs(r.took))
	w("Machine: `nproc` %d, %s, %s, %s. Load average (1, 5, 15 min) at start %s, at end %s: the machine is shared with other jobs, so every figure is the fastest of %d runs and both sides of every ratio come from the same run.\n\n",
		m.nproc, m.cpu, m.kernel, m.goVer, m.loadStart, r.loadEnd, r.set.runs)
	w("Re-run: `make bench` (needs the tools `make tools` builds; runs in a loopback-only network namespace, nothing leaves the machine). Knobs: `PLC_BENCH_SCALE` (time compression of cases 2 and 3, default 25), `PLC_BENCH_RUNS` (default 3), `PLC_BENCH_CASES` (subset of `1,2,4,5,gcp,azure,size`; `gcp` is case 6, `azure` case 7), `PLC_BENCH_OUT`.\n\n")
	r.method(w)
	if r.case1 != nil {
		r.writeCase1(w)
	}
	if len(r.sweep) > 0 {
		r.writeSweep(w, k)
	}
	if r.ds != nil {
		r.writeDS(w)
	}
	if r.local != nil {
		r.writeLocal(w)
	}
	if r.gcp != nil {
		r.writeGCP(w)
	}
	if r.azure != nil {
		r.writeAzure(w)
	}
	if r.size.pluginBytes > 0 {
		r.writeSize(w)
	}
	w("%s", findings)
	w("## Goals\n\n| goal | target | measured | met |\n|---|---|---|---|\n")
	for _, g := range r.goals {
		met := "yes"
		if !g.met {
			met = "**no**"
		}
		w("| %s | %s | %s | %s |\n", g.what, g.target, g.measured, met)
	}
	w("\n")
	var missed []goal
	for _, g := range r.goals {
		if !g.met {
			missed = append(missed, g)
		}
	}
	if len(missed) > 0 {
		w("### Why goals are missed, and what would close them\n\n")
		for _, g := range missed {
			w("- **%s** (%s): %s\n", g.what, g.measured, g.why)
		}
		w("\n")
	}
	return b.String()
}

func (r *report) method(w func(string, ...any)) {
	k := r.set.scale
	w("## Method\n\n")
	w("- **EC2**: the project's emulator (`internal/ec2emu`) in the benchmark process, on 127.0.0.1, with 20 ms latency injected into every call and EC2's token buckets per account and region: describe 100 burst / 20 s⁻¹, mutating 50 / 5, CreateTags 100 / 10, DeregisterImage 100 / 5. Every run starts with full buckets and zeroed counters. Calls are counted per region and operation (`GET /_emu/calls`); *accepted* calls exclude the `RequestLimitExceeded` answers, which are listed apart as *throttled*.\n")
	w("- **Peak in flight**: a gauge in the emulator counts requests being served, per region and in all, and keeps the maximum since the counters were reset (`peakInFlight` in `GET /_emu/calls`).\n")
	w("- **Peak RSS**: every measured client runs in a process of its own, the emulator never does, and its peak is its own `VmHWM` (not getrusage's `ru_maxrss`, which Linux seeds at exec with the parent's high-water mark when the child was started with vfork, as Go does). The post-processor and the serial baseline run in the benchmark binary re-executed as a child that reads its `VmHWM` when done; the Packer cases report the plugin process that runs the data source (`VmHWM` read from /proc every 5 ms while it runs; Packer also starts every installed plugin briefly to describe it, those are not counted); the local cases are the packages' own Go benchmarks in a test binary of their own, watched the same way.\n")
	w("- **Bounded time** (cases 2 and 3): at EC2's rates one stage of the sweep takes ≈ 190 s, the serial baseline five times that, three stages, three runs: over two hours. So time runs %g× faster for these cases: every bucket refills %g× faster (bursts unchanged), latency is 20 ms / %g, and the clients' SDK retry backoff is divided by %g too (`internal/timescale`, 1 in every real run), so a throttled client waits as long, in bucket time, as it would on EC2. Both sides of each ratio run at the same scale. Wall times are shown as measured and ×%g (*EC2-equivalent*); CPU time is not compressed, so the EC2-equivalent figures overstate the cost of CPU %g×, conservatively. Cases 1 and 4 run at EC2's own rates and latency.\n", k, k, k, k, k, k)
	w("- **Serial baseline**: a small driver in the benchmark (`bench/clients_test.go`), the way the common peer post-processor works: one region after another, one request in flight, one call per image and no batching. Per region it lists the family with the same backend (paginated), records the new build if any, plans with the same planner, looks up the usage of each image to be disabled or deregistered with one DescribeImageReferences each, then makes one EC2 call and one CreateTags per decision. It makes exactly the decisions the post-processor makes (the benchmark checks the action counts), with the same SDK retryer and the AWS backend's default retries (up to %d attempts while throttled). It does not save launch permissions before disabling, re-read images or re-check usage right before acting, which the post-processor does: it is the cheaper of the two per image.\n", awsbackend.DefaultMaxRetries)
	w("- **Minimum calls** of a run, per region: ⌈listed/1000⌉ DescribeImages pages + ⌈listed/10⌉ DescribeImageReferences (usage of every listed image) + one DescribeImageAttribute per image to disable (EC2 gives launch permissions only image by image; the other-account usage check needs them to know the AMI is shared, the disable to save them, as EC2 drops them, for a restore) + one CreateTags per stage recorded + one EC2 call per decision (EnableImageDeprecation, DisableImage, DeregisterImage with DeleteAssociatedSnapshots); a dry run needs the reads only. Summed over regions.\n")
	w("- **Rate-limit floor**: the time EC2's buckets alone impose on the minimum calls, regions in parallel, starting full: per region and bucket max(0, (calls − burst) / rate), the largest of them (buckets drain in parallel, regions have their own).\n")
	if r.gcp != nil {
		r.methodGCP(w)
	}
	if r.azure != nil {
		r.methodAzure(w)
	}
	w("\n")
}

func (r *report) writeCase1(w func(string, ...any)) {
	c := r.case1
	w("## Case 1: one build and retire, 3 regions × 50 releases\n\n")
	w("Per region 15 disabled, 15 deprecated and 20 active releases and the new build (the estate of `TestAPICallsForOneBuildAndRetire`); the post-processor records the build in 3 regions and retires per policy (deprecate at once, disable and deregister after 7 days): 54 deprecations (the new build pushes one more release per region out of `keep_releases`), 45 disables, 45 deregistrations. EC2 rates and 20 ms latency, unscaled.\n\n")
	w("| client | wall | calls (accepted) | by operation | peak in flight (all / per region) | peak RSS | CPU client / emulator |\n|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		name string
		m    measured
	}{{"post-processor", c.real}, {"serial baseline", c.serial}} {
		w("| %s | %s | %d | %s | %d / %d | %s | %s / %s |\n", row.name, secs(row.m.Wall), row.m.total(), callList(row.m), row.m.Peak.All, row.m.peakRegion(), mib(row.m.RSS), secs(row.m.CPU), secs(row.m.EmuCPU))
	}
	w("\nMinimum: %d calls (%s). Rate-limit floor: %s (everything fits in the bursts).\n\n", sum(c.min), minList(c.min), secs(c.floor))
	w("| ratio | value | goal |\n|---|---|---|\n")
	w("| calls / minimum | %s | ≤ 1.05× |\n", ratio(float64(c.real.total()), float64(sum(c.min))))
	w("| wall / rate-limit floor | n/a (floor 0: within the bursts; latency-bound) | ≤ 1.3× |\n")
	w("| serial baseline wall / post-processor wall | %s | ≥ 5× |\n\n", ratio(float64(c.serial.Wall), float64(c.real.Wall)))
	callsRatio := float64(c.real.total()) / float64(sum(c.min))
	r.addGoal("case 1 calls / minimum", "≤ 1.05×", fmt.Sprintf("%.2f×", callsRatio), callsRatio <= 1.05, case1CallsWhy(c))
	speed := float64(c.serial.Wall) / float64(c.real.Wall)
	r.addGoal("case 1 speed-up over the serial baseline", "≥ 5×", fmt.Sprintf("%.2f×", speed), speed >= 5,
		"one build touches 47 images per region, so the run is bound by latency, not buckets: the post-processor works on the regions in parallel (3 at once) and up to 8 decisions at once inside a region, the baseline one request at a time overall; what is left on the critical path is the post-processor's safety calls, one after another per region (launch permissions read for the other-account usage check, the re-read and usage re-check before acting, the two-phase apply of a build and its marks).")
}

func case1CallsWhy(c *case1Result) string {
	return fmt.Sprintf("beyond the minimum the post-processor re-reads the images and re-checks usage right before acting (DescribeImages, DescribeImageReferences), looks up child images (2 DescribeImages per 200 ids) and Auto Scaling groups and launch configurations per region, records the new build twice (pending, then released), and marks what the new build deprecates with it, clearing the marks once it is released (%d CreateTags in all against %d in the minimum, and a re-read per region: what lets a later run undo a killed one, docs/safety.md). The launch permissions are read once per disable (%d, in the minimum): the read of the other-account usage check serves the disable. Those are the safety guarantees of docs/design.md.", c.real.Calls["CreateTags"], c.min["CreateTags"], c.real.Calls["DescribeImageAttribute"])
}

func (r *report) writeSweep(w func(string, ...any), k float64) {
	w("## Cases 2 and 3: sweep of 5 regions × 2,000 images, one stage per run, and its dry run\n\n")
	w("Per region 2,000 releases of `web` and 2,000 of `api` beside them (never touched); of `web` the 997 oldest are past `min_age` (30 d) and retirable, the 1,003 newer are not, the newest 3 are kept by `keep_releases`, and 200 (10 %%) are used by 100 instances and 100 launch templates. Policy: deprecate, disable and deregister after 0 s with `delete_snapshots`, so each run takes the 997 one stage further: three runs, each measured, each with its dry run just before it on the same state. Time compressed %g× (see Method).\n\n", k)
	w("| stage | client | wall (measured) | wall EC2-equivalent | calls (accepted) | by operation | peak in flight (all / per region) | peak RSS | CPU client / emulator |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, st := range r.sweep {
		for _, row := range []struct {
			name string
			m    measured
		}{{"post-processor", st.real}, {"dry run", st.dry}, {"serial baseline", st.serial}} {
			w("| %s | %s | %s | %s | %d | %s | %d / %d | %s | %s / %s |\n", st.name, row.name, secs(row.m.Wall), secs(time.Duration(float64(row.m.Wall)*k)),
				row.m.total(), callList(row.m), row.m.Peak.All, row.m.peakRegion(), mib(row.m.RSS), secs(row.m.CPU), secs(row.m.EmuCPU))
		}
	}
	w("\nMinimum calls and rate-limit floor per stage (at %g× the EC2-equivalent floor is %g× longer):\n\n| stage | minimum calls | floor (measured scale) | floor EC2-equivalent | dry-run minimum | dry-run floor EC2-eq. |\n|---|---|---|---|---|---|\n", k, k)
	for _, st := range r.sweep {
		w("| %s | %d (%s) | %s | %s | %d | %s |\n", st.name, sum(st.min), minList(st.min), secs(st.floor), secs(time.Duration(float64(st.floor)*k)), sum(st.dryMin), secs(time.Duration(float64(st.dryFloor)*k)))
	}
	w("\n| stage | calls / minimum (goal ≤ 1.05×) | wall / floor (goal ≤ 1.3×) | serial / post-processor wall (goal ≥ 5×) | dry-run calls / real calls (goal ≤ 0.2×) | dry-run calls / dry-run minimum | runs (post-processor; serial) |\n|---|---|---|---|---|---|---|\n")
	for _, st := range r.sweep {
		var runs []string
		for i := range st.realRuns {
			runs = append(runs, secs(st.realRuns[i]))
		}
		var sruns []string
		for i := range st.serialRuns {
			sruns = append(sruns, secs(st.serialRuns[i]))
		}
		w("| %s | %s | %s | %s | %s | %s | %s; %s |\n", st.name, ratio(float64(st.real.total()), float64(sum(st.min))), ratio(float64(st.real.Wall), float64(st.floor)),
			ratio(float64(st.serial.Wall), float64(st.real.Wall)), ratio(float64(st.dry.total()), float64(st.real.total())),
			ratio(float64(st.dry.total()), float64(sum(st.dryMin))), strings.Join(runs, ", "), strings.Join(sruns, ", "))
	}
	w("\nFor reference, the common peer post-processor measured here took 227 s and 8,990 calls for case 2 at 20 ms latency with no rate limits (delete in one go, regions in series).\n\n")
	for _, st := range r.sweep {
		cr := float64(st.real.total()) / float64(sum(st.min))
		r.addGoal("case 2 "+st.name+": calls / minimum", "≤ 1.05×", fmt.Sprintf("%.2f×", cr), cr <= 1.05, sweepCallsWhy(st))
		fr := float64(st.real.Wall) / float64(st.floor)
		r.addGoal("case 2 "+st.name+": wall / rate-limit floor", "≤ 1.3×", fmt.Sprintf("%.2f×", fr), fr <= 1.3, floorWhy(st, k))
		sp := float64(st.serial.Wall) / float64(st.real.Wall)
		r.addGoal("case 2 "+st.name+": speed-up over the serial baseline", "≥ 5×", fmt.Sprintf("%.2f×", sp), sp >= 5, serialWhy(st, k))
		dr := float64(st.dry.total()) / float64(st.real.total())
		r.addGoal("case 3 "+st.name+": dry-run calls / real calls", "≤ 0.2×", fmt.Sprintf("%.2f×", dr), dr <= 0.2,
			"a dry run makes the reads the real run plans from (listing, usage of every listed image, child images, Auto Scaling, and for the disable stage one DescribeImageAttribute per AMI to disable, to know whether it is shared with other accounts and whose usage report it must read: EC2 has no batch form of launch permissions) and decides on that listing: no re-read, no usage re-check, no action, no tag. With skip_usage_reports the per-AMI reads go, and the disable stage's dry run is back at 0.10×.")
	}
}

// floorWhy explains a wall time over the floor from the run's own figures:
// the dry run is the reads alone, so the real run less the dry run is the
// acting.
func floorWhy(st stageResult, k float64) string {
	acting := st.real.Wall - st.dry.Wall
	return fmt.Sprintf("the post-processor reads everything before it acts (listing and usage of all 2,000 images per region, then the re-read and usage re-check of the images it acts on): its dry run, the first of those reads alone, took %s here, while the floor counts only %s of describe-bucket time for them; the acting that follows took %s, %s of the floor, i.e. at the buckets' pace. The reads are CPU-bound in this run: %d calls of up to 1,000 images each, client %s and emulator %s of CPU in %s of wall, on 2 cores shared with other jobs (see the load average above), and CPU is not compressed with time (at %g× it weighs %g× more than it would at EC2 speed, where the same reads cost ≈ 6 s of a 190 s stage). Closing it: start acting on a region as soon as its own listing and usage are in instead of after all regions' (the plan is per region), and overlap the usage lookups with the actions; computed, not measured: at EC2 speed, acting at the pace measured here after ≈ 6 s of reads (≈ 12 s for disable and deregister, which re-read and re-check usage first with a drained describe bucket) gives ≈ 1.03–1.07×.",
		secs(st.dry.Wall), secs(floorOf(minCalls(regionWork{listed: sweepImages}, true), scaledLimits(k))), secs(acting), ratio(float64(acting), float64(st.floor)),
		st.dry.total(), secs(st.dry.CPU), secs(st.dry.EmuCPU), secs(st.dry.Wall), k, k)
}

func serialWhy(st stageResult, k float64) string {
	return fmt.Sprintf("under the buckets both clients are bound by the same per-region action bucket (mutating 5 s⁻¹, DeregisterImage 5 s⁻¹), which no batching can help: EC2's image actions take one image a call. Regions in parallel against regions in series is then worth at most the number of regions, 5×, plus what the baseline spends on its one-by-one reads (%d calls here); the post-processor's CPU-bound reads before acting (its dry run: %s) count %g× too much at this compression, which is what takes it below 5×: its acting alone (wall less dry run, %s) is %s faster than the baseline. Computed, not measured: at EC2 speed, 5 regions × (reads + floor) against one (reads + floor) give ≈ 4.8× for deprecate (no usage lookups in the baseline: 5 × 189 s against ≈ 196 s) and ≈ 5.8× for disable and deregister (997 usage lookups per region in the baseline, ≈ 45 s of describe bucket each). The ≥ 5× goal is reachable for the deprecate stage only with more regions, or with a peer that is slower than one bucket-bound stream per region.",
		st.serial.Calls["DescribeImageReferences"], secs(st.dry.Wall), k, secs(st.real.Wall-st.dry.Wall), ratio(float64(st.serial.Wall), float64(st.real.Wall-st.dry.Wall)))
}

func sweepCallsWhy(st stageResult) string {
	return "beyond the minimum: the re-read of the images before acting and the usage re-check of those to be disabled or deregistered (DescribeImages, DescribeImageReferences), the child-image lookups (2 DescribeImages per 200 ids) and the Auto Scaling lookups per region. They are the safety guarantees of docs/design.md (act on what is there now, never on a stale plan); the re-check could be skipped when the listing is seconds old, but that is a design decision, not a fix."
}

func (r *report) writeDS(w func(string, ...any)) {
	d := r.ds
	w("## Case 4: data source on a family of 2,000 AMIs, against amazon-ami\n\n")
	w("`packer build` (Packer 1.15.0) of a null build whose only work is one data source and a shell-local echo of its id, on 2,000 AMIs of one family in us-east-1, EC2 rates and 20 ms latency; `lifecycle-image` (this plugin, built as goreleaser ships it) against `amazon-ami` (amazon plugin 1.8.0, filter on the family tag, `most_recent`); both return the same AMI (checked). `none` is the same build without a data source: what Packer itself costs.\n\n")
	w("| data source | packer build wall | minus `none` | calls (accepted) | by operation | peak in flight | plugin peak RSS |\n|---|---|---|---|---|---|---|\n")
	none := d.runs["none"]
	for _, v := range dsVariants {
		m := d.runs[v]
		rss := mib(m.RSS)
		if v == "none" {
			rss = "–"
		}
		w("| %s | %s | %s | %d | %s | %d | %s |\n", v, secs(m.Wall), secs(m.Wall-none.Wall), m.total(), callList(m), m.Peak.All, rss)
	}
	lc, am := d.runs["lifecycle-image"], d.runs["amazon-ami"]
	rt := float64(lc.Wall) / float64(am.Wall)
	w("\nlifecycle-image / amazon-ami wall: %s (goal ≤ 1.1×); without Packer's own cost: %s.\n\n", ratio(float64(lc.Wall), float64(am.Wall)), ratio(float64(lc.Wall-none.Wall), float64(am.Wall-none.Wall)))
	r.addGoal("case 4 data source wall / amazon-ami", "≤ 1.1×", fmt.Sprintf("%.2f×", rt), rt <= 1.1,
		"lifecycle-image pages DescribeImages 1,000 at a time (2 calls, 2 × 20 ms) where amazon-ami asks for everything in one call; it converts and chooses in microseconds. Asking without MaxResults when a single region is listed would save one round trip.")
}

func (r *report) writeLocal(w func(string, ...any)) {
	l := r.local
	w("## Case 5: local backend\n\n")
	w("| benchmark | wall | peak RSS |\n|---|---|---|\n")
	w("| sweep of 1,000 retirements (backend/local BenchmarkSweep: List, Usage, Plan, Apply; one catalog transaction, files to quarantine) | %s | %s |\n", secs(l.sweep.Wall), mib(l.sweep.RSS))
	w("| planner alone on 17,000 images (lifecycle BenchmarkPlan, 17 regions × 1,000 releases, 10 %% in use) | %s | %s |\n\n", secs(l.planner.Wall), mib(l.planner.RSS))
	w("No API calls, so no minimum or floor; peak RSS is the benchmark process's (set-up included). The local sweep's own goal (BenchmarkSweep) is 1,000 retirements in at most 2 s.\n\n")
	r.addGoal("case 5 local sweep of 1,000", "≤ 2 s", secs(l.sweep.Wall), l.sweep.Wall <= 2*time.Second, "the sweep is bound by one fsync per moved file on this disk; batching the directory syncs further would close it.")
}

func (r *report) writeSize(w func(string, ...any)) {
	s := r.size
	w("## Plugin binary size\n\n")
	w("| binary | size |\n|---|---|\n")
	w("| packer-plugin-lifecycle, linux/amd64 as goreleaser ships it (CGO off, `-trimpath`, `-s -w`) | %.1f MiB |\n", float64(s.pluginBytes)/(1<<20))
	w("| packer-plugin-amazon 1.8.0, built by tools/ (with symbols) | %.1f MiB |\n", float64(s.amazonBytes)/(1<<20))
	w("| packer-plugin-amazon 1.8.0, stripped alike (`strip`) | %.1f MiB |\n\n", float64(s.amazonStripped)/(1<<20))
	w("Ratio (stripped against stripped): %s.\n\n", ratio(float64(s.pluginBytes), float64(s.amazonStripped)))
	sr := float64(s.pluginBytes) / float64(s.amazonStripped)
	r.addGoal("plugin binary size / amazon plugin 1.8.0 (both stripped)", "smaller", fmt.Sprintf("%.2f×", sr), sr < 1,
		"the plugin links the EC2, Auto Scaling, SSM and STS clients of aws-sdk-go-v2 and the Packer SDK; dropping a client would shrink it.")
}

// findings are what building this benchmark found, fixed or not.
const findings = `## Findings

- **Fixed: a sweep longer than a minute failed its later deprecations.** The AWS backend asked EC2 to deprecate at the minute after the run's clock, which stands still at the run's start; at EC2's 5 mutating calls a second a 1,000-image stage lasts over three minutes, and every EnableImageDeprecation after the first minute was refused ("must be in the future"). It now adds how long the run has lasted (` + "`backend/aws` TestDeprecateLateInALongRunIsStillInTheFuture" + `).
- **Fixed: a deprecation computed in the last moments of a minute failed** (it reached EC2 in the next minute): about one call per 1,000-image stage at 20 ms latency. The time asked for is now a whole minute one to two minutes ahead (TestDeprecateInTheLastMomentOfAMinute).
- **Fixed: only 4 regions were worked on at once**, so a 5-region sweep took two waves of the rate-limit floor. Each region has buckets of its own; every region now runs at once by default (TestEveryRegionIsWorkedOnAtOnceByDefault).
- **Fixed: the SDK's default of 3 attempts** failed a call now and then when a client is held at a bucket's rate for minutes (seen once in a serial-baseline run). The AWS backend now makes up to 10 attempts while EC2 throttles (3 for other failures, so an endpoint that is down still fails fast) unless ` + "`max_retries`" + ` says otherwise. The SDK's adaptive retry mode was measured instead (case 2, one run): it all but ended the throttling (5, 6 and 33 throttled answers against 659, 434 and 304) but paced the client below the buckets' rate, so each stage took 13–52 % longer (11.7, 14.8 and 15.7 s against 10.3, 11.0 and 10.4 s); it is not used.
- **Fixed: with several actions in flight the SDK's retry quota failed half a sweep.** The first run of case 2 with 8 decisions of a region in flight (issue 28) failed 2,233 of 4,985 deprecations with "retry quota exceeded": the standard retryer's client-side quota (500 tokens, 5 a retry) runs dry once a client has been throttled a hundred times, which a bucket-bound stage reaches in seconds, at EC2's rates as at 25×. The AWS backend bounds itself instead (8 in flight per region, 10 attempts with backoff) and has no retry quota (TestThrottlesNeverRunOutOfRetries).
- **Changed: 8 in flight until EC2 throttles, then one at a time.** 8 in flight throughout made case 1 1.7× faster (2.05 → 1.21 s) but case 2 no faster: its stages are bound by the mutating bucket, and 8 in flight only multiplied the refused calls (deprecate 694 → 3,924 throttled answers, client CPU 3.77 → 4.98 s, wall 9.99 → 10.6 s). A region EC2 has throttled during an Apply is now worked one call at a time, which keeps up with the bucket's rate (TestAThrottledRegionWorksOneCallAtATime).
- **Measurement pitfall**: getrusage's ru_maxrss of a child started by Go (vfork) is seeded at exec with the parent's high-water mark, so the children report their own VmHWM instead.

`

func (r *report) methodGCP(w func(string, ...any)) {
	q := r.gcp.quotas
	w("- **Compute Engine** (case 6): the project's emulator (`internal/gceemu`) in the benchmark process, on 127.0.0.1, with 20 ms of latency injected into every call (its `LatencyOnly` fault), every operation answered RUNNING so that each mutation is followed by one `globalOperations.wait` (as on Compute Engine, where an image operation is not done when its call returns), an access token required, and per-project quotas per minute after Compute Engine's documented defaults (1,500 queries, i.e. mutations, 1,500 read requests, 1,500 list requests and 1,500 operation read requests a minute per project; cloud.google.com/compute/api-quota): writes %s, reads %s, operation reads %s a minute. gceemu counts gets and lists in one read class, so reads are held to %s together where Compute Engine allows that many of each (stricter). A refused call answers 403 `rateLimitExceeded` and is counted as *throttled*; the quota windows are minutes of the wall clock and are emptied with the counters before every run. Calls are counted per project and method from gceemu's journal, peak in flight by a gauge in the benchmark's handler in front of the emulator. No time compression (the quotas are per minute of the clock).\n",
		grouped(q.WritePerMinute), grouped(q.ReadPerMinute), grouped(q.OperationReadPerMinute), grouped(q.ReadPerMinute))
	w("- **Serial baseline** (case 6): a small driver in the benchmark (`bench/gcp_test.go`) on `google.golang.org/api/compute/v1`, the way a script would do it: one project after another, one request in flight. Per project it lists the family (`images.list` with a label filter, 500 a page), plans with the same planner (`lifecycle.Plan`), checks the usage of each image the plan would disable or delete with one `disks.aggregatedList` (instances, through their disks) and one `instanceTemplates.aggregatedList` each, plans again with it, and per decision makes `images.deprecate` (or `images.delete`) + `globalOperations.wait` + `images.setLabels` (the stage labels, with the listed label fingerprint) + `globalOperations.wait`. It makes exactly the decisions the post-processor makes (the benchmark checks the action counts, and that every image of both runs ends in the same deprecation state with the same stage label), and retries with the backend's transport (`gcp.Retrying`, %d attempts). It does not look for managed instance groups, child images or IAM shares, nor re-read images or re-check usage before acting, which the post-processor does: it is the cheaper of the two per image.\n", gcpbackend.DefaultMaxRetries)
	w("- **Minimum calls** (case 6), per project: ⌈listed/500⌉ `images.list` pages of the family + the usage reads the backend must make once per project (`backend/gcp/usage.go`): one `disks.aggregatedList` (instances, through their disks), one `instanceTemplates.aggregatedList`, one `instanceGroupManagers.aggregatedList` (made only when a template uses one of the images, as here), ⌈images in the project/500⌉ `images.list` pages for child images, and one `images.getFromFamily` per family a template names (none here) + per decision the Compute Engine calls of one stage: `images.deprecate` + `globalOperations.wait` + `images.setLabels` + `globalOperations.wait` (deprecate, disable), or `images.delete` + `globalOperations.wait` (deregister). A dry run needs the reads only. Not counted: `images.getIamPolicy`, which the backend makes per deprecated or disabled image (shares with principals outside the covered projects; Compute Engine has no list form of it), and the re-reads before acting. Summed over projects.\n")
	w("- **Quota floor** (case 6): the time the per-minute quotas alone impose on a project's minimum calls: per class ⌈calls / quota⌉ − 1 minutes, the largest; projects have quotas of their own and are worked on in parallel.\n")
}

func (r *report) writeGCP(w func(string, ...any)) {
	g := r.gcp
	n := len(gcpProjects)
	dec, dis := gcpStages[0].work.decisions(), gcpStages[1].work.decisions()
	w("## Case 6: GCP sweep, %d projects × %d images, one stage per run, and its dry run\n\n", n, gcpImages)
	w("Per project %d releases of `web` and %d of `api` beside them (never touched); of `web` the %d oldest are past `min_age` (30 d) and retirable, the %d newer are not, the newest 3 are kept by `keep_releases`, and %d (10 %%) are in use, %d of the retirable and %d of the newer ones, half by an instance (a disk made from the image, attached to it) and half by a global instance template. Policy: deprecate, disable and deregister after 0 s, so each run takes the retirable ones one stage further: per project %d deprecated, then %d disabled, then %d deleted (the %d retirable ones in use are deprecated, as a warning to their users, and never disabled). Three runs, each measured, each with its dry run just before it on the same state. Compute Engine's quotas and 20 ms latency, unscaled (see Method). The estate is smaller than case 2's (%d images per project and family, not 2,000) to keep the case, serial baseline included, within about 3 minutes on 2 cores.\n\n",
		gcpImages, gcpImages, gcpRetirable, gcpImages-gcpRetirable, gcpInUse, gcpUsedRetirable, gcpInUse-gcpUsedRetirable, dec, dis, dis, gcpUsedRetirable, gcpImages)
	w("| stage | client | wall | calls (accepted) | by operation | peak in flight (all / per project) | peak RSS | CPU client / emulator |\n|---|---|---|---|---|---|---|---|\n")
	for _, st := range g.stages {
		for _, row := range []struct {
			name string
			m    measured
		}{{"post-processor", st.real}, {"dry run", st.dry}, {"serial baseline", st.serial}} {
			w("| %s | %s | %s | %d | %s | %d / %d | %s | %s / %s |\n", st.name, row.name, secs(row.m.Wall), row.m.total(), callList(row.m),
				row.m.Peak.All, row.m.peakRegion(), mib(row.m.RSS), secs(row.m.CPU), secs(row.m.EmuCPU))
		}
	}
	w("\nMinimum calls and quota floor per stage:\n\n| stage | minimum calls | quota floor | dry-run minimum |\n|---|---|---|---|\n")
	floors, throttled, busiest := time.Duration(0), 0, 0
	for _, st := range g.stages {
		floor := secs(st.floor)
		if st.floor == 0 {
			floor = "0 (within one minute's quotas)"
		}
		w("| %s | %d (%s) | %s | %d (%s) |\n", st.name, sum(st.min), minList(st.min), floor, sum(st.dryMin), minList(st.dryMin))
		floors = max(floors, st.floor)
		for _, m := range []measured{st.real, st.dry, st.serial} {
			throttled += sum(m.Throttled)
		}
		busiest = max(busiest, gcpBusiestClass(st.real))
	}
	if floors == 0 {
		w("\nEvery project's minimum calls of each class fit in one minute's quota, so the floor is 0 and the case is bound by latency, like case 1: there is no wall / floor ratio. The post-processor's busiest project and class took %d calls in a run (of 1,500 a minute); %d calls were throttled in all the runs of this case.\n\n", busiest, throttled)
	}
	w("| stage | calls / minimum (goal ≤ 1.05×) | serial / post-processor wall (goal ≥ 5×) | dry-run calls / real calls | dry-run calls / dry-run minimum | runs (post-processor; serial) |\n|---|---|---|---|---|---|\n")
	for _, st := range g.stages {
		var runs, sruns []string
		for i := range st.realRuns {
			runs = append(runs, secs(st.realRuns[i]))
			sruns = append(sruns, secs(st.serialRuns[i]))
		}
		w("| %s | %s | %s | %s | %s | %s; %s |\n", st.name, ratio(float64(st.real.total()), float64(sum(st.min))),
			ratio(float64(st.serial.Wall), float64(st.real.Wall)), ratio(float64(st.dry.total()), float64(st.real.total())),
			ratio(float64(st.dry.total()), float64(sum(st.dryMin))), strings.Join(runs, ", "), strings.Join(sruns, ", "))
	}
	w("\n%s\n\n", gcpWhere(g))
	w("Found by this case's first run (2026-12-07, at 059182d: calls / minimum 1.99×, 2.31×, 3.10×; serial / post-processor 1.97×, 2.91×, 3.76×) and fixed in `backend/gcp` since: `Apply` read each image again after `images.deprecate` and before `images.setLabels` (the deprecation leaves the label fingerprint as it was, and `setLabels` re-reads on a 412 anyway); it re-read the images one `images.get` each (now `images.list` by name, 50 a call); each project's batch re-checked usage in every covered project (projects × projects reads; now once for all batches); it acted on one image of a project at a time (now up to 8: the images of a batch are independent, and the quotas allow it); and `Usage` read the IAM policy of every listed image (now only of the deprecated and disabled ones, the only ones a run may disable or delete).\n\n")
	for _, st := range g.stages {
		cr := float64(st.real.total()) / float64(sum(st.min))
		r.addGoal("case 6 GCP "+st.name+": calls / minimum", "≤ 1.05×", fmt.Sprintf("%.2f×", cr), cr <= 1.05, gcpCallsWhy(st))
		sp := float64(st.serial.Wall) / float64(st.real.Wall)
		r.addGoal("case 6 GCP "+st.name+": speed-up over the serial baseline", "≥ 5×", fmt.Sprintf("%.2f×", sp), sp >= 5, gcpSerialWhy(st))
	}
}

// grouped writes n with thousands separated by commas.
func grouped(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// gcpExtra names where calls beyond the minimum come from, by operation.
var gcpExtra = map[string]string{
	"images.getIamPolicy":                  "one per deprecated or disabled image (the ones a run may disable or delete) for the plan's usage, to find shares with principals outside the covered projects, and again per image to be disabled or deleted in the usage re-check right before acting; Compute Engine has no list form of image IAM policies",
	"images.get":                           "images read one by one",
	"images.list":                          "the re-read right before acting (`images.list` by name, 50 a call) and, before disabling or deleting, the usage re-check's listing of child images, once per project",
	"disks.aggregatedList":                 "the usage re-check before disabling or deleting, once per covered project",
	"instanceTemplates.aggregatedList":     "the usage re-check, likewise",
	"instanceGroupManagers.aggregatedList": "the usage re-check, likewise",
	"globalOperations.wait":                "operations waited for beyond one per mutation",
}

// gcpExtraCalls lists the calls beyond the minimum, by operation.
func gcpExtraCalls(st gcpStageResult) (string, int) {
	var parts []string
	total := 0
	for _, op := range ops(st.real.Calls) {
		extra := st.real.Calls[op] - st.min[op]
		if extra <= 0 {
			continue
		}
		total += extra
		why := gcpExtra[op]
		if why == "" {
			why = "not in the minimum"
		}
		parts = append(parts, fmt.Sprintf("%d `%s` (%s)", extra, op, why))
	}
	return strings.Join(parts, "; "), total
}

func gcpCallsWhy(st gcpStageResult) string {
	parts, total := gcpExtraCalls(st)
	if total == 0 {
		return "no call beyond the minimum."
	}
	return fmt.Sprintf("%d calls beyond the minimum of %d: %s. The re-read and the usage re-check before acting are the safety guarantees of docs/design.md (act on what is there now, never on a stale plan), and the IAM reads are how the backend finds shares it must not break: they stay.", total, sum(st.min), parts)
}

func gcpSerialWhy(st gcpStageResult) string {
	n := len(gcpProjects)
	return fmt.Sprintf("met: the post-processor works on the %d projects at once and on up to 8 images of a project at once, the baseline on one image after another; both are bound by latency here (no quota is reached: the busiest project and class took %d calls of 1,500 a minute). On estates beyond a minute's worth of work per project, the write quota sets the pace of both.",
		n, gcpBusiestClass(st.real))
}

// gcpBusiestClass is the most calls one project made of one quota class.
func gcpBusiestClass(m measured) int {
	most := 0
	for _, calls := range m.ByRegion {
		for _, c := range byClass(calls) {
			most = max(most, c)
		}
	}
	return most
}

// gcpWhere sums up, from the run's own figures, where the post-processor's
// calls go.
func gcpWhere(g *gcpResult) string {
	var parts []string
	for _, st := range g.stages {
		_, extra := gcpExtraCalls(st)
		parts = append(parts, fmt.Sprintf("%s: %d of %d calls beyond the minimum, %d of them `images.getIamPolicy`", st.name, extra, st.real.total(),
			st.real.Calls["images.getIamPolicy"]-st.min["images.getIamPolicy"]))
	}
	d := g.stages[0]
	return fmt.Sprintf("Where the post-processor's calls go beyond the minimum — %s. The backend asks for the IAM policy of each deprecated or disabled image (usage before planning, and again before disabling or deleting) and re-reads the images it acts on (`images.list` by name) and their usage before disabling or deleting. The dry run makes the plan's reads only: %s its minimum and %s the real run's calls in the deprecate stage (case 3's goal of 0.2× is not set for GCP).", strings.Join(parts, "; "), ratio(float64(d.dry.total()), float64(sum(d.dryMin))), ratio(float64(d.dry.total()), float64(d.real.total())))
}

func (r *report) methodAzure(w func(string, ...any)) {
	w("- **ARM** (case 7): the project's emulator (`internal/armemu`) in the benchmark process, on a TLS listener on 127.0.0.1 whose CA the clients trust, with 20 ms of latency injected into every ARM call (its `LatencyOnly` fault; Entra ID token requests and the metadata document are not delayed), a service principal's token required, and every write a long-running operation answered with `Azure-AsyncOperation` and `Retry-After: 0`. The emulator runs with `WithOperationPolls(0)`: each write's first status poll is terminal, so every write is followed by exactly one `locations/operations/read`. Why not one poll more (`WithOperationPolls(1)`, as the backend's own tests do): the post-processor is run as case 6 runs it, the real `release.PostProcessor` configured from a template's settings, and that path builds its ARM client with `DefaultPollFrequency` (5 s), which azcore's poller waits between polls whenever ARM sends `Retry-After: 0` (only a positive Retry-After overrides it); the benchmark cannot set `Client.Poll` through the configuration, so a second poll would add 5 s of sleep per write and measure the poll interval, not the plugin. ARM's throttling budgets (12,000 reads and 1,200 writes an hour per subscription) are counted by armemu but not enforced; no run comes near them. Calls are counted per RBAC action with `Server.Calls()` (`Microsoft.Compute/` dropped). armemu has no in-flight gauge, so no peak in flight is shown.\n")
	w("- **Serial baseline** (case 7): a small driver in the benchmark (`bench/azure_test.go`) on `armcompute/v7`, the way an `az` script would do it: one definition after another, one request in flight. It lists the gallery's definitions, then per definition lists its versions (50 a page), plans with the same planner (`lifecycle.Plan`) without usage, checks the usage of each version the plan would disable or delete with one listing of the subscription's VMs and one of its scale sets each, plans again with it, and per decision makes the writes the stage needs, each polled to its end: deprecate one PATCH (excluded from latest, end of life now, stage tags), disable two PATCHes (allow the withdrawal of replicated regions, then keep the home region only and remember the others in `lifecycle:replicas`), deregister one DELETE. It makes exactly the decisions the post-processor makes (the benchmark checks the write and delete counts, and that every version of both runs ends with the same stage tag, latest exclusion, end of life set or not, and target regions). It does not look for child versions, re-read versions or re-check usage before acting, nor keep the end of life and safety profile it replaced, which the post-processor does: it is the cheaper of the two per version.\n")
	w("- **Minimum calls** (case 7), over the subscription: one listing of the gallery's definitions + ⌈versions/50⌉ version pages per definition (the family is all a definition holds here, so that listing also tells \"latest\" and child versions) + the usage listings once (all VMs, all scale sets: one page each here) + per decision its writes, each polled once: deprecate one PATCH, disable two (Azure removes no replicated region until `safetyProfile.allowDeletionOfReplicatedLocations` is true, and armemu refuses allowing and removing in one request, the stricter reading of Azure's rule), deregister one DELETE, + after each PATCH the final GET of the version that azcore's poller makes once the operation has ended (ARM's long-running-operation protocol: the result of a PUT or PATCH is the resource at its URL; `az` and every ARM SDK do the same, the baseline too), one `galleries/images/versions/read` per PATCH (none after a DELETE). A dry run needs the reads only.\n")
}

func (r *report) writeAzure(w func(string, ...any)) {
	a := r.azure
	m := r.machine
	n := len(azDefs)
	w("## Case 7: Azure sweep, %d image definitions × %d versions, one stage per run, and its dry run\n\n", n, azVersions)
	w("Measured on %s at %s, the case alone taking %s: `nproc` %d, %s, %s, %s (the other cases' figures above and below come from the run named at the top).\n\n",
		a.date, a.commit, secs(a.took), m.nproc, m.cpu, m.kernel, m.goVer)
	w("One subscription, one gallery, %d image definitions (the backend's \"regions\") of %d versions each, all of family `web`, replicated to 2 regions (%s and %s) and recorded as the post-processor records them after azure-arm (`NewReleases` on an artifact whose `Id()` is the version id, then `Record` pending, then available). Per definition the %d oldest are past `min_age` (30 d) and retirable, the %d newer are not, the newest 3 are kept by `keep_releases`; %d (10 %%) are used by a VM naming the version id, %d retirable and %d newer, and one scale set follows the definition's \"latest\". Policy: deprecate, disable and deregister after 0 s, so each run takes the retirable ones one stage further: per definition %d deprecated (excluded from latest, end of life now), then %d disabled (replicas withdrawn to %s; the %d retirable ones in use stay deprecated), then %d deleted. Three runs, each measured, each with its dry run just before it on the same state; 20 ms latency, one status poll per write (see Method).\n\n",
		n, azVersions, azHome, azReplica, azRetirable, azVersions-azRetirable, azInUse, azUsedRetirable, azInUse-azUsedRetirable,
		azStages[0].work.decisions(), azStages[1].work.decisions(), azHome, azUsedRetirable, azStages[2].work.decisions())
	w("| stage | client | wall | calls | by RBAC action | peak RSS | CPU client / emulator |\n|---|---|---|---|---|---|---|\n")
	for _, st := range a.stages {
		for _, row := range []struct {
			name string
			m    measured
		}{{"post-processor", st.real}, {"dry run", st.dry}, {"serial baseline", st.serial}} {
			w("| %s | %s | %s | %d | %s | %s | %s / %s |\n", st.name, row.name, secs(row.m.Wall), row.m.total(), callList(row.m), mib(row.m.RSS), secs(row.m.CPU), secs(row.m.EmuCPU))
		}
	}
	w("\nMinimum calls per stage:\n\n| stage | minimum calls | dry-run minimum |\n|---|---|---|\n")
	for _, st := range a.stages {
		w("| %s | %d (%s) | %d (%s) |\n", st.name, sum(st.min), minList(st.min), sum(st.dryMin), minList(st.dryMin))
	}
	w("\n| stage | calls / minimum (goal ≤ 1.05×) | serial / post-processor wall (goal ≥ 5×) | dry-run calls / real calls | dry-run calls / dry-run minimum | runs (post-processor; serial) |\n|---|---|---|---|---|---|\n")
	for _, st := range a.stages {
		var runs, sruns []string
		for i := range st.realRuns {
			runs = append(runs, secs(st.realRuns[i]))
			sruns = append(sruns, secs(st.serialRuns[i]))
		}
		w("| %s | %s | %s | %s | %s | %s; %s |\n", st.name, ratio(float64(st.real.total()), float64(sum(st.min))),
			ratio(float64(st.serial.Wall), float64(st.real.Wall)), ratio(float64(st.dry.total()), float64(st.real.total())),
			ratio(float64(st.dry.total()), float64(sum(st.dryMin))), strings.Join(runs, ", "), strings.Join(sruns, ", "))
	}
	w("\n%s\n\n", azWhere(a))
	for _, st := range a.stages {
		cr := float64(st.real.total()) / float64(sum(st.min))
		r.addGoal("case 7 Azure "+st.name+": calls / minimum", "≤ 1.05×", fmt.Sprintf("%.2f×", cr), cr <= 1.05, azCallsWhy(st))
		sp := float64(st.serial.Wall) / float64(st.real.Wall)
		r.addGoal("case 7 Azure "+st.name+": speed-up over the serial baseline", "≥ 5×", fmt.Sprintf("%.2f×", sp), sp >= 5, azSerialWhy(st))
	}
}

// azExtra names where the post-processor's calls beyond the minimum come
// from, by RBAC action (backend/azure).
var azExtra = map[string]string{
	azListDefs:  "the gallery's definitions listed again: `definitions` runs in `List` and again in every `Usage` (`allVersions`), i.e. in the plan's usage and, before disabling or deleting, in the usage re-check",
	azVersRead:  "every definition's versions listed again: the plan's `Usage` lists all versions of every covered definition (`allVersions`, for child versions and \"latest\") right after `List` read the same pages (the family is all a definition holds here), `Apply` re-reads each definition right before acting, and before disabling or deleting the usage re-check's `Usage` lists them once more right after that re-read",
	azVMRead:    "the usage re-check right before disabling or deleting, once a run",
	azVMSSRead:  "the usage re-check, likewise",
	azPoll:      "operations polled more than once",
	azVersWrite: "writes beyond those of the decisions",
}

func azExtraCalls(st azStageResult) (string, int) {
	var parts []string
	total := 0
	for _, op := range ops(st.real.Calls) {
		extra := st.real.Calls[op] - st.min[op]
		if extra <= 0 {
			continue
		}
		total += extra
		why := azExtra[op]
		if why == "" {
			why = "not in the minimum"
		}
		parts = append(parts, fmt.Sprintf("%d `%s` (%s)", extra, op, why))
	}
	return strings.Join(parts, "; "), total
}

func azCallsWhy(st azStageResult) string {
	parts, total := azExtraCalls(st)
	if total == 0 {
		return "no call beyond the minimum."
	}
	saved := azRedundant(st)
	return fmt.Sprintf("%d calls beyond the minimum of %d: %s. The re-read and the usage re-check before acting are the safety guarantees of docs/design.md (act on what is there now, never on a stale plan) and stay; what is not one of them is that every `Usage` call lists the definitions and all their versions again right after `List` (or the re-read) has read the same pages: handing those pages to `Usage` would save %d calls here, %s of the minimum instead of %s.",
		total, sum(st.min), parts, saved, ratio(float64(st.real.total()-saved), float64(sum(st.min))), ratio(float64(st.real.total()), float64(sum(st.min))))
}

// azRedundant is what the backend's Usage lists again that a listing of
// the same run has just read: the definitions and their version pages,
// once for the plan and once more for the re-check before disabling or
// deleting.
func azRedundant(st azStageResult) int {
	usages := 1
	if st.work.disable+st.work.delete > 0 {
		usages = 2
	}
	return usages * (1 + len(azDefs)*ceilDiv(azVersions, azPage))
}

func azSerialWhy(st azStageResult) string {
	sp := float64(st.serial.Wall) / float64(st.real.Wall)
	if sp >= 5 {
		return fmt.Sprintf("met: the post-processor works on the %d definitions at once and on up to 8 versions of a definition at once, the baseline one request after another; both are bound by latency here (20 ms a call).", len(azDefs))
	}
	return fmt.Sprintf("the post-processor reads before it acts (its dry run, the plan's reads alone, took %s of its %s) and its %d decisions per definition go 8 at a time, two calls (write and poll) each, with the re-read before acting on the same critical path; the baseline's %d calls take %s. Acting on more versions of a definition at once would close it.",
		secs(st.dry.Wall), secs(st.real.Wall), st.work.decisions(), st.serial.total(), secs(st.serial.Wall))
}

// azWhere sums up, from the run's own figures, where the calls go.
func azWhere(a *azResult) string {
	var parts []string
	for _, st := range a.stages {
		_, extra := azExtraCalls(st)
		parts = append(parts, fmt.Sprintf("%s: %d of %d calls beyond the minimum, %d of them `%s`", st.name, extra, st.real.total(),
			st.real.Calls[azVersRead]-st.min[azVersRead], azVersRead))
	}
	d := a.stages[0]
	return fmt.Sprintf("Where the post-processor's calls go beyond the minimum — %s. The backend lists the gallery's definitions and every definition's versions in `List`, and the plan's `Usage` takes those pages (child versions and \"latest\" are over all versions of the covered definitions); `Apply` lists each definition it acts on again right before acting (the re-read, the extra `%s` calls), its usage re-check takes those fresh pages and lists the VMs and scale sets again, and lists the gallery's definitions again to cover the ones it did not re-read. The dry run makes the plan's reads only: %s its minimum and %s the real run's calls in the deprecate stage (%d calls beyond its minimum).",
		strings.Join(parts, "; "), azVersRead, ratio(float64(d.dry.total()), float64(sum(d.dryMin))), ratio(float64(d.dry.total()), float64(d.real.total())),
		d.dry.total()-sum(d.dryMin))
}
