//go:build bench

package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	azurebackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/azure"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// ---- Case 7: the Azure sweep of 3 image definitions × 120 versions, one stage per run.

// azDefs play the part regions play in case 2: the backend works on every
// image definition of the gallery at once.
var azDefs = []string{"web-a", "web-b", "web-c"}

var azSub = armemu.DefaultSubscriptions[0]

const (
	azVersions      = 120 // per definition, all of family web
	azRetirable     = 60  // the oldest, past min_age
	azInUse         = 12  // 10 %: half among the retirable, half among the newer, each by a VM naming the version id
	azUsedRetirable = azInUse / 2
	azPage          = 50 // armemu's page, as ARM's lists of versions and VMs
	azRG            = "images"
	azGallery       = "bench_gallery"
	azHome          = "westeurope"
	azReplica       = "northeurope"
)

// tagReplicas is the azure backend's tag of the regions a disable withdrew
// (backend/azure: lifecycle:replicas); its reader takes a version with it
// for disabled, so the serial baseline writes it too.
const tagReplicas = lifecycle.TagPrefix + "replicas"

func azDef(name string) azurebackend.Definition {
	return azurebackend.Definition{ResourceGroup: azRG, Gallery: azGallery, Image: name}
}

func ptr[T any](v T) *T { return &v }

// azEmu is one ARM emulator on a TLS listener, and its CA on disk.
type azEmu struct {
	s          *armemu.Server
	base, host string
	ca         string
	stop       func() error
}

// fresh starts an empty emulator whose writes are done when answered: the
// first status poll of each operation is terminal (see the report's
// Method on why not one poll more).
func (r *azRunner) fresh() *azEmu {
	s := armemu.New(armemu.WithOperationPolls(0), armemu.WithTokenLifetime(24*time.Hour))
	base, stop, err := s.Listen("127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	ca := filepath.Join(r.dir, "armemu-ca.pem")
	if err := os.WriteFile(ca, s.CACertPEM(), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return &azEmu{s: s, base: base, host: strings.TrimSuffix(strings.TrimPrefix(base, "https://"), "/"), ca: ca, stop: stop}
}

func (e *azEmu) cloud() cloud.Configuration {
	return cloud.Configuration{ActiveDirectoryAuthorityHost: e.base, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: e.base, Audience: e.base}}}
}

