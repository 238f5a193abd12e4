package azure

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// fixture is an emulator, a backend on it and a clock the test moves.
type fixture struct {
	*emu
	be  *Backend
	clk time.Time
	web Definition
}

func newFixture(t *testing.T, opts Options) *fixture {
	f := &fixture{clk: t0}
	f.emu = newEmu(t, func() time.Time { return f.clk })
	f.be = f.backend(opts)
	f.web = f.definition("web")
	return f
}

// release publishes version v of web (replicated to regions) and records
// it as a release.
func (f *fixture) release(v string, regions ...string) lifecycle.Image {
	f.version(f.web, v, regions...)
	img := f.built(f.be, f.web, "web", v)
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

func regionsOf(v armcompute.GalleryImageVersion) map[string]int32 {
	out := map[string]int32{}
	for _, t := range v.Properties.PublishingProfile.TargetRegions {
		out[region(*t.Name)] = deref(t.RegionalReplicaCount)
	}
	return out
}

// Record writes the metadata as tags, keeps the user's, and reads back
// as written; the release is pending until the run succeeds.
func TestRecordTagsThenRelease(t *testing.T) {
	f := newFixture(t, Options{})
	f.version(f.web, "1.4.2", "northeurope")
	img := f.built(f.be, f.web, "web", "1.4.2")
	require.Equal(t, "images/team.gallery/web", img.Region)
	require.Equal(t, "1.4.2", img.ID)
	img.Version = "1.4.2+build.1"
	img.State = backend.StatePending
	r := f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.NoError(t, r.Err)
	v := f.get(f.web, "1.4.2")
	require.Equal(t, "pending", *v.Tags[lifecycle.TagStage])
	require.Equal(t, "1.4.2+build.1", *v.Tags[lifecycle.TagVersion])
	require.Equal(t, "web", *v.Tags["team"], "the user's tags stay")
	require.Equal(t, backend.StatePending, f.list("web")["1.4.2"].State)

	img = r.Image
	img.State = lifecycle.StateAvailable
	r = f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.NoError(t, r.Err)
	got := f.list("web")["1.4.2"]
	require.Equal(t, "1.4.2+build.1", got.Version)
	require.True(t, got.Managed)
	require.Equal(t, lifecycle.StateAvailable, got.State)
	require.Equal(t, lifecycle.StageActive, got.Stage)
	require.Equal(t, img.ReleasedAt.UTC(), got.ReleasedAt)
	require.Equal(t, int64(30<<30)*3, got.Size, "30 GB in westeurope once and northeurope twice")
	require.Equal(t, f.web.VersionID(sub, "1.4.2"), got.Name)

	// Recording again changes nothing.
	before := f.s.Calls()["Microsoft.Compute/galleries/images/versions/write"]
	r = f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.NoError(t, r.Err)
	require.False(t, r.Changed)
	require.Equal(t, before, f.s.Calls()["Microsoft.Compute/galleries/images/versions/write"])
}

func TestRecordRefusesAnotherTeamsVersion(t *testing.T) {
	f := newFixture(t, Options{})
	f.version(f.web, "1.0.0")
	other := f.backend(Options{ManagedBy: "team-b"})
	img := f.built(other, f.web, "web", "1.0.0")
	img.State = lifecycle.StateAvailable
	require.NoError(t, other.Record(ctx, []lifecycle.Image{img}, false)[0].Err)
	img = f.built(f.be, f.web, "web", "1.0.0")
	r := f.be.Record(ctx, []lifecycle.Image{img}, false)[0]
	require.ErrorContains(t, r.Err, `managed by "team-b"`)
}

// The stages as Azure carries them: deprecate excludes from latest and
// sets the end of life; disable withdraws the replicas to the home region;
// restore puts all of it back; deregister deletes.
func TestStagesAndRestore(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.release("1.0.0", "northeurope", "eastus")
	f.clk = f.clk.Add(48 * time.Hour)

	f.apply(decide(img, lifecycle.ActionDeprecate))
	v := f.get(f.web, "1.0.0")
	pp := v.Properties.PublishingProfile
	require.True(t, *pp.ExcludeFromLatest)
	require.Equal(t, f.clk, pp.EndOfLifeDate.UTC())
	require.Equal(t, "deprecated", *v.Tags[lifecycle.TagStage])
	got := f.list("web")["1.0.0"]
	require.Equal(t, lifecycle.StageDeprecated, got.EffectiveStage(f.clk))

	f.clk = f.clk.Add(24 * time.Hour)
	f.apply(decide(got, lifecycle.ActionDisable))
	v = f.get(f.web, "1.0.0")
	require.Equal(t, map[string]int32{home: 1}, regionsOf(v))
	require.Equal(t, "eastus=2,northeurope=2", *v.Tags[tagReplicas])
	got = f.list("web")["1.0.0"]
	require.Equal(t, lifecycle.StateDisabled, got.State)
	require.Equal(t, lifecycle.StageDisabled, got.EffectiveStage(f.clk))
	require.Equal(t, int64(30<<30), got.Size, "one replica left")

	rs := f.apply(decide(got, lifecycle.ActionRestore))
	require.Contains(t, rs[0].Note, "replicating back to eastus=2,northeurope=2")
	v = f.get(f.web, "1.0.0")
	require.Equal(t, map[string]int32{home: 1, "northeurope": 2, "eastus": 2}, regionsOf(v))
	require.False(t, *v.Properties.PublishingProfile.ExcludeFromLatest)
	require.Nil(t, v.Properties.PublishingProfile.EndOfLifeDate, "the end of life the deprecation set is gone")
	require.NotContains(t, v.Tags, tagReplicas)
	got = f.list("web")["1.0.0"]
	require.Equal(t, lifecycle.StateAvailable, got.State)
	require.Equal(t, lifecycle.StageActive, got.EffectiveStage(f.clk))

	// Through again to the end.
	f.apply(decide(got, lifecycle.ActionDeprecate))
	got = f.list("web")["1.0.0"]
	f.apply(decide(got, lifecycle.ActionDisable))
	got = f.list("web")["1.0.0"]
	rs = f.apply(decide(got, lifecycle.ActionDeregister))
	require.Contains(t, rs[0].Note, "deleted")
	_, ok := f.s.ImageVersion(f.web.VersionID(sub, "1.0.0"))
	require.False(t, ok)
	require.Empty(t, f.list("web"))
}

// A builder-set end of life is respected: an earlier one stays; a later
// one is replaced (and restored after) unless a deletion block guards it,
// which also protects the version.
func TestDeprecateHonoursTheEndOfLife(t *testing.T) {
	f := newFixture(t, Options{})
	later := t0.Add(365 * 24 * time.Hour)
	earlier := t0.Add(-time.Hour)
	for v, p := range map[string]struct {
		eol   time.Time
		block bool
	}{"1.0.0": {later, false}, "1.0.1": {earlier, false}, "1.0.2": {later, true}} {
		f.version(f.web, v)
		raw := f.get(f.web, v)
		raw.Properties.PublishingProfile.EndOfLifeDate = to(p.eol)
		raw.Properties.SafetyProfile = &armcompute.GalleryImageVersionSafetyProfile{BlockDeletionBeforeEndOfLife: to(p.block)}
		f.s.PutImageVersion(sub, rg, gallery, "web", v, raw)
		img := f.built(f.be, f.web, "web", v)
		img.State = lifecycle.StateAvailable
		require.NoError(t, f.be.Record(ctx, []lifecycle.Image{img}, false)[0].Err)
	}
	l := f.list("web")
	require.Equal(t, lifecycle.StageDeprecated, l["1.0.1"].EffectiveStage(f.clk), "an end of life passed is Azure's deprecation")
	require.False(t, l["1.0.0"].Protected)
	require.True(t, l["1.0.2"].Protected, "deletion is blocked before the end of life")

	rs := f.apply(decide(l["1.0.0"], lifecycle.ActionDeprecate), decide(l["1.0.2"], lifecycle.ActionDeprecate))
	require.Equal(t, f.clk, f.get(f.web, "1.0.0").Properties.PublishingProfile.EndOfLifeDate.UTC())
	require.Equal(t, later, f.get(f.web, "1.0.2").Properties.PublishingProfile.EndOfLifeDate.UTC())
	require.Contains(t, rs[1].Note, "deletion blocked until then")

	l = f.list("web")
	rs = f.be.Apply(ctx, []lifecycle.Decision{decide(l["1.0.2"], lifecycle.ActionDisable)}, false)
	require.ErrorContains(t, rs[0].Err, "deregistration-protected")

	f.apply(decide(l["1.0.0"], lifecycle.ActionRestore), decide(l["1.0.2"], lifecycle.ActionRestore), decide(l["1.0.1"], lifecycle.ActionRestore))
	require.Equal(t, later, f.get(f.web, "1.0.0").Properties.PublishingProfile.EndOfLifeDate.UTC(), "the builder's end of life is back")
	require.Equal(t, later, f.get(f.web, "1.0.2").Properties.PublishingProfile.EndOfLifeDate.UTC(), "an end of life the deprecation kept stays")
	require.Nil(t, f.get(f.web, "1.0.1").Properties.PublishingProfile.EndOfLifeDate, "a passed end of life goes: the version is active again")
	require.Equal(t, lifecycle.StageActive, f.list("web")["1.0.1"].EffectiveStage(f.clk))
}

// Azure refuses to drop a replicated region unless the safety profile
// allows it, which by default it does not: disable allows it first and
// restore sets it back; a version that allows it already is left so.
func TestDisableAllowsReplicaWithdrawal(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.release("1.0.0", "northeurope")
	require.False(t, allows(f.get(f.web, "1.0.0")), "Azure's default")
	f.apply(decide(img, lifecycle.ActionDeprecate))
	rs := f.apply(decide(f.list("web")["1.0.0"], lifecycle.ActionDisable))
	require.Contains(t, rs[0].Note, "allowDeletionOfReplicatedLocations set to true")
	v := f.get(f.web, "1.0.0")
	require.True(t, allows(v))
	require.Equal(t, map[string]int32{home: 1}, regionsOf(v))
	f.apply(decide(f.list("web")["1.0.0"], lifecycle.ActionRestore))
	v = f.get(f.web, "1.0.0")
	require.False(t, allows(v), "set back")
	require.Equal(t, map[string]int32{home: 1, "northeurope": 2}, regionsOf(v))
	require.NotContains(t, v.Tags, tagReplicaDeletionWas)

	f.version(f.web, "1.1.0", "northeurope")
	raw := f.get(f.web, "1.1.0")
	raw.Properties.SafetyProfile = &armcompute.GalleryImageVersionSafetyProfile{AllowDeletionOfReplicatedLocations: to(true)}
	f.s.PutImageVersion(sub, rg, gallery, "web", "1.1.0", raw)
	next := f.built(f.be, f.web, "web", "1.1.0")
	next.State = lifecycle.StateAvailable
	require.NoError(t, f.be.Record(ctx, []lifecycle.Image{next}, false)[0].Err)
	f.apply(decide(f.list("web")["1.1.0"], lifecycle.ActionDeprecate))
	rs = f.apply(decide(f.list("web")["1.1.0"], lifecycle.ActionDisable))
	require.NotContains(t, rs[0].Note, "allowDeletionOfReplicatedLocations")
	f.apply(decide(f.list("web")["1.1.0"], lifecycle.ActionRestore))
	require.True(t, allows(f.get(f.web, "1.1.0")), "left as it was")
}

func allows(v armcompute.GalleryImageVersion) bool {
	return v.Properties.SafetyProfile != nil && deref(v.Properties.SafetyProfile.AllowDeletionOfReplicatedLocations)
}

// NewReleases reads both artifact shapes of azure-arm and refuses others.
func TestNewReleases(t *testing.T) {
	f := newFixture(t, Options{Subscription: sub})
	id := f.web.VersionID(sub, "1.2.3")
	imgs, err := f.be.NewReleases(fakeArtifact{id: id, state: map[string]interface{}{
		"generated_data": map[interface{}]interface{}{"SourceImageName": "/subscriptions/x/providers/Microsoft.Compute/locations/westeurope/publishers/Canonical/artifacttypes/vmimage/offers/o/skus/s/versions/1"}}},
		lifecycle.Image{Family: "web", Version: "1.2.3"})
	require.NoError(t, err)
	require.Equal(t, lifecycle.Ref{Region: "images/team.gallery/web", ID: "1.2.3"}, imgs[0].Ref())
	require.Contains(t, imgs[0].Parent, "publishers/Canonical")

	// Managed image and gallery: Id() is the managed image's.
	managed := "/subscriptions/" + sub + "/resourceGroups/img/providers/Microsoft.Compute/images/web-1"
	imgs, err = f.be.NewReleases(fakeArtifact{id: managed, text: "Azure.ResourceManagement.VMImage:\n\nOSType: Linux\nManagedImageResourceGroupName: img\n" +
		"ManagedImageSharedImageGalleryId: " + id + "\nSharedImageGalleryResourceGroup: images\n"}, lifecycle.Image{Family: "web", Version: "1.2.3"})
	require.NoError(t, err)
	require.Equal(t, "1.2.3", imgs[0].ID)

	_, err = f.be.NewReleases(fakeArtifact{id: managed, text: "Azure.ResourceManagement.VMImage:\n\nOSType: Linux\n"}, lifecycle.Image{})
	require.ErrorContains(t, err, "names no gallery image version")
	_, err = f.be.NewReleases(fakeArtifact{id: "/subscriptions/00000000-0000-0000-0000-0000000000b2/resourceGroups/images/providers/Microsoft.Compute/galleries/g/images/web/versions/1.0.0"}, lifecycle.Image{})
	require.ErrorContains(t, err, "set subscription_id to the gallery's")

	// Without a subscription the artifact's is taken.
	be := f.backend(Options{})
	be.opts.Subscription = ""
	fresh, err := New(Options{Client: f.client(), Galleries: []Gallery{{ResourceGroup: rg, Name: gallery}}}, f.now)
	require.NoError(t, err)
	_, err = fresh.List(ctx, backend.Query{Family: "web"})
	require.ErrorContains(t, err, "no subscription: set subscription_id")
	_, err = fresh.NewReleases(fakeArtifact{id: id}, lifecycle.Image{Family: "web"})
	require.NoError(t, err)
	require.Equal(t, sub, fresh.Subscription())
}

// Usage finds VMs and scale sets by version, by definition (the latest
// version not excluded from it) and by exact version, and child versions.
func TestUsage(t *testing.T) {
	f := newFixture(t, Options{})
	a, b, c := f.release("1.0.0"), f.release("1.1.0"), f.release("1.2.0")
	f.s.PutVM(sub, "apps", "vm-pinned", home, armcompute.ImageReference{ID: to(f.web.VersionID(sub, "1.0.0"))})
	f.s.PutScaleSet(sub, "apps", "ss-latest", home, armcompute.ImageReference{ID: to(f.web.ID(sub))})
	u := f.be.Usage(ctx, []lifecycle.Image{a, b, c})
	require.Equal(t, []lifecycle.Consumer{{Kind: lifecycle.ConsumerInstance, ID: "/subscriptions/" + sub + "/resourceGroups/apps/providers/Microsoft.Compute/virtualMachines/vm-pinned"}}, u[a.Ref()])
	require.Empty(t, u[b.Ref()])
	require.Len(t, u[c.Ref()], 1, "the scale set follows latest: 1.2.0")
	require.Equal(t, ConsumerScaleSet, u[c.Ref()][0].Kind)

	// Deprecated, 1.2.0 is no longer latest: the scale set's next VM gets
	// 1.1.0, while its instances made from 1.2.0 (its exactVersion) still
	// count for 1.2.0.
	f.apply(decide(c, lifecycle.ActionDeprecate))
	c = f.list("web")["1.2.0"]
	u = f.be.Usage(ctx, []lifecycle.Image{a, b, c})
	require.Len(t, u[b.Ref()], 1)
	require.Len(t, u[c.Ref()], 1)
	// A scale set made after the deprecation follows 1.1.0 alone.
	f.s.PutScaleSet(sub, "apps", "ss-new", home, armcompute.ImageReference{ID: to(f.web.ID(sub))})
	u = f.be.Usage(ctx, []lifecycle.Image{b, c})
	require.Len(t, u[b.Ref()], 2)
	require.Len(t, u[c.Ref()], 1)

	// A child version in another definition names 1.1.0 as its parent.
	api := f.definition("api")
	f.version(api, "2.0.0")
	child := f.built(f.be, api, "api", "2.0.0")
	child.Parent = f.web.VersionID(sub, "1.1.0")
	child.State = lifecycle.StateAvailable
	require.NoError(t, f.be.Record(ctx, []lifecycle.Image{child}, false)[0].Err)
	u = f.be.Usage(ctx, []lifecycle.Image{b})
	require.Contains(t, u[b.Ref()], lifecycle.Consumer{Kind: lifecycle.ConsumerChildImage, ID: api.VersionID(sub, "2.0.0")})

	// A VM's exact version counts.
	f.s.PutVM(sub, "apps", "vm-exact", home, armcompute.ImageReference{ID: to(f.web.ID(sub)), ExactVersion: to("1.2.0")})
	u = f.be.Usage(ctx, []lifecycle.Image{c})
	require.Len(t, u[c.Ref()], 1)

	// A scale set listing that fails keeps every image.
	f.s.Deny("*", "Microsoft.Compute/virtualMachineScaleSets/read")
	u = f.be.Usage(ctx, []lifecycle.Image{a, b, c})
	for _, img := range []lifecycle.Image{a, b, c} {
		require.True(t, slices.ContainsFunc(u[img.Ref()], func(c lifecycle.Consumer) bool {
			return c.Kind == lifecycle.ConsumerUnknown && strings.Contains(c.ID, "scale sets")
		}), "%v", u[img.Ref()])
	}
}

// A dry run calls nothing that writes.
func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t, Options{})
	f.release("1.0.0", "northeurope")
	img := f.list("web")["1.0.0"]
	f.s.ResetCounters()
	rs := f.be.Apply(ctx, []lifecycle.Decision{decide(img, lifecycle.ActionDeprecate)}, true)
	require.NoError(t, rs[0].Err)
	require.True(t, rs[0].Changed)
	for action := range f.s.Calls() {
		require.NotContains(t, action, "/write")
		require.NotContains(t, action, "/delete")
	}
}

