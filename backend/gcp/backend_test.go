package gcp

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	compute "google.golang.org/api/compute/v1"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/gceemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var ctx = context.Background()

// fixture is an emulator, a backend on it and a clock the test moves.
type fixture struct {
	*emu
	be  *Backend
	clk time.Time
}

func newFixture(t *testing.T, opts Options) *fixture {
	f := &fixture{clk: t0}
	f.emu = newEmu(t, func() time.Time { return f.clk })
	f.be = f.backend(opts)
	return f
}

// release records a build of family at version in p as a release.
func (f *fixture) release(p, family, version string) lifecycle.Image {
	name := imageName(family, version)
	f.image(p, name, map[string]string{"team": "web"})
	img := f.built(f.be, p, name, family, version)
	img.State = backend.StatePending
	r := f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.NoError(f.t, r.Err)
	img = r.Image
	img.State = lifecycle.StateAvailable
	r = f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.NoError(f.t, r.Err)
	return r.Image
}

func (f *fixture) list(family string) map[string]lifecycle.Image {
	l, err := f.be.List(ctx, backend.Query{Family: family})
	require.NoError(f.t, err)
	require.Empty(f.t, l.Failed)
	out := map[string]lifecycle.Image{}
	for _, img := range l.Images {
		out[img.ID] = img
	}
	return out
}

func (f *fixture) apply(ds ...lifecycle.Decision) []backend.Result {
	rs := f.be.Apply(ctx, ds, false)
	for i, r := range rs {
		if ds[i].Action.Mutates() {
			require.NoError(f.t, r.Err, "%s %s", ds[i].Action, ds[i].Image.Ref())
		}
	}
	return rs
}

func decide(img lifecycle.Image, a lifecycle.Action) lifecycle.Decision {
	return lifecycle.Decision{Image: img, Action: a, To: a.Target(), Reason: "test"}
}

func (f *fixture) raw(p, name string) *compute.Image {
	im, ok := f.s.Image(p, name)
	require.True(f.t, ok, "%s/%s exists", p, name)
	return im
}

// Record writes the metadata as labels Compute Engine accepts, keeps the
// user's labels, and puts the image into the family only once released.
func TestRecordLabelsThenFamily(t *testing.T) {
	f := newFixture(t, Options{})
	name := "web-1-4-2-build-1"
	f.image(project, name, map[string]string{"team": "web"})
	img := f.built(f.be, project, name, "web", "1.4.2+build.1")
	img.State = backend.StatePending
	r := f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.NoError(t, r.Err)
	im := f.raw(project, name)
	require.Equal(t, "pending", im.Labels["lifecycle-stage"])
	require.Equal(t, "1_2e4_2e2_2bbuild_2e1", im.Labels["lifecycle-version"])
	require.Equal(t, "web", im.Labels["team"], "the user's labels stay")
	require.Empty(t, im.Family, "a pending build is in no family: getFromFamily must not hand it out")
	require.Equal(t, backend.StatePending, f.list("web")[name].State)

	img = r.Image
	img.State = lifecycle.StateAvailable
	r = f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.NoError(t, r.Err)
	require.Contains(t, r.Note, "family set to web")
	im = f.raw(project, name)
	require.Equal(t, "active", im.Labels["lifecycle-stage"])
	require.Equal(t, "web", im.Family)
	got := f.list("web")[name]
	require.Equal(t, "1.4.2+build.1", got.Version, "versions come back as written")
	require.True(t, got.Managed)
	require.Equal(t, lifecycle.StateAvailable, got.State)
	require.Equal(t, img.ReleasedAt.UTC(), got.ReleasedAt)

	// A family the builder set (image_family) is left alone.
	f.s.PutImage(project, &compute.Image{Name: "web-2-0-0", Family: "web-builder"})
	img2 := f.built(f.be, project, "web-2-0-0", "web", "2.0.0")
	img2.State = lifecycle.StateAvailable
	require.NoError(t, f.be.Record(ctx, []lifecycle.Image{img2}, false)[0].Err)
	require.Equal(t, "web-builder", f.raw(project, "web-2-0-0").Family)
	require.Zero(t, f.s.Calls(project, "compute.images.patch")-1, "one patch in all: the first release's family")
}

