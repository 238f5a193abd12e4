package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	compute "google.golang.org/api/compute/v1"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/gceemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

const gcpProject = "lifecycle-test"

// gcpRun is a Compute Engine emulator with a fake clock, served through a
// handler that can kill the plugin right after a mutating call, and a
// directory of templates.
type gcpRun struct {
	t     *testing.T
	s     *gceemu.Server
	url   string // base URL; the compute endpoint is url + "compute/v1/"
	dir   string
	clock *gceemu.FakeClock

	mu    sync.Mutex
	crash crashPoint      // at our plugin's mutating calls (its User-Agent names it)
	sa    *serviceAccount // its token endpoint is served when set
}

func newGCPRun(t *testing.T, start time.Time) *gcpRun {
	return newGCPRunOf(t, start, gcpProject, "lifecycle-other")
}

// newGCPRunOf serves these projects (and debian-cloud).
func newGCPRunOf(t *testing.T, start time.Time, projects ...string) *gcpRun {
	g := &gcpRun{t: t, clock: gceemu.NewFakeClock(start)}
	// As on Compute Engine, a mutation answers with an operation not yet
	// done: every client has to wait for it.
	g.s = gceemu.New(gceemu.WithClock(g.clock), gceemu.WithProjects(append(projects, "debian-cloud")...), gceemu.WithOperationPolls(1))
	hs := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(hs.Close)
	g.url = hs.URL + "/"
	g.s.SetBaseURL(g.url)
	// The public family the builds start from.
	g.s.PutImage("debian-cloud", &compute.Image{Name: "debian-12-bookworm-v20260501", Family: "debian-12"})
	g.dir = t.TempDir()
	for _, name := range []string{"build.pkr.hcl", "sweep.pkr.hcl", "child.pkr.hcl", "datasources.pkr.hcl"} {
		body, err := os.ReadFile(filepath.Join("testdata", "gcp", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(g.dir, name), body, 0o644))
	}
	return g
}

func (g *gcpRun) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	if r.URL.Path == "/token" && g.sa != nil {
		ok := g.sa.token(w, r)
		g.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		}
		return
	}
	g.mu.Unlock()
	mutating := r.Method != http.MethodGet && strings.Contains(r.UserAgent(), "packer-plugin-lifecycle") && strings.HasPrefix(r.URL.Path, "/compute/v1/")
	g.crash.serve(g.s.Handler(), w, r, mutating)
}

func (g *gcpRun) env() []string {
	return []string{"PACKER_LIFECYCLE_NOW=" + g.clock.Now().Format(time.RFC3339)}
}

// packer builds one template of the run's directory in a directory of its own.
func (g *gcpRun) packer(template string, vars ...string) result {
	r := buildTemplate(g.t, g.dir, template, g.env(), g.clock.Now(), append([]string{"endpoint=" + g.url + "compute/v1/"}, vars...))
	noPublicGoogle(g.t, r)
	return r
}

func (g *gcpRun) build(release string) {
	g.t.Helper()
	mustSucceed(g.t, g.packer("build.pkr.hcl", "release="+release))
}

func (g *gcpRun) sweep() result {
	g.t.Helper()
	r := g.packer("sweep.pkr.hcl")
	mustSucceed(g.t, r)
	return r
}

// states maps every web image to its Compute Engine state and stage label,
// "gone" once deleted.
func (g *gcpRun) states(names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		im, ok := g.s.Image(gcpProject, n)
		switch {
		case !ok:
			out[n] = "gone"
		case im.Deprecated == nil:
			out[n] = "ACTIVE/" + im.Labels["lifecycle-stage"]
		default:
			out[n] = im.Deprecated.State + "/" + im.Labels["lifecycle-stage"]
		}
	}
	return out
}

func (g *gcpRun) report(template string) report.Report {
	var rep report.Report
	body, err := os.ReadFile(filepath.Join(g.dir, strings.TrimSuffix(template, ".pkr.hcl"), "report.json"))
	require.NoError(g.t, err)
	require.NoError(g.t, json.Unmarshal(body, &rep))
	return rep
}

func (g *gcpRun) advance(d time.Duration) { g.clock.Advance(d) }