// The usage lookup right after a listing takes the listing's pages; any
// later one lists anew, and so does the one an Apply makes for the
// definitions it did not just re-read.
func TestUsageTakesTheListingsPagesOnce(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.release("1.0.0")
	reads := func() int { return f.s.Calls()["Microsoft.Compute/galleries/images/versions/read"] }
	f.list("web")
	before := reads()
	f.be.Usage(ctx, []lifecycle.Image{a})
	require.Equal(t, before, reads(), "the pages List just fetched")
	f.be.Usage(ctx, []lifecycle.Image{a})
	require.Greater(t, reads(), before, "a second lookup lists anew")

	// A child recorded after the listing is seen by the re-check before
	// acting, which re-reads what it acts on.
	img := f.list("web")["1.0.0"]
	f.apply(decide(img, lifecycle.ActionDeprecate))
	img = f.list("web")["1.0.0"]
	f.version(f.web, "1.1.0")
	child := f.built(f.be, f.web, "web", "1.1.0")
	child.Parent, child.State = f.web.VersionID(sub, "1.0.0"), lifecycle.StateAvailable
	require.NoError(t, f.be.Record(ctx, []lifecycle.Image{child}, false)[0].Err)
	rs := f.be.Apply(ctx, []lifecycle.Decision{decide(img, lifecycle.ActionDisable)}, false)
	require.ErrorContains(t, rs[0].Err, "1.1.0", "in use by its child")
}