// seed publishes per definition 120 versions as the azure-arm builder leaves
// them (home region and one replica region, deletion of replicated regions
// not allowed, Azure's default) and records each as the post-processor
// does after that builder (NewReleases on the artifact, Record pending,
// then available). The 60 oldest are 60 days old, the 60 newer 20 days.
// 12 per definition are used by a VM naming the version id (6 retirable, 6
// newer), and one scale set per definition follows its "latest". Latency
// is injected once seeded.
func (r *azRunner) seed(e *azEmu, now time.Time) {
	e.s.PutGallery(azSub, azRG, azGallery, azHome)
	hc := e.s.HTTPClient()
	cred, err := azidentity.NewClientSecretCredential(armemu.DefaultTenant, armemu.DefaultClientID, armemu.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: policy.ClientOptions{Cloud: e.cloud(), Transport: hc}, DisableInstanceDiscovery: true})
	if err != nil {
		r.t.Fatal(err)
	}
	be, err := azurebackend.New(azurebackend.Options{Client: azurebackend.Client{Credential: cred, Poll: time.Millisecond,
		Options: arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: e.cloud(), Transport: hc}, DisableRPRegistration: true}}}, time.Now)
	if err != nil {
		r.t.Fatal(err)
	}
	var imgs []lifecycle.Image
	for _, name := range azDefs {
		d := azDef(name)
		e.s.PutImageDefinition(azSub, azRG, azGallery, name, armcompute.GalleryImage{Location: ptr(azHome), Properties: &armcompute.GalleryImageProperties{
			OSType: ptr(armcompute.OperatingSystemTypesLinux), OSState: ptr(armcompute.OperatingSystemStateTypesGeneralized),
			Identifier: &armcompute.GalleryImageIdentifier{Publisher: ptr("team"), Offer: ptr(name), SKU: ptr("1")}}})
		for i := range azVersions {
			built := now.Add(-60*24*time.Hour + time.Duration(i)*time.Minute)
			if i >= azRetirable {
				built = now.Add(-20*24*time.Hour + time.Duration(i-azRetirable)*10*time.Minute)
			}
			built = built.Truncate(time.Second)
			v := fmt.Sprintf("1.0.%d", i)
			e.s.PutImageVersion(azSub, azRG, azGallery, name, v, armcompute.GalleryImageVersion{Location: ptr(azHome),
				Properties: &armcompute.GalleryImageVersionProperties{
					PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{ReplicaCount: ptr(int32(1)), ExcludeFromLatest: ptr(false), PublishedDate: &built,
						TargetRegions: []*armcompute.TargetRegion{{Name: ptr(azHome)}, {Name: ptr(azReplica)}}},
					StorageProfile: &armcompute.GalleryImageVersionStorageProfile{
						Source:      &armcompute.GalleryArtifactVersionFullSource{ID: ptr("/subscriptions/" + azSub + "/resourceGroups/pkr/providers/Microsoft.Compute/virtualMachines/pkrvm")},
						OSDiskImage: &armcompute.GalleryOSDiskImage{SizeInGB: ptr(int32(30))}},
				}})
			got, err := be.NewReleases(azArtifact{id: d.VersionID(azSub, v)}, lifecycle.Image{Family: "web", Version: v, Channel: "stable", ReleasedAt: built})
			if err != nil {
				r.t.Fatal(err)
			}
			imgs = append(imgs, got...)
		}
	}
	for _, state := range []string{backend.StatePending, lifecycle.StateAvailable} {
		for i := range imgs {
			imgs[i].State = state
		}
		for i, res := range be.Record(context.Background(), imgs, false) {
			if res.Err != nil {
				r.t.Fatal(res.Err)
			}
			imgs[i] = res.Image
		}
	}
	for _, name := range azDefs {
		d := azDef(name)
		for j := range azInUse {
			i := 2 + 5*j // 2, 7, …, 27 retirable
			if j >= azUsedRetirable {
				i = azRetirable + 3 + 5*(j-azUsedRetirable)
			}
			e.s.PutVM(azSub, "apps", fmt.Sprintf("%s-vm-%d", name, i), azHome, armcompute.ImageReference{ID: ptr(d.VersionID(azSub, fmt.Sprintf("1.0.%d", i)))})
		}
		e.s.PutScaleSet(azSub, "apps", name+"-ss", azHome, armcompute.ImageReference{ID: ptr(d.ID(azSub))})
	}
	e.s.SetFault(armemu.Fault{Kind: armemu.LatencyOnly, Latency: latency})
}

// azArtifact is what azure-arm hands on after a gallery-only build: Id()
// is the version's id.
type azArtifact struct{ id string }

func (a azArtifact) BuilderId() string { return azurebackend.BuilderID }
func (a azArtifact) Files() []string   { return nil }
func (a azArtifact) Id() string        { return a.id }
func (a azArtifact) String() string {
	return "Azure.ResourceManagement.VMImage:\n\nOSType: Linux\nManagedImageSharedImageGalleryId: " + a.id + "\n"
}
func (a azArtifact) State(string) interface{} { return nil }
func (a azArtifact) Destroy() error           { return nil }

