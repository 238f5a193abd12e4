package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	azurebackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/azure"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

const (
	azureSub     = "00000000-0000-0000-0000-0000000000a1"
	azureRG      = "images"
	azureGallery = "team_gallery"
	azureHome    = "westeurope"
)

// azureRun is an ARM emulator with a fake clock on a TLS listener whose CA
// the plugin trusts (SSL_CERT_FILE), a gallery with the web definition,
// and a directory of templates.
type azureRun struct {
	t     *testing.T
	s     *armemu.Server
	base  string
	host  string // host:port, the metadata_host
	ca    string
	dir   string
	clock *armemu.FakeClock
	web   azurebackend.Definition
	crash crashPoint // at our plugin's mutating calls
}

func newAzureRun(t *testing.T, start time.Time, opts ...armemu.Option) *azureRun {
	a := &azureRun{t: t, clock: armemu.NewFakeClock(start), dir: t.TempDir()}
	// Every write is a long-running operation whose first poll answers
	// done: the plugin polls, and waits no poll interval (the backend's
	// tests cover operations still in progress).
	a.s = armemu.New(append([]armemu.Option{armemu.WithClock(a.clock)}, opts...)...)
	base, closeFn, err := a.s.ListenWith("127.0.0.1:0", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mutating := r.Method != http.MethodGet && r.Method != http.MethodHead &&
				strings.Contains(r.UserAgent(), "packer-plugin-lifecycle") && strings.HasPrefix(r.URL.Path, "/subscriptions/")
			a.crash.serve(h, w, r, mutating)
		})
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeFn() })
	a.base, a.host = base, strings.TrimSuffix(strings.TrimPrefix(base, "https://"), "/")
	a.ca = filepath.Join(a.dir, "ca.pem")
	require.NoError(t, os.WriteFile(a.ca, a.s.CACertPEM(), 0o644))
	a.s.PutGallery(azureSub, azureRG, azureGallery, azureHome)
	a.web = a.definition(azureSub, "web")
	for _, name := range []string{"sweep.pkr.hcl", "datasource.pkr.hcl"} {
		body, err := os.ReadFile(filepath.Join("testdata", "azure", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(a.dir, name), body, 0o644))
	}
	return a
}

func ptr[T any](v T) *T { return &v }

// definition puts a Generalized Linux image definition in the team gallery of sub.
func (a *azureRun) definition(sub, name string) azurebackend.Definition {
	a.s.PutImageDefinition(sub, azureRG, azureGallery, name, armcompute.GalleryImage{Location: ptr(azureHome),
		Properties: &armcompute.GalleryImageProperties{OSType: ptr(armcompute.OperatingSystemTypesLinux),
			OSState:    ptr(armcompute.OperatingSystemStateTypesGeneralized),
			Identifier: &armcompute.GalleryImageIdentifier{Publisher: ptr("team"), Offer: ptr(name), SKU: ptr("1")}}})
	return azurebackend.Definition{ResourceGroup: azureRG, Gallery: azureGallery, Image: name}
}

func (a *azureRun) env() []string {
	return []string{"PACKER_LIFECYCLE_NOW=" + a.clock.Now().Format(time.RFC3339), "SSL_CERT_FILE=" + a.ca}
}

func (a *azureRun) packer(template string, vars ...string) result {
	r := buildTemplate(a.t, a.dir, template, a.env(), a.clock.Now(),
		append([]string{"metadata_host=" + a.host, "cloud=" + armemu.CloudName}, vars...))
	noPublicAzure(a.t, r)
	return r
}

func (a *azureRun) sweep() result {
	a.t.Helper()
	r := a.packer("sweep.pkr.hcl")
	mustSucceed(a.t, r)
	return r
}

// release publishes version v of web as the azure-arm builder leaves it
// (home region and northeurope) and records it as the post-processor does
// after that builder, from the artifact the builder hands on, without
// running the builder (TestAzureArmBuilderPublishesAndRetires runs it):
// sweeps and the data source do not need a build.
func (a *azureRun) release(v string) { a.t.Helper(); a.releaseOf(azureSub, a.web, "web", v) }