// A disable stopped between allowing the withdrawal and withdrawing
// converges on the re-run, and restore still sets the flag back.
func TestDisableStoppedHalfWayConverges(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.release("1.0.0", "northeurope")
	f.apply(decide(img, lifecycle.ActionDeprecate))
	var fired atomic.Bool
	f.tr.breakWhen(func(r *http.Request) bool {
		if r.Method != http.MethodPatch || fired.Load() {
			return false
		}
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b)) // the emulator reads it next
		return strings.Contains(string(b), "targetRegions") && fired.CompareAndSwap(false, true)
	})
	rs := f.be.Apply(ctx, []lifecycle.Decision{decide(f.list("web")["1.0.0"], lifecycle.ActionDisable)}, false)
	require.True(t, fired.Load())
	require.Error(t, rs[0].Err)
	v := f.get(f.web, "1.0.0")
	require.True(t, allows(v), "the first write took effect")
	require.Equal(t, "false", *v.Tags[tagReplicaDeletionWas])
	require.Equal(t, "deprecated", *v.Tags[lifecycle.TagStage])

	f.apply(decide(f.list("web")["1.0.0"], lifecycle.ActionDisable))
	v = f.get(f.web, "1.0.0")
	require.Equal(t, map[string]int32{home: 1}, regionsOf(v))
	require.Equal(t, "disabled", *v.Tags[lifecycle.TagStage])
	f.apply(decide(f.list("web")["1.0.0"], lifecycle.ActionRestore))
	require.False(t, allows(f.get(f.web, "1.0.0")), "set back to what it was before the first attempt")
}