// azState is where every version stands: definition:version → stage tag,
// excluded from latest or not, end of life set or not, target regions;
// deleted versions are absent.
func azState(s *armemu.Server) map[string]string {
	out := map[string]string{}
	for _, name := range azDefs {
		for _, v := range s.ImageVersions(azSub, azRG, azGallery, name) {
			pp := v.Properties.PublishingProfile
			var regions []string
			for _, t := range pp.TargetRegions {
				regions = append(regions, *t.Name)
			}
			sort.Strings(regions)
			out[name+":"+*v.Name] = fmt.Sprintf("%s/excluded=%t/eol=%t/%s", deref(v.Tags[lifecycle.TagStage]), pp.ExcludeFromLatest != nil && *pp.ExcludeFromLatest,
				pp.EndOfLifeDate != nil, strings.Join(regions, ","))
		}
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// azWork is what one stage must do at least, per definition.
type azWork struct{ deprecate, disable, delete int }

func (w azWork) decisions() int { return w.deprecate + w.disable + w.delete }

var azStages = []struct {
	name string
	work azWork
}{
	{"deprecate", azWork{deprecate: azRetirable}},
	{"disable", azWork{disable: azRetirable - azUsedRetirable}},
	{"deregister", azWork{delete: azRetirable - azUsedRetirable}},
}

// RBAC actions, "Microsoft.Compute/" dropped.
const (
	azListDefs  = "galleries/images/read"
	azVersRead  = "galleries/images/versions/read"
	azVersWrite = "galleries/images/versions/write"
	azVersDel   = "galleries/images/versions/delete"
	azPoll      = "locations/operations/read"
	azVMRead    = "virtualMachines/read"
	azVMSSRead  = "virtualMachineScaleSets/read"
)

// azMinCalls is a stage's minimum over the subscription: one list of the
// gallery's definitions, ⌈versions/50⌉ version pages per definition (the
// family is all there is, so that listing also tells "latest" and child
// versions), the usage listings once (VMs, scale sets, one page each here),
// and per decision its writes, each polled once: deprecate one PATCH,
// disable two (Azure removes no replicated region until
// safetyProfile.allowDeletionOfReplicatedLocations is true, and armemu
// refuses the two in one request), deregister one DELETE; after each
// PATCH's operation ends azcore's poller GETs the version (ARM's
// long-running operation protocol: a PUT's or PATCH's result is the
// resource at its URL), one versions/read each, which every client of the
// SDK makes. A dry run needs the reads only.
func azMinCalls(w azWork, dry bool) map[string]int {
	n := len(azDefs)
	m := map[string]int{azListDefs: 1, azVersRead: n * ceilDiv(azVersions, azPage),
		azVMRead: ceilDiv(n*azInUse, azPage), azVMSSRead: ceilDiv(n, azPage)}
	if dry {
		return m
	}
	writes, deletes := n*(w.deprecate+2*w.disable), n*w.delete
	m[azVersRead] += writes
	for op, c := range map[string]int{azVersWrite: writes, azVersDel: deletes, azPoll: writes + deletes} {
		if c > 0 {
			m[op] = c
		}
	}
	return m
}

func azSweepConfig(e *azEmu, dry bool, report string) map[string]any {
	return map[string]any{
		"packer_builder_type": "null", "sweep": true, "backend": "azure", "family": "web", "dry_run": dry, "report_path": report,
		"keep_releases": 3, "min_age": "30d", "deprecate_after": "0s", "disable_after": "0s", "deregister_after": "0s",
		"subscription_id": azSub, "tenant_id": armemu.DefaultTenant, "client_id": armemu.DefaultClientID, "client_secret": armemu.DefaultClientSecret,
		"cloud_environment_name": armemu.CloudName, "metadata_host": e.host, "gallery_resource_group": azRG, "gallery_name": azGallery,
	}
}

type azStageResult struct {
	name                 string
	work                 azWork
	real, dry, serial    measured
	min, dryMin          map[string]int
	realRuns, serialRuns []time.Duration
}

type azResult struct {
	stages       []azStageResult
	date, commit string
	took         time.Duration
}

// azRunner measures the clients against ARM emulators.
type azRunner struct {
	t   *testing.T
	dir string
}

func (r *azRunner) measure(e *azEmu, role string, in any) measured {
	r.t.Helper()
	e.s.ResetCounters()
	emu := selfCPU()
	out, u, err := runChild(r.dir, role, in)
	if err != nil {
		r.t.Fatal(err)
	}
	m := measured{Wall: out.Wall, RSS: u.rss, CPU: u.cpu, Calls: map[string]int{}, Throttled: map[string]int{}, ByRegion: map[string]map[string]int{}}
	for a, n := range e.s.Calls() {
		m.Calls[strings.TrimPrefix(a, "Microsoft.Compute/")] += n
	}
	for _, c := range e.s.Journal() {
		if c.Status == http.StatusTooManyRequests {
			op := strings.TrimPrefix(c.Action, "Microsoft.Compute/")
			m.Calls[op]--
			m.Throttled[op]++
		}
	}
	m.EmuCPU = selfCPU() - emu
	return m
}

func azExpect(w azWork) map[string]int {
	n := len(azDefs)
	return map[string]int{azVersWrite: n * (w.deprecate + 2*w.disable), azVersDel: n * w.delete}
}

func (r *azRunner) sweep(runs int) *azResult {
	begin := time.Now()
	k := len(azStages)
	reals, drys, serials := make([][]measured, k), make([][]measured, k), make([][]measured, k)
	report := filepath.Join(r.dir, "report.json")
	for rep := range runs {
		e := r.fresh()
		r.seed(e, time.Now().UTC())
		after := make([]map[string]string, k)
		for i, st := range azStages {
			before := azState(e.s)
			d := r.measure(e, "azure-post-processor", azPPInput{PP: ppInput{Config: azSweepConfig(e, true, report), BuilderID: "null"}, CA: e.ca})
			expect(r.t, "azure "+st.name+" dry run", d, map[string]int{azVersWrite: 0, azVersDel: 0})
			sameState(r.t, "azure "+st.name+" dry run", before, azState(e.s))
			drys[i] = append(drys[i], d)
			m := r.measure(e, "azure-post-processor", azPPInput{PP: ppInput{Config: azSweepConfig(e, false, report), BuilderID: "null"}, CA: e.ca})
			expect(r.t, "azure "+st.name, m, azExpect(st.work))
			after[i] = azState(e.s)
			reals[i] = append(reals[i], m)
			r.t.Logf("azure %d %s: plugin %s (%d calls), dry run %s (%d calls)", rep+1, st.name, m.Wall, m.total(), d.Wall, d.total())
		}
		_ = e.stop()
		e = r.fresh()
		r.seed(e, time.Now().UTC())
		for i, st := range azStages {
			m := r.measure(e, "azure-serial", azSerialInput{Base: e.base, CA: e.ca, Family: "web", Policy: sweepPolicy()})
			expect(r.t, "azure "+st.name+" serial", m, azExpect(st.work))
			sameState(r.t, "azure "+st.name+" serial against the post-processor", after[i], azState(e.s))
			serials[i] = append(serials[i], m)
			r.t.Logf("azure %d %s: serial %s (%d calls)", rep+1, st.name, m.Wall, m.total())
		}
		_ = e.stop()
	}
	m := describeMachine()
	res := &azResult{date: begin.UTC().Format(time.RFC3339), commit: m.commit, took: time.Since(begin)}
	for i, st := range azStages {
		sr := azStageResult{name: st.name, work: st.work, real: fastest(reals[i]), dry: fastest(drys[i]), serial: fastest(serials[i]),
			min: azMinCalls(st.work, false), dryMin: azMinCalls(st.work, true)}
		for j := range reals[i] {
			sr.realRuns = append(sr.realRuns, reals[i][j].Wall)
			sr.serialRuns = append(sr.serialRuns, serials[i][j].Wall)
		}
		res.stages = append(res.stages, sr)
	}
	return res
}

// ---- the children

// azPPInput is a post-processor run on the ARM emulator, whose CA the
// child trusts through SSL_CERT_FILE (read at the first TLS handshake).
type azPPInput struct {
	PP ppInput `json:"pp"`
	CA string  `json:"ca"`
}

func runAzurePostProcessor(raw []byte) childOutput {
	var in azPPInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return childOutput{Err: err.Error()}
	}
	os.Setenv("SSL_CERT_FILE", in.CA)
	return postProcess(in.PP)
}

// azSerialInput is the Azure serial baseline's run.
type azSerialInput struct {
	Base, CA string
	Family   string
	Policy   lifecycle.Policy
}

// runAzureSerial is the serial baseline on ARM, the way an `az` script
// would do it with armcompute v7: one definition after another, one request
// in flight. It lists the gallery's definitions, then per definition lists
// its versions (paginated), plans with the same planner without usage,
// checks the usage of each version the plan would disable or delete (one
// listing of the subscription's VMs and one of its scale sets each), plans
// again with it, and makes per decision the writes the stage needs, each
// polled to its end: a PATCH (deprecate: excluded from latest, end of life
// now, stage tags), two PATCHes (disable: allow the withdrawal of
// replicated regions, then keep the home region only) or a DELETE.
func runAzureSerial(raw []byte) childOutput {
	var in azSerialInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return childOutput{Err: err.Error()}
	}
	pem, err := os.ReadFile(in.CA)
	if err != nil {
		return childOutput{Err: err.Error()}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	cc := cloud.Configuration{ActiveDirectoryAuthorityHost: in.Base, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: in.Base, Audience: in.Base}}}
	cred, err := azidentity.NewClientSecretCredential(armemu.DefaultTenant, armemu.DefaultClientID, armemu.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: policy.ClientOptions{Cloud: cc, Transport: hc}, DisableInstanceDiscovery: true})
	if err != nil {
		return childOutput{Err: err.Error()}
	}
	f, err := armcompute.NewClientFactory(azSub, cred, &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: cc, Transport: hc,
		Telemetry: policy.TelemetryOptions{ApplicationID: "plc-bench-serial"}}, DisableRPRegistration: true})
	if err != nil {
		return childOutput{Err: err.Error()}
	}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	var defs []string
	for p := f.NewGalleryImagesClient().NewListByGalleryPager(azRG, azGallery, nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return childOutput{Wall: time.Since(start), Err: err.Error()}
		}
		for _, d := range page.Value {
			defs = append(defs, *d.Name)
		}
	}
	for _, name := range defs {
		if err := azSerialDefinition(ctx, f, in, azDef(name), now); err != nil {
			return childOutput{Wall: time.Since(start), Err: fmt.Sprintf("%s: %v", name, err)}
		}
	}
	return childOutput{Wall: time.Since(start)}
}