// noPublicGoogle fails when a run named a Google endpoint: every client
// must have gone to the emulator.
func noPublicGoogle(t *testing.T, r result) {
	t.Helper()
	for _, host := range []string{"googleapis.com", "metadata.google.internal", "169.254.169.254"} {
		if strings.Contains(r.stdout+r.stderr, host) {
			t.Errorf("a run tried %s: %s", host, r)
		}
	}
}

// TestGCPLifecycleOverWeeks: real googlecompute builds through the real
// Packer, the lifecycle post-processor after each and weekly sweeps, over
// simulated weeks. A release an instance template uses is never disabled
// while it does; the others go DEPRECATED → OBSOLETE → deleted, a stage per
// delay; a child build starts from the newest supported release through the
// data source.
func TestGCPLifecycleOverWeeks(t *testing.T) {
	g := newGCPRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
	week := 7 * 24 * time.Hour
	names := []string{"web-1-0-0", "web-1-1-0", "web-1-2-0"}

	g.build("1.0.0")
	im, ok := g.s.Image(gcpProject, "web-1-0-0")
	require.True(t, ok, "googlecompute built the image")
	require.Equal(t, "web", im.Family, "the lifecycle family is the image's family: the template set none")
	require.Equal(t, "1_2e0_2e0", im.Labels["lifecycle-version"])
	require.Equal(t, "debian-12-bookworm-v20260501", im.Labels["lifecycle-parent"], "the parent is the build's source image")
	rep := g.report("build.pkr.hcl")
	require.Equal(t, "recorded", rep.NewBuildStatus)
	require.Equal(t, "gcp", rep.Backend)

	g.advance(week)
	g.build("1.1.0")
	require.Equal(t, map[string]string{"web-1-0-0": "DEPRECATED/deprecated", "web-1-1-0": "ACTIVE/active", "web-1-2-0": "gone"}, g.states(names...))
	old, _ := g.s.Image(gcpProject, "web-1-0-0")
	require.True(t, strings.HasSuffix(old.Deprecated.Replacement, "/global/images/web-1-1-0"), "the replacement is the new release: %s", old.Deprecated.Replacement)
	// Someone still launches 1.0.0 from a template.
	g.s.PutInstanceTemplate(gcpProject, "", &compute.InstanceTemplate{Name: "legacy", Properties: &compute.InstanceProperties{
		Disks: []*compute.AttachedDisk{{Boot: true, InitializeParams: &compute.AttachedDiskInitializeParams{SourceImage: old.SelfLink}}}}})

	g.advance(week)
	g.build("1.2.0")
	require.Equal(t, map[string]string{"web-1-0-0": "DEPRECATED/deprecated", "web-1-1-0": "DEPRECATED/deprecated", "web-1-2-0": "ACTIVE/active"}, g.states(names...),
		"1.0.0 is due to be disabled but a template uses it")
	rep = g.report("build.pkr.hcl")
	var used []string
	for _, d := range rep.Decisions {
		if d.ID == "web-1-0-0" {
			for _, c := range d.Consumers {
				used = append(used, c.Kind+" "+c.ID)
			}
		}
	}
	require.Contains(t, used, "instance-template legacy", "the report names the template")

	// A child build from the newest supported release.
	from := len(g.s.Journal())
	r := g.packer("child.pkr.hcl")
	mustSucceed(t, r)
	var dataSource []gceemu.Call // ours, before the builder's first call
	for _, c := range g.s.Journal()[from:] {
		if !strings.Contains(c.Agent, "packer-plugin-lifecycle") {
			break
		}
		dataSource = append(dataSource, c)
	}
	require.NotEmpty(t, dataSource)
	require.Equal(t, map[string]bool{"compute.images.list": true}, permissions(dataSource), "as the docs say, the data source needs only this")
	app, ok := g.s.Image(gcpProject, "app-1")
	require.True(t, ok)
	// An image made from a disk has no sourceImage in Compute Engine: the
	// builder's own record of its source (SourceImageName) is the parent.
	require.NotEmpty(t, app.SourceDisk)
	require.Equal(t, "1-2-0", app.Labels["base"])
	require.Equal(t, "web-1-2-0", app.Labels["lifecycle-parent"], "the child starts from the newest supported base")
	mustContain(t, r.stdout, "self_link="+g.url+"compute/v1/projects/lifecycle-test/global/images/web-1-2-0 family=web")

	g.advance(week)
	before := g.states(names...)
	from = len(g.s.Journal())
	mustSucceed(t, g.packer("sweep.pkr.hcl", "dry_run=true"))
	require.Equal(t, before, g.states(names...), "a dry run changes nothing")
	dry := permissions(g.ours(from))
	for p := range dry {
		require.Regexp(t, `^compute\.[A-Za-z]+\.(list|get|getFromFamily|getIamPolicy)$`, p, "as the docs say, a dry run only reads")
	}
	g.sweep()
	require.Equal(t, map[string]string{"web-1-0-0": "DEPRECATED/deprecated", "web-1-1-0": "OBSOLETE/disabled", "web-1-2-0": "ACTIVE/active"}, g.states(names...))

	g.advance(week)
	g.sweep()
	require.Equal(t, map[string]string{"web-1-0-0": "DEPRECATED/deprecated", "web-1-1-0": "gone", "web-1-2-0": "ACTIVE/active"}, g.states(names...))

	// The template goes; 1.0.0 follows.
	g.s.DeleteInstanceTemplate(gcpProject, "", "legacy")
	g.advance(week)
	g.sweep()
	require.Equal(t, "OBSOLETE/disabled", g.states("web-1-0-0")["web-1-0-0"])
	g.advance(week)
	g.sweep()
	require.Equal(t, "gone", g.states("web-1-0-0")["web-1-0-0"])
	require.Equal(t, "ACTIVE/active", g.states("web-1-2-0")["web-1-2-0"])

	// Every stage ran: the IAM table of the docs is what the calls needed,
	// no less, and no more but for what this history did not reach.
	needed, documented := permissions(g.ours(0)), documentedIAM(t)
	for p := range needed {
		require.True(t, documented[p], "the plugin needed %s: the docs must list it", p)
	}
	unused := map[string]bool{}
	for p := range documented {
		if !needed[p] {
			unused[p] = true
		}
	}
	require.Equal(t, map[string]bool{
		"compute.images.getFromFamily": true, // only for a template that names a family (backend tests)
	}, unused)
}