func TestRecordRefusesAnotherTeamsImage(t *testing.T) {
	f := newFixture(t, Options{})
	f.image(project, "web-1", map[string]string{"lifecycle-managed-by": "team-b"})
	img := f.built(f.be, project, "web-1", "web", "1")
	r := f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.ErrorContains(t, r.Err, `managed by "team-b"`)
	require.Equal(t, "team-b", f.raw(project, "web-1").Labels["lifecycle-managed-by"])

	missing := f.built(f.be, project, "web-9", "web", "9")
	require.ErrorContains(t, f.be.Record(ctx, []lifecycle.Image{missing}, false)[0].Err, "no such image")

	full := map[string]string{}
	for i := 0; i < 60; i++ {
		full["l"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	f.image(project, "web-2", full)
	r = f.be.Record(ctx, []lifecycle.Image{f.built(f.be, project, "web-2", "web", "2")}, false)[0]
	require.ErrorContains(t, r.Err, "over Compute Engine's 64")
}

// The stages are Compute Engine's own states; a deprecated image names the
// newest kept release as its replacement, and families skip it.
func TestStagesAreComputeEngineStates(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.release(project, "web", "1.0.0")
	b := f.release(project, "web", "1.1.0")
	c := f.release(project, "web", "1.2.0")
	f.clk = f.clk.Add(time.Hour)
	l := f.list("web")
	f.apply(decide(l[a.ID], lifecycle.ActionDeprecate), decide(l[b.ID], lifecycle.ActionKeep), decide(l[c.ID], lifecycle.ActionKeep))
	im := f.raw(project, a.ID)
	require.Equal(t, "DEPRECATED", im.Deprecated.State)
	require.True(t, strings.HasSuffix(im.Deprecated.Replacement, "/projects/lifecycle-test/global/images/"+c.ID), im.Deprecated.Replacement)
	require.Equal(t, "deprecated", im.Labels["lifecycle-stage"])
	require.Equal(t, lifecycle.StageDeprecated, f.list("web")[a.ID].EffectiveStage(f.clk))

	fam, err := f.be.svc.Images.GetFromFamily(project, "web").Do()
	require.NoError(t, err)
	require.Equal(t, c.ID, fam.Name)

	f.clk = f.clk.Add(time.Hour)
	f.apply(decide(f.list("web")[a.ID], lifecycle.ActionDisable))
	require.Equal(t, "OBSOLETE", f.raw(project, a.ID).Deprecated.State)
	got := f.list("web")[a.ID]
	require.Equal(t, lifecycle.StateDisabled, got.State)
	require.Equal(t, lifecycle.StageDisabled, got.EffectiveStage(f.clk))

	f.clk = f.clk.Add(time.Hour)
	f.apply(decide(got, lifecycle.ActionRestore))
	require.Nil(t, f.raw(project, a.ID).Deprecated, "restored: ACTIVE clears the deprecation")
	require.Equal(t, lifecycle.StageActive, f.list("web")[a.ID].EffectiveStage(f.clk))

	f.clk = f.clk.Add(time.Hour)
	f.apply(decide(f.list("web")[b.ID], lifecycle.ActionDeprecate))
	f.clk = f.clk.Add(time.Hour)
	f.apply(decide(f.list("web")[b.ID], lifecycle.ActionDisable))
	f.clk = f.clk.Add(time.Hour)
	rs := f.apply(decide(f.list("web")[b.ID], lifecycle.ActionDeregister))
	require.True(t, rs[0].Changed)
	_, ok := f.s.Image(project, b.ID)
	require.False(t, ok, "deregistered: deleted")
	require.NotContains(t, f.list("web"), b.ID)
}

// A deprecation that stands without the build it was made for (a killed
// run's, whose image Packer deleted) points to the newest release once its
// marker is cleared, keeping when it was deprecated.
func TestStandingDeprecationGetsANewReplacement(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.release(project, "web", "1.0.0")
	killed := f.release(project, "web", "1.1.0")
	f.clk = f.clk.Add(time.Hour)
	l := f.list("web")
	dep := decide(l[a.ID], lifecycle.ActionDeprecate)
	dep.SupersededBy = killed.Ref()
	f.apply(dep, decide(l[killed.ID], lifecycle.ActionKeep))
	require.True(t, strings.HasSuffix(f.raw(project, a.ID).Deprecated.Replacement, "/"+killed.ID))
	require.Equal(t, killed.ID, f.raw(project, a.ID).Labels["lifecycle-superseded-by"])
	stamp := f.raw(project, a.ID).Deprecated.Deprecated
	op, err := f.be.svc.Images.Delete(project, killed.ID).Do() // Packer's cleanup of the killed build
	require.NoError(t, err)
	require.NoError(t, f.be.wait(ctx, project, op))

	rebuild := f.release(project, "web", "1.1.1")
	f.clk = f.clk.Add(time.Hour)
	l = f.list("web")
	clear := lifecycle.Decision{Image: l[a.ID], Action: lifecycle.ActionRecord, To: lifecycle.StageDeprecated, Reason: "test: stands"}
	rs := f.apply(clear, decide(l[rebuild.ID], lifecycle.ActionKeep))
	require.True(t, rs[0].Changed)
	require.Equal(t, "replacement "+rebuild.ID, rs[0].Note)
	im := f.raw(project, a.ID)
	require.True(t, strings.HasSuffix(im.Deprecated.Replacement, "/"+rebuild.ID), im.Deprecated.Replacement)
	require.Equal(t, "DEPRECATED", im.Deprecated.State)
	require.Equal(t, stamp, im.Deprecated.Deprecated, "when it was deprecated stands")
	require.NotContains(t, im.Labels, "lifecycle-superseded-by")
	require.False(t, f.apply(clear, decide(l[rebuild.ID], lifecycle.ActionKeep))[0].Changed, "done already")
}

// A stage set by hand in the console is found and recorded, never acted
// on twice; an image marked DELETED by hand is still there and disabled.
func TestHandSetStatesAreRead(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.release(project, "web", "1.0.0")
	svc := f.be.svc
	op, err := svc.Images.Deprecate(project, a.ID, &compute.DeprecationStatus{State: "DELETED"}).Do()
	require.NoError(t, err)
	require.NoError(t, f.be.wait(ctx, project, op))
	got := f.list("web")[a.ID]
	require.Equal(t, lifecycle.StateDisabled, got.State)
	require.Equal(t, lifecycle.StageDisabled, got.EffectiveStage(f.clk))
	require.False(t, got.DeprecationTime.IsZero())
}

func TestUsage(t *testing.T) {
	f := newFixture(t, Options{Projects: []string{project, other}})
	a := f.release(project, "web", "1.0.0")
	b := f.release(project, "web", "1.1.0")
	c := f.release(project, "web", "1.2.0")
	d := f.release(project, "web", "1.3.0")
	e := f.release(project, "web", "1.4.0")
	link := func(name string) string { return f.url + "compute/v1/projects/" + project + "/global/images/" + name }
	zone := "us-central1-a"
	// a: the boot disk of an instance in the other project; an orphan disk of b counts for nothing.
	f.s.PutDisk(other, zone, &compute.Disk{Name: "vm-1", SourceImage: link(a.ID), Users: []string{f.url + "compute/v1/projects/" + other + "/zones/" + zone + "/instances/vm-1"}})
	f.s.PutDisk(project, zone, &compute.Disk{Name: "orphan", SourceImage: link(b.ID)})
	// c: a regional template by name, used by a MIG.
	f.s.PutInstanceTemplate(project, "us-central1", &compute.InstanceTemplate{Name: "tpl-c", Properties: &compute.InstanceProperties{
		Disks: []*compute.AttachedDisk{{Boot: true, InitializeParams: &compute.AttachedDiskInitializeParams{SourceImage: "projects/" + project + "/global/images/" + c.ID}}}}})
	f.s.PutInstanceGroupManager(project, zone, &compute.InstanceGroupManager{Name: "mig-c",
		InstanceTemplate: f.url + "compute/v1/projects/" + project + "/regions/us-central1/instanceTemplates/tpl-c"})
	// e: a global template by family resolves to the newest ACTIVE image, e.
	f.s.PutInstanceTemplate(project, "", &compute.InstanceTemplate{Name: "tpl-fam", Properties: &compute.InstanceProperties{
		Disks: []*compute.AttachedDisk{{Boot: true, InitializeParams: &compute.AttachedDiskInitializeParams{SourceImage: "projects/" + project + "/global/images/family/web"}}}}})
	// d: a child image, and shares through IAM (looked up once it is
	// deprecated: only then may a run disable it).
	f.s.PutImage(project, &compute.Image{Name: "app-1", SourceImage: link(d.ID)})
	f.clk = f.clk.Add(time.Hour)
	f.apply(decide(f.list("web")[d.ID], lifecycle.ActionDeprecate))
	d = f.list("web")[d.ID]
	f.s.SetImagePolicy(project, d.ID, &compute.Policy{Bindings: []*compute.Binding{
		{Role: "roles/compute.imageUser", Members: []string{"user:alice@example.com", "serviceAccount:ci@lifecycle-other.iam.gserviceaccount.com"}}}})

	imgs := []lifecycle.Image{a, b, c, d, e}
	u := f.be.Usage(ctx, imgs)
	require.Equal(t, []lifecycle.Consumer{{Kind: lifecycle.ConsumerInstance, ID: zone + "/vm-1"}}, u[a.Ref()])
	require.Empty(t, u[b.Ref()], "a disk no instance uses does not count")
	require.ElementsMatch(t, []lifecycle.Consumer{{Kind: ConsumerInstanceTemplate, ID: "us-central1/tpl-c"}, {Kind: ConsumerInstanceGroup, ID: zone + "/mig-c"}}, u[c.Ref()])
	require.ElementsMatch(t, []lifecycle.Consumer{{Kind: lifecycle.ConsumerChildImage, ID: project + ":app-1"}, {Kind: lifecycle.ConsumerAccount, ID: "user:alice@example.com"}}, u[d.Ref()],
		"a share with a covered project's service account is checked there, not kept for")
	require.Equal(t, []lifecycle.Consumer{{Kind: ConsumerInstanceTemplate, ID: "tpl-fam"}}, u[e.Ref()])
	// An active image is not looked up: it moves to deprecated at most.
	f.s.SetImagePolicy(project, e.ID, &compute.Policy{Bindings: []*compute.Binding{{Role: "roles/compute.imageUser", Members: []string{"user:bob@example.com"}}}})
	require.Equal(t, []lifecycle.Consumer{{Kind: ConsumerInstanceTemplate, ID: "tpl-fam"}}, f.be.Usage(ctx, imgs)[e.Ref()])

	// Fail closed: a lookup refused in one project keeps every image.
	f.s.Deny(other, "compute.disks.aggregatedList")
	u = f.be.Usage(ctx, imgs)
	for _, img := range imgs {
		require.Contains(t, consumerKinds(u[img.Ref()]), lifecycle.ConsumerUnknown, img.ID)
	}
}

func TestUsageFailsClosedOnAnUnreachableZone(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.release(project, "web", "1.0.0")
	f.s.SetFault(gceemu.Fault{Method: "compute.disks.aggregatedList", Kind: gceemu.Unreachable, Scope: "zones/us-central1-b"})
	u := f.be.Usage(ctx, []lifecycle.Image{a})
	require.Contains(t, consumerKinds(u[a.Ref()]), lifecycle.ConsumerUnknown)
}

func consumerKinds(cs []lifecycle.Consumer) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind)
	}
	return out
}