func azSerialDefinition(ctx context.Context, f *armcompute.ClientFactory, in azSerialInput, d azurebackend.Definition, now time.Time) error {
	vc := f.NewGalleryImageVersionsClient()
	raw := map[string]*armcompute.GalleryImageVersion{}
	var imgs []lifecycle.Image
	latest, best := "", [3]int{-1}
	for p := vc.NewListByGalleryImagePager(d.ResourceGroup, d.Gallery, d.Image, nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing versions: %w", err)
		}
		for _, v := range page.Value {
			raw[*v.Name] = v
			pp := v.Properties.PublishingProfile
			img := lifecycle.Image{ID: *v.Name, Region: d.Key(), Name: *v.ID, Owner: azSub, State: lifecycle.StateAvailable, BuildTime: pp.PublishedDate.UTC()}
			if pp.EndOfLifeDate != nil {
				img.DeprecationTime = pp.EndOfLifeDate.UTC()
			}
			tags := map[string]string{}
			for k, t := range v.Tags {
				tags[k] = deref(t)
			}
			if tags[tagReplicas] != "" {
				img.State = lifecycle.StateDisabled
			}
			img, _ = lifecycle.FromTags(img, tags)
			img.Managed = lifecycle.IsManaged(tags, in.Policy.ManagedBy)
			if img.Family == in.Family {
				imgs = append(imgs, img)
			}
			var n [3]int
			if _, err := fmt.Sscanf(*v.Name, "%d.%d.%d", &n[0], &n[1], &n[2]); err == nil && (pp.ExcludeFromLatest == nil || !*pp.ExcludeFromLatest) &&
				(n[0] > best[0] || n[0] == best[0] && (n[1] > best[1] || n[1] == best[1] && n[2] > best[2])) {
				latest, best = *v.Name, n
			}
		}
	}
	usage := lifecycle.Usage{}
	for _, dd := range lifecycle.Plan(imgs, usage, in.Policy, now, nil) {
		if dd.Action != lifecycle.ActionDisable && dd.Action != lifecycle.ActionDeregister {
			continue
		}
		cs, err := azSerialUsage(ctx, f, d, dd.Image.ID, latest)
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			usage[dd.Image.Ref()] = cs
		}
	}
	poll := &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}
	update := func(id string, u armcompute.GalleryImageVersionUpdate) error {
		p, err := vc.BeginUpdate(ctx, d.ResourceGroup, d.Gallery, d.Image, id, u, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx, poll)
		}
		return err
	}
	for _, dd := range lifecycle.Plan(imgs, usage, in.Policy, now, nil) {
		if !dd.Action.Mutates() {
			continue
		}
		id, v := dd.Image.ID, raw[dd.Image.ID]
		tags := map[string]*string{}
		for k, t := range v.Tags {
			tags[k] = ptr(deref(t))
		}
		all := lifecycle.Tags(lifecycle.Apply(dd.Image, dd, now), "")
		tags[lifecycle.TagStage], tags[lifecycle.TagStageSince] = ptr(all[lifecycle.TagStage]), ptr(all[lifecycle.TagStageSince])
		var err error
		switch dd.Action {
		case lifecycle.ActionDeprecate:
			err = update(id, armcompute.GalleryImageVersionUpdate{Tags: tags, Properties: &armcompute.GalleryImageVersionProperties{
				PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{ExcludeFromLatest: ptr(true), EndOfLifeDate: &now}}})
		case lifecycle.ActionDisable:
			err = update(id, armcompute.GalleryImageVersionUpdate{Tags: v.Tags, Properties: &armcompute.GalleryImageVersionProperties{
				SafetyProfile: &armcompute.GalleryImageVersionSafetyProfile{AllowDeletionOfReplicatedLocations: ptr(true)}}})
			if err == nil {
				var withdrawn []string
				for _, t := range v.Properties.PublishingProfile.TargetRegions {
					if !strings.EqualFold(*t.Name, *v.Location) {
						withdrawn = append(withdrawn, *t.Name+"=1")
					}
				}
				tags[tagReplicas] = ptr(strings.Join(withdrawn, ","))
				err = update(id, armcompute.GalleryImageVersionUpdate{Tags: tags, Properties: &armcompute.GalleryImageVersionProperties{
					PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{TargetRegions: []*armcompute.TargetRegion{{Name: v.Location, RegionalReplicaCount: ptr(int32(1))}}}}})
			}
		case lifecycle.ActionDeregister:
			var p *runtime.Poller[armcompute.GalleryImageVersionsClientDeleteResponse]
			if p, err = vc.BeginDelete(ctx, d.ResourceGroup, d.Gallery, d.Image, id, nil); err == nil {
				_, err = p.PollUntilDone(ctx, poll)
			}
		default:
			err = fmt.Errorf("unexpected decision %s", dd.Action)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", dd.Action, id, err)
		}
	}
	return nil
}