// TestGCPCrashAfterEachMutatingCallConverges kills the plugin right after
// each mutating call of a sweep in turn (the call took effect, its answer
// never arrives) and re-runs the sweep: every run converges to the state
// an uninterrupted sweep reaches.
func TestGCPCrashAfterEachMutatingCallConverges(t *testing.T) {
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	seed := func(g *gcpRun) {
		for i, v := range []string{"1-0-0", "1-1-0", "1-2-0"} {
			g.s.PutImage(gcpProject, &compute.Image{Name: "web-" + v, Family: "web", Labels: map[string]string{
				"lifecycle-family": "web", "lifecycle-version": strings.ReplaceAll(v, "-", "_2e"), "lifecycle-channel": "stable",
				"lifecycle-managed-by": "packer-plugin-lifecycle", "lifecycle-stage": []string{"disabled", "deprecated", "active"}[i],
				"lifecycle-stage-since": "20260301t000000z", "lifecycle-released-at": "20260201t000000z",
			}, Deprecated: []*compute.DeprecationStatus{{State: "OBSOLETE"}, {State: "DEPRECATED"}, nil}[i],
				CreationTimestamp: "2026-02-01T00:00:00.000-08:00"})
		}
	}
	names := []string{"web-1-0-0", "web-1-1-0", "web-1-2-0"}
	clean := newGCPRun(t, start)
	seed(clean)
	clean.sweep()
	want := clean.states(names...)
	require.Equal(t, map[string]string{"web-1-0-0": "gone", "web-1-1-0": "OBSOLETE/disabled", "web-1-2-0": "ACTIVE/active"}, want)
	mutations := 0
	for _, c := range clean.s.Journal() {
		if slices.Contains([]string{"compute.images.deprecate", "compute.images.setLabels", "compute.images.delete", "compute.images.patch"}, c.Method) {
			mutations++
		}
	}
	require.NotZero(t, mutations)

	for n := 1; n <= mutations; n++ {
		g := newGCPRun(t, start)
		seed(g)
		g.crash.arm(n)
		r := g.packer("sweep.pkr.hcl")
		fired := g.crash.disarm()
		require.NotZero(t, r.code, "crash %d: the killed run fails", n)
		require.NotEmpty(t, fired, "crash %d fired", n)
		require.NotContains(t, fired, "kill failed")
		g.sweep()
		t.Logf("crash %d of %d after %s: the re-run converged", n, mutations, fired)
		require.Equal(t, want, g.states(names...), "after a crash following %s", fired)
	}
}