// releaseOf is release for version v of definition d in sub, family
// family, built from parent (none when empty).
func (a *azureRun) releaseOf(sub string, d azurebackend.Definition, family, v string, parent ...string) {
	a.t.Helper()
	a.s.PutImageVersion(sub, d.ResourceGroup, d.Gallery, d.Image, v, armcompute.GalleryImageVersion{
		Location: ptr(azureHome),
		Properties: &armcompute.GalleryImageVersionProperties{
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{ReplicaCount: ptr(int32(1)), ExcludeFromLatest: ptr(false),
				TargetRegions: []*armcompute.TargetRegion{{Name: ptr(azureHome)}, {Name: ptr("northeurope")}}},
			StorageProfile: &armcompute.GalleryImageVersionStorageProfile{
				Source:      &armcompute.GalleryArtifactVersionFullSource{ID: ptr("/subscriptions/" + sub + "/resourceGroups/pkr-Resource-Group-x/providers/Microsoft.Compute/virtualMachines/pkrvmx")},
				OSDiskImage: &armcompute.GalleryOSDiskImage{SizeInGB: ptr(int32(30))}},
		}})
	cl := a.s.HTTPClient()
	cfg := cloud.Configuration{ActiveDirectoryAuthorityHost: a.base, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: a.base, Audience: a.base}}}
	cred, err := azidentity.NewClientSecretCredential(armemu.DefaultTenant, armemu.DefaultClientID, armemu.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: policy.ClientOptions{Cloud: cfg, Transport: cl}, DisableInstanceDiscovery: true})
	require.NoError(a.t, err)
	be, err := azurebackend.New(azurebackend.Options{Client: azurebackend.Client{Credential: cred, Poll: time.Millisecond,
		Options: arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: cfg, Transport: cl}, DisableRPRegistration: true}}}, a.clock.Now)
	require.NoError(a.t, err)
	id := d.VersionID(sub, v)
	imgs, err := be.NewReleases(azureArtifact{id: id}, lifecycle.Image{Family: family, Version: v, Channel: "stable", ReleasedAt: a.clock.Now(), Parent: strings.Join(parent, "")})
	require.NoError(a.t, err)
	for _, state := range []string{backend.StatePending, lifecycle.StateAvailable} {
		imgs[0].State = state
		r := be.Record(context.Background(), imgs, false)[0]
		require.NoError(a.t, r.Err)
		imgs[0] = r.Image
	}
}

// azureArtifact is the artifact azure-arm v1.4.5 hands on after a
// gallery-only build (wire notes §3): Id() is the version's id.
type azureArtifact struct{ id string }

func (a azureArtifact) BuilderId() string { return azurebackend.BuilderID }
func (a azureArtifact) Files() []string   { return nil }
func (a azureArtifact) Id() string        { return a.id }
func (a azureArtifact) String() string {
	return "Azure.ResourceManagement.VMImage:\n\nOSType: Linux\nManagedImageSharedImageGalleryId: " + a.id + "\n"
}
func (a azureArtifact) State(string) interface{} { return nil }
func (a azureArtifact) Destroy() error           { return nil }

// states maps each web version to its stage tag, what ARM shows of it
// (excluded from latest, replica regions), "gone" once deleted.
func (a *azureRun) states(versions ...string) map[string]string {
	out := map[string]string{}
	for _, v := range versions {
		got, ok := a.s.ImageVersion(a.web.VersionID(azureSub, v))
		if !ok {
			out[v] = "gone"
			continue
		}
		pp := got.Properties.PublishingProfile
		var regions []string
		for _, t := range pp.TargetRegions {
			regions = append(regions, *t.Name)
		}
		sort.Strings(regions)
		latest := "latest"
		if pp.ExcludeFromLatest != nil && *pp.ExcludeFromLatest {
			latest = "excluded"
		}
		out[v] = *got.Tags[lifecycle.TagStage] + "/" + latest + "/" + strings.Join(regions, ",")
	}
	return out
}