// azSerialUsage asks who uses one version: the subscription's VMs and scale
// sets whose image reference is the version, or its definition when the
// version is the definition's latest or what they were made from.
func azSerialUsage(ctx context.Context, f *armcompute.ClientFactory, d azurebackend.Definition, version, latest string) ([]lifecycle.Consumer, error) {
	vid, did := d.VersionID(azSub, version), d.ID(azSub)
	uses := func(ir *armcompute.ImageReference) bool {
		return ir != nil && (strings.EqualFold(deref(ir.ID), vid) || strings.EqualFold(deref(ir.ID), did) && (version == latest || deref(ir.ExactVersion) == version))
	}
	var out []lifecycle.Consumer
	for p := f.NewVirtualMachinesClient().NewListAllPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing VMs: %w", err)
		}
		for _, vm := range page.Value {
			if vm.Properties != nil && vm.Properties.StorageProfile != nil && uses(vm.Properties.StorageProfile.ImageReference) {
				out = append(out, lifecycle.Consumer{Kind: lifecycle.ConsumerInstance, ID: *vm.ID})
			}
		}
	}
	for p := f.NewVirtualMachineScaleSetsClient().NewListAllPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing scale sets: %w", err)
		}
		for _, ss := range page.Value {
			if vp := ss.Properties.VirtualMachineProfile; vp != nil && vp.StorageProfile != nil && uses(vp.StorageProfile.ImageReference) {
				out = append(out, lifecycle.Consumer{Kind: azurebackend.ConsumerScaleSet, ID: *ss.ID})
			}
		}
	}
	return out, nil
}