// replacements maps every deprecated web image to the image it names as
// its replacement ("" for none).
func (g *gcpRun) replacements(names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if im, ok := g.s.Image(gcpProject, n); ok && im.Deprecated != nil {
			out[n] = path.Base(im.Deprecated.Replacement)
		}
	}
	return out
}

// untimed replaces the times in labels by "set": they differ by the
// seconds the runs took, the rest must not.
func untimed(labels map[string]map[string]string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for n, ls := range labels {
		out[n] = maps.Clone(ls)
		for _, k := range []string{"lifecycle-released-at", "lifecycle-stage-since", "lifecycle-expires-at"} {
			if out[n][k] != "" {
				out[n][k] = "set"
			}
		}
	}
	return out
}

// TestGCPBuildCrashAfterEachMutatingCallConverges kills the plugin right
// after each mutating call it makes in a googlecompute build (recording
// the release, naming its family, deprecating the one it supersedes): Packer
// fails the build and googlecompute deletes the image, and the re-run of
// the build ends exactly like an uninterrupted one.
func TestGCPBuildCrashAfterEachMutatingCallConverges(t *testing.T) {
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	names := []string{"web-1-0-0", "web-1-1-0"}
	labels := func(g *gcpRun) map[string]map[string]string {
		out := map[string]map[string]string{}
		for _, n := range names {
			if im, ok := g.s.Image(gcpProject, n); ok {
				out[n] = im.Labels
			}
		}
		return out
	}
	prepare := func() *gcpRun { return gcpOneRelease(t, start) }
	clean := prepare()
	clean.s.ResetCounters()
	clean.build("1.1.0")
	want, wantLabels, wantRepl := clean.states(names...), labels(clean), clean.replacements(names...)
	require.Equal(t, map[string]string{"web-1-0-0": "DEPRECATED/deprecated", "web-1-1-0": "ACTIVE/active"}, want)
	require.Equal(t, map[string]string{"web-1-0-0": "web-1-1-0"}, wantRepl)
	mutations := 0
	for _, c := range clean.s.Journal() {
		if c.Verb != http.MethodGet && strings.Contains(c.Agent, "packer-plugin-lifecycle") {
			mutations++
		}
	}
	require.GreaterOrEqual(t, mutations, 4, "record pending, family, deprecate, stage, release")

	points := crashPoints(mutations)
	for _, n := range points {
		g := prepare()
		g.crash.arm(n)
		r := g.packer("build.pkr.hcl", "release=1.1.0")
		fired := g.crash.disarm()
		require.NotZero(t, r.code, "crash %d: the killed run fails the build", n)
		require.NotEmpty(t, fired, "crash %d fired", n)
		require.NotContains(t, fired, "kill failed")
		_, kept := g.s.Image(gcpProject, "web-1-1-0")
		require.False(t, kept, "crash %d after %s: Packer destroyed the failed build's image", n, fired)
		g.build("1.1.0")
		t.Logf("crash %d of %d after %s: the re-run converged", n, mutations, fired)
		require.Equal(t, want, g.states(names...), "after a crash following %s", fired)
		require.Equal(t, wantRepl, g.replacements(names...), "after a crash following %s", fired)
		require.Equal(t, untimed(wantLabels), untimed(labels(g)), "after a crash following %s", fired)
	}
}

// ours returns the calls the plugin made since the journal's index from.
func (g *gcpRun) ours(from int) []gceemu.Call {
	var out []gceemu.Call
	for _, c := range g.s.Journal()[from:] {
		if strings.Contains(c.Agent, "packer-plugin-lifecycle") {
			out = append(out, c)
		}
	}
	return out
}

// permission is the IAM permission a Compute Engine API method needs.
func permission(method string) string {
	switch {
	case method == "compute.images.patch":
		return "compute.images.update"
	case strings.HasSuffix(method, "Operations.wait"):
		return strings.TrimSuffix(method, "wait") + "get"
	case strings.HasSuffix(method, ".aggregatedList"):
		return strings.TrimSuffix(method, "aggregatedList") + "list"
	}
	return method
}