// ours is the journal of the plugin's own calls (its User-Agent names it).
func (a *azureRun) ours() []armemu.Call {
	var out []armemu.Call
	for _, c := range a.s.Journal() {
		if strings.Contains(c.Agent, "packer-plugin-lifecycle") {
			out = append(out, c)
		}
	}
	return out
}

// noPublicAzure fails when a run named a public Azure endpoint: every
// client must have gone to the emulator.
func noPublicAzure(t *testing.T, r result) {
	t.Helper()
	for _, host := range []string{"management.azure.com", "login.microsoftonline.com", "169.254.169.254"} {
		if strings.Contains(r.stdout+r.stderr, host) {
			t.Errorf("a run tried %s: %s", host, r)
		}
	}
}

// TestAzureLifecycleOverWeeks: weekly sweeps through the real Packer over
// simulated weeks, on a cloud read from metadata_host. A version a VM uses
// is never disabled while it does; a scale set that follows "latest" keeps
// the newest release; the others are excluded from latest with an end of
// life, then withdrawn to the home region, then deleted, a stage per delay;
// the data source hands out the newest supported release with the fields
// azure-arm's shared_image_gallery source takes. Every RBAC action the
// plugin used is in the documented table, and every one documented was
// used.
func TestAzureLifecycleOverWeeks(t *testing.T) {
	a := newAzureRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
	week := 7 * 24 * time.Hour
	versions := []string{"1.0.0", "1.1.0", "1.2.0"}
	for _, v := range versions {
		a.release(v)
		a.clock.Advance(week)
	}
	vm := a.s.PutVM(azureSub, "apps", "vm-1", azureHome, armcompute.ImageReference{ID: ptr(a.web.VersionID(azureSub, "1.0.0"))})
	a.s.PutScaleSet(azureSub, "apps", "ss-latest", azureHome, armcompute.ImageReference{ID: ptr(a.web.ID(azureSub))})
	a.s.ResetCounters()

	// A dry run says what the sweep would do and changes nothing.
	before := a.states(versions...)
	r := a.packer("sweep.pkr.hcl", "dry_run=true")
	mustSucceed(t, r)
	require.Equal(t, before, a.states(versions...))
	for _, c := range a.ours() {
		require.NotContains(t, []string{"PUT", "PATCH", "DELETE"}, c.Verb, "a dry run wrote: %+v", c)
	}

	r = a.sweep()
	mustContain(t, r.stdout, "excluded from latest")
	require.Equal(t, map[string]string{
		"1.0.0": "deprecated/excluded/northeurope,westeurope",
		"1.1.0": "deprecated/excluded/northeurope,westeurope",
		"1.2.0": "active/latest/northeurope,westeurope",
	}, a.states(versions...))
	eol := a.s.ImageVersions(azureSub, azureRG, azureGallery, "web")[0].Properties.PublishingProfile.EndOfLifeDate
	require.NotNil(t, eol)
	require.Equal(t, a.clock.Now().Truncate(time.Second), eol.UTC())

	a.clock.Advance(week)
	a.sweep()
	require.Equal(t, map[string]string{
		"1.0.0": "deprecated/excluded/northeurope,westeurope", // vm-1 uses it
		"1.1.0": "disabled/excluded/westeurope",
		"1.2.0": "active/latest/northeurope,westeurope",
	}, a.states(versions...))

	a.clock.Advance(week)
	a.s.DeleteVM(vm)
	a.sweep()
	require.Equal(t, map[string]string{
		"1.0.0": "disabled/excluded/westeurope",
		"1.1.0": "gone",
		"1.2.0": "active/latest/northeurope,westeurope",
	}, a.states(versions...))

	a.clock.Advance(week)
	a.sweep()
	require.Equal(t, "gone", a.states("1.0.0")["1.0.0"])

	seen := len(a.ours())
	r = a.packer("datasource.pkr.hcl")
	mustSucceed(t, r)
	// The data source needs only the two gallery read actions (docs).
	for _, c := range a.ours()[seen:] {
		if strings.HasPrefix(c.Action, "Microsoft.") {
			require.Contains(t, []string{"Microsoft.Compute/galleries/images/read", "Microsoft.Compute/galleries/images/versions/read"}, c.Action)
		}
	}
	mustContain(t, r.stdout, "version=1.2.0 id="+a.web.VersionID(azureSub, "1.2.0")+" rg=images gallery=team_gallery image=web sub="+azureSub)

	// RBAC: the actions used are exactly the documented ones.
	used := map[string]bool{}
	for _, c := range a.ours() {
		if strings.HasPrefix(c.Action, "Microsoft.") {
			used[c.Action] = true
		}
	}
	require.Equal(t, documentedRBAC(t), used)
}