// A deprecate whose answer was lost is re-sent with its requestId and
// applied once; rate limits are waited out.
func TestLostAnswersAndRateLimits(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.release(project, "web", "1.0.0")
	f.clk = f.clk.Add(time.Hour)
	f.s.SetFault(gceemu.Fault{Method: "compute.images.deprecate", Kind: gceemu.LoseAnswer, Times: 1})
	f.s.SetFault(gceemu.Fault{Method: "compute.images.list", Kind: gceemu.RateLimited, Times: 2})
	f.s.SetFault(gceemu.Fault{Method: "compute.images.setLabels", Kind: gceemu.ServerError, Times: 1})
	l := f.list("web")
	rs := f.apply(decide(l[a.ID], lifecycle.ActionDeprecate))
	require.True(t, rs[0].Changed)
	require.Equal(t, "DEPRECATED", f.raw(project, a.ID).Deprecated.State)
	require.Equal(t, "deprecated", f.raw(project, a.ID).Labels["lifecycle-stage"])
	require.Equal(t, 2, f.s.Calls(project, "compute.images.deprecate"), "sent twice")
	ops := 0
	for _, c := range f.s.Journal() {
		if c.Method == "compute.images.deprecate" && c.Status == http.StatusOK {
			ops++
		}
	}
	require.LessOrEqual(t, ops, 2)
}