// permissions maps the calls to the permissions they needed.
func permissions(calls []gceemu.Call) map[string]bool {
	out := map[string]bool{}
	for _, c := range calls {
		out[permission(c.Method)] = true
	}
	return out
}

// documentedIAM reads the permissions docs/post-processors/lifecycle.mdx
// lists for the GCP backend.
func documentedIAM(t *testing.T) map[string]bool {
	body, err := os.ReadFile(filepath.Join(repoRoot, "docs", "post-processors", "lifecycle.mdx"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(body), "### IAM permissions\n")
	require.True(t, ok, "the GCP IAM section")
	section, _, _ = strings.Cut(section, "\nA dry run")
	out := map[string]bool{}
	for _, m := range regexp.MustCompile("`(compute\\.[A-Za-z]+\\.[A-Za-z]+)`").FindAllStringSubmatch(section, -1) {
		out[m[1]] = true
	}
	require.NotEmpty(t, out)
	return out
}

// TestGCPImageProjectDiffersFromTheBuildProject: googlecompute builds in
// one project and puts the image in another (image_project_id); the
// post-processor records and retires it where it is, and leaves the build
// project alone.
func TestGCPImageProjectDiffersFromTheBuildProject(t *testing.T) {
	g := newGCPRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
	const images = "lifecycle-other"
	for _, v := range []string{"1.0.0", "1.1.0"} {
		mustSucceed(t, g.packer("build.pkr.hcl", "release="+v, "image_project="+images))
		g.advance(time.Hour)
	}
	require.Empty(t, g.s.Images(gcpProject), "nothing in the build project")
	old, ok := g.s.Image(images, "web-1-0-0")
	require.True(t, ok)
	require.Equal(t, "DEPRECATED", old.Deprecated.State, "retired in the image project")
	require.Equal(t, "web-1-1-0", path.Base(old.Deprecated.Replacement))
	require.Contains(t, old.Deprecated.Replacement, "/projects/"+images+"/")
	cur, ok := g.s.Image(images, "web-1-1-0")
	require.True(t, ok)
	require.Equal(t, "active", cur.Labels["lifecycle-stage"])
	require.Equal(t, "web", cur.Family)
	rep := g.report("build.pkr.hcl")
	require.Equal(t, "recorded", rep.NewBuildStatus)
	for _, d := range rep.Decisions {
		require.Equal(t, images, d.Region, "%s: every decision is in the image project", d.ID)
	}
}

// TestGCPSweepForgetsWhatAKilledPackerLeft: an image still labelled
// pending long after it was recorded is forgotten by the next sweep (its
// lifecycle labels go, the image and its own labels stay); a dry run only
// plans it.
func TestGCPSweepForgetsWhatAKilledPackerLeft(t *testing.T) {
	g := newGCPRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
	labels := func(stage string) map[string]string {
		return map[string]string{"team": "web", "lifecycle-family": "web", "lifecycle-version": "1_2e0_2e0", "lifecycle-channel": "stable",
			"lifecycle-managed-by": "packer-plugin-lifecycle", "lifecycle-stage": stage,
			"lifecycle-stage-since": "20260501t090000z", "lifecycle-released-at": "20260501t090000z"}
	}
	g.s.PutImage(gcpProject, &compute.Image{Name: "web-1-0-0", Labels: labels("pending"), CreationTimestamp: "2026-05-01T09:00:00Z"})
	mustSucceed(t, g.packer("sweep.pkr.hcl", "dry_run=true"))
	im, _ := g.s.Image(gcpProject, "web-1-0-0")
	require.Equal(t, "pending", im.Labels["lifecycle-stage"], "a dry run changes nothing")
	forget := func() (string, string) {
		for _, d := range g.report("sweep.pkr.hcl").Decisions {
			if d.ID == "web-1-0-0" {
				return string(d.Action), string(d.Status)
			}
		}
		return "", ""
	}
	a, st := forget()
	require.Equal(t, "forget/planned", a+"/"+st)

	mustSucceed(t, g.packer("sweep.pkr.hcl"))
	a, st = forget()
	require.Equal(t, "forget/done", a+"/"+st)
	im, ok := g.s.Image(gcpProject, "web-1-0-0")
	require.True(t, ok, "the image itself stays")
	require.Equal(t, map[string]string{"team": "web"}, im.Labels, "only the lifecycle labels went")
	require.Nil(t, im.Deprecated)
}

// TestGCPKilledBuildIsUndoneByTheNextRun: kill -9 of the plugin right
// after it deprecated web-1-0-0 for the new build 1.1.0: googlecompute
// deletes web-1-1-0, so web-1-0-0 names a deleted replacement and the
// family has no supported image. A sweep restores web-1-0-0; a build of
// another version instead keeps the deprecation, which now stands on its
// own, and points it to the new image.
func TestGCPKilledBuildIsUndoneByTheNextRun(t *testing.T) {
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	names := []string{"web-1-0-0", "web-1-1-0", "web-1-1-1"}
	prepare := func() *gcpRun { return gcpOneRelease(t, start) }
	// The kill point: right after the deprecation of web-1-0-0.
	clean := prepare()
	from := len(clean.s.Journal())
	clean.build("1.1.0")
	at := 0
	for _, c := range clean.ours(from) {
		if c.Verb != http.MethodGet {
			at++
			if strings.HasSuffix(c.Path, "/images/web-1-0-0/deprecate") {
				break
			}
		}
	}
	kill := func(t *testing.T) *gcpRun {
		g := prepare()
		g.crash.arm(at)
		r := g.packer("build.pkr.hcl", "release=1.1.0")
		fired := g.crash.disarm()
		require.NotZero(t, r.code)
		require.True(t, strings.HasSuffix(fired, "/images/web-1-0-0/deprecate"), "killed after %q", fired)
		im := g.raw("web-1-0-0")
		require.Equal(t, "DEPRECATED", im.Deprecated.State)
		require.Equal(t, "web-1-1-0", path.Base(im.Deprecated.Replacement))
		require.Equal(t, "web-1-1-0", im.Labels["lifecycle-superseded-by"], "marked before images.deprecate")
		require.Equal(t, "gone", g.states(names...)["web-1-1-0"], "googlecompute deleted the failed build's image")
		return g
	}

	t.Run("sweep", func(t *testing.T) {
		g := kill(t)
		g.advance(time.Hour)
		g.sweep()
		require.Equal(t, "ACTIVE/active", g.states(names...)["web-1-0-0"])
		require.NotContains(t, g.raw("web-1-0-0").Labels, "lifecycle-superseded-by")
		var restored []string
		for _, d := range g.report("sweep.pkr.hcl").Decisions {
			if d.Action == lifecycle.ActionRestore {
				restored = append(restored, d.ID+": "+d.Reason)
			}
		}
		require.Equal(t, []string{"web-1-0-0: restore: deprecated for new build web-1-1-0, which never became a release (its run stopped before it could undo this)"}, restored)
	})

	t.Run("another build", func(t *testing.T) {
		g := kill(t)
		g.advance(time.Hour)
		g.build("1.1.1")
		for _, d := range g.report("build.pkr.hcl").Decisions {
			if d.ID == "web-1-0-0" {
				require.Contains(t, d.Reason, "deprecated stands without new build web-1-1-0", "%+v", d)
				require.Equal(t, "done", d.Status, "%+v", d)
			}
		}
		require.Equal(t, map[string]string{"web-1-0-0": "DEPRECATED/deprecated", "web-1-1-0": "gone", "web-1-1-1": "ACTIVE/active"}, g.states(names...))
		require.Equal(t, map[string]string{"web-1-0-0": "web-1-1-1"}, g.replacements(names...), "the replacement is the image that exists")
		require.NotContains(t, g.raw("web-1-0-0").Labels, "lifecycle-superseded-by", "the marker is cleared once 1.1.1 is a release")
	})
}

// raw is the emulator's image name in the test project.
func (g *gcpRun) raw(name string) *compute.Image {
	im, ok := g.s.Image(gcpProject, name)
	require.True(g.t, ok, "%s exists", name)
	return im
}

// gcpOneRelease is a run with web 1.0.0 built at start, an hour on.
func gcpOneRelease(t *testing.T, start time.Time) *gcpRun {
	g := newGCPRun(t, start)
	g.build("1.0.0")
	g.advance(time.Hour)
	return g
}