// documentedRBAC reads the actions of the post-processor documentation's
// "RBAC actions" table.
func documentedRBAC(t *testing.T) map[string]bool {
	body, err := os.ReadFile(filepath.Join(repoRoot, "docs", "post-processors", "lifecycle.mdx"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(body), "### RBAC actions")
	require.True(t, ok, "the post-processor docs have an RBAC actions table")
	section, _, _ = strings.Cut(section, "\n#")
	out := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(Microsoft\\.[^`]+)`").FindAllStringSubmatch(section, -1) {
		out[m[1]] = true
	}
	require.NotEmpty(t, out)
	return out
}

// TestAzureExampleBuilds builds example/azure/web.pkr.hcl as its comment
// says, with the real azure-arm builder, from the base family's newest
// supported version that its data source reads (SSH on port 22 of the
// namespace's loopback, where every emulated VM answers); the release is
// recorded with that parent. The same template with a bad subscription is
// refused at validate, naming it.
func TestAzureExampleBuilds(t *testing.T) {
	a := newAzureRun(t, time.Now().UTC().Truncate(time.Second))
	base := a.definition(azureSub, "base")
	a.releaseOf(azureSub, base, "base", "2.0.0")
	a.clock.Advance(time.Hour)
	a.releaseOf(azureSub, base, "base", "2.1.0")
	_, closeSSH, err := a.s.ServeSSH("127.0.0.1:22")
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeSSH() })

	body, err := os.ReadFile(filepath.Join(repoRoot, "example", "azure", "web.pkr.hcl"))
	require.NoError(t, err)
	dir := template(t, "web.pkr.hcl", string(body))
	vars := []string{"-var", "client_id=" + armemu.DefaultClientID, "-var", "client_secret=" + armemu.DefaultClientSecret,
		"-var", "tenant_id=" + armemu.DefaultTenant, "-var", "cloud_environment_name=" + armemu.CloudName, "-var", "metadata_host=" + a.host}
	env := []string{"SSL_CERT_FILE=" + a.ca}
	r := packerEnv(dir, env, append([]string{"build", "-color=false", "-var", "subscription_id=" + azureSub, "-var", "release=1.4.2"}, append(vars, ".")...)...)
	noPublicAzure(t, r)
	mustSucceed(t, r)
	mustContain(t, r.stdout, "Connected to SSH!", "Recording web 1.4.2 (stable) in the azure backend")

	// The build VM started from base 2.1.0, the newest supported release.
	parent := base.VersionID(azureSub, "2.1.0")
	read := false // by azure-arm, whose autorest client names itself
	for _, c := range a.s.Journal() {
		read = read || strings.Contains(c.Agent, "go-autorest") && strings.EqualFold(c.Path, parent) && c.Verb == "GET"
	}
	require.True(t, read, "azure-arm read its source version %s", parent)
	got, ok := a.s.ImageVersion(a.web.VersionID(azureSub, "1.4.2"))
	require.True(t, ok)
	require.Equal(t, parent, *got.Tags[lifecycle.TagParent])
	require.Equal(t, "active", *got.Tags[lifecycle.TagStage])
	_, err = os.Stat(filepath.Join(dir, "lifecycle-report.json"))
	require.NoError(t, err)

	r = packerEnv(dir, env, append([]string{"validate", "-var", "subscription_id=production", "-var", "release=1.4.2"}, append(vars, ".")...)...)
	require.NotZero(t, r.code)
	mustContain(t, r.stdout+r.stderr, `subscription_id: "production" is not a subscription id`)
}