// A label write that races another writer (412) re-reads and keeps both.
func TestLabelFingerprintConflictKeepsTheOtherWrite(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.release(project, "web", "1.0.0")
	f.clk = f.clk.Add(time.Hour)
	raced := false
	f.tr.breakWhen(func(r *http.Request) bool {
		if raced || !strings.HasSuffix(r.URL.Path, "/setLabels") {
			return false
		}
		raced = true
		im := f.raw(project, a.ID)
		labels := map[string]string{"owner": "ops"}
		for k, v := range im.Labels {
			labels[k] = v
		}
		op, err := f.be.svc.Images.SetLabels(project, a.ID, &compute.GlobalSetLabelsRequest{Labels: labels, LabelFingerprint: im.LabelFingerprint}).Do()
		require.NoError(t, err)
		require.NoError(t, f.be.wait(ctx, project, op))
		return false // now the backend's own write goes on with a stale fingerprint
	})
	f.apply(decide(f.list("web")[a.ID], lifecycle.ActionDeprecate))
	im := f.raw(project, a.ID)
	require.True(t, raced)
	require.Equal(t, "ops", im.Labels["owner"], "the other writer's label stays")
	require.Equal(t, "deprecated", im.Labels["lifecycle-stage"])
}

func TestPinAndDataSourceView(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.release(project, "web", "1.0.0")
	rs := f.be.Pin(ctx, []lifecycle.Image{a}, true, false)
	require.NoError(t, rs[0].Err)
	require.True(t, rs[0].Changed)
	require.True(t, f.list("web")[a.ID].Pinned)
	require.Equal(t, "true", f.raw(project, a.ID).Labels["lifecycle-pin"])
	rs = f.be.Pin(ctx, []lifecycle.Image{a}, true, false)
	require.False(t, rs[0].Changed, "pinning what is pinned changes nothing")
	require.NoError(t, f.be.Pin(ctx, []lifecycle.Image{a}, false, false)[0].Err)
	require.NotContains(t, f.raw(project, a.ID).Labels, "lifecycle-pin")

	f.image(project, "foreign", nil)
	rs = f.be.Pin(ctx, []lifecycle.Image{{Region: project, ID: "foreign"}}, true, false)
	require.ErrorContains(t, rs[0].Err, "not managed")

	require.Equal(t, f.raw(project, a.ID).SelfLink, f.be.SelfLink(a.Ref()))
}
