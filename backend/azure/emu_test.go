package azure

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

const (
	sub     = "00000000-0000-0000-0000-0000000000a1"
	rg      = "images"
	gallery = "team.gallery"
	home    = "westeurope"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// clockFunc lets the emulator read the test's clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// emu is an in-process ARM emulator, a transport that can break chosen
// requests, and backends talking to it.
type emu struct {
	t    *testing.T
	s    *armemu.Server
	base string
	tr   *breaker
	now  func() time.Time
	// builds counts the conformance suite's builds by family.
	builds map[string]int
}

func newEmu(t *testing.T, now func() time.Time, opts ...armemu.Option) *emu {
	// Tokens live longer than the tests move the clock: the credential
	// caches them by the real clock, the emulator checks them by its own.
	s := armemu.New(append([]armemu.Option{armemu.WithClock(clockFunc(now)), armemu.WithTokenLifetime(10 * 365 * 24 * time.Hour),
		// As on ARM, a write answers before it is done: the backend polls.
		armemu.WithOperationPolls(1)}, opts...)...)
	base, closeFn, err := s.Listen("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeFn() })
	s.PutGallery(sub, rg, gallery, home)
	return &emu{t: t, s: s, base: base, tr: &breaker{next: s.HTTPClient().Transport}, now: now}
}

// cloud is the emulator as a cloud configuration.
func (e *emu) cloud() cloud.Configuration {
	return cloud.Configuration{ActiveDirectoryAuthorityHost: e.base, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
		cloud.ResourceManager: {Endpoint: e.base, Audience: e.base}}}
}

// client reaches the emulator as a service principal; retries do not wait.
func (e *emu) client() Client {
	hc := &http.Client{Transport: e.tr}
	cred, err := azidentity.NewClientSecretCredential(armemu.DefaultTenant, armemu.DefaultClientID, armemu.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: policy.ClientOptions{Cloud: e.cloud(), Transport: hc}, DisableInstanceDiscovery: true})
	require.NoError(e.t, err)
	return Client{Credential: cred, Poll: time.Millisecond, Options: arm.ClientOptions{
		ClientOptions: policy.ClientOptions{Cloud: e.cloud(), Transport: hc,
			Retry: policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}},
		DisableRPRegistration: true}}
}

// backend is a backend on the emulator covering the test gallery.
func (e *emu) backend(opts Options) *Backend {
	if opts.Subscription == "" {
		opts.Subscription = sub
	}
	if opts.Galleries == nil {
		opts.Galleries = []Gallery{{ResourceGroup: rg, Name: gallery}}
	}
	opts.Client = e.client()
	be, err := New(opts, e.now)
	require.NoError(e.t, err)
	return be
}

// definition makes an image definition in the test gallery.
func (e *emu) definition(name string) Definition {
	e.s.PutImageDefinition(sub, rg, gallery, name, armcompute.GalleryImage{Location: to(home), Properties: &armcompute.GalleryImageProperties{
		OSType: to(armcompute.OperatingSystemTypesLinux), OSState: to(armcompute.OperatingSystemStateTypesGeneralized),
		Identifier: &armcompute.GalleryImageIdentifier{Publisher: to("team"), Offer: to(name), SKU: to("1")}}})
	return Definition{ResourceGroup: rg, Gallery: gallery, Image: name}
}

// version publishes a version as the azure-arm builder leaves it: in the
// home region and regions, no lifecycle tags.
func (e *emu) version(d Definition, v string, regions ...string) armcompute.GalleryImageVersion {
	targets := []*armcompute.TargetRegion{{Name: to(home), RegionalReplicaCount: to(int32(1))}}
	for _, r := range regions {
		targets = append(targets, &armcompute.TargetRegion{Name: to(r), RegionalReplicaCount: to(int32(2))})
	}
	return e.s.PutImageVersion(sub, d.ResourceGroup, d.Gallery, d.Image, v, armcompute.GalleryImageVersion{
		Location: to(home), Tags: map[string]*string{"team": to("web")},
		Properties: &armcompute.GalleryImageVersionProperties{
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{TargetRegions: targets, ReplicaCount: to(int32(1)),
				ExcludeFromLatest: to(false), StorageAccountType: to(armcompute.StorageAccountTypeStandardLRS)},
			StorageProfile: &armcompute.GalleryImageVersionStorageProfile{
				Source:      &armcompute.GalleryArtifactVersionFullSource{ID: to("/subscriptions/" + sub + "/resourceGroups/pkr/providers/Microsoft.Compute/virtualMachines/pkrvm")},
				OSDiskImage: &armcompute.GalleryOSDiskImage{SizeInGB: to(int32(30)), HostCaching: to(armcompute.HostCachingReadWrite)}},
		}})
}

// built is what NewReleases makes of the azure-arm artifact of version v.
func (e *emu) built(be *Backend, d Definition, family, v string) lifecycle.Image {
	imgs, err := be.NewReleases(fakeArtifact{id: d.VersionID(sub, v)},
		lifecycle.Image{Family: family, Version: v, Channel: "stable", ReleasedAt: e.now().Truncate(time.Second)})
	require.NoError(e.t, err)
	require.Len(e.t, imgs, 1)
	return imgs[0]
}

// get reads a version from the emulator's store.
func (e *emu) get(d Definition, v string) armcompute.GalleryImageVersion {
	got, ok := e.s.ImageVersion(d.VersionID(sub, v))
	require.True(e.t, ok, "version %s/%s exists", d.Key(), v)
	return got
}

// fakeArtifact is an azure-arm artifact as Packer hands it on.
type fakeArtifact struct {
	id, text string
	state    map[string]interface{}
}

func (a fakeArtifact) BuilderId() string { return BuilderID }
func (a fakeArtifact) Files() []string   { return nil }
func (a fakeArtifact) Id() string        { return a.id }
func (a fakeArtifact) String() string {
	if a.text != "" {
		return a.text
	}
	return "Azure.ResourceManagement.VMImage:\n\nOSType: Linux\nManagedImageSharedImageGalleryId: " + a.id + "\n"
}
func (a fakeArtifact) State(k string) interface{} { return a.state[k] }
func (a fakeArtifact) Destroy() error             { return nil }

// breaker fails requests that match a rule with a 403, without the
// emulator seeing them.
type breaker struct {
	next  http.RoundTripper
	mu    sync.Mutex
	rules []func(r *http.Request) bool
}

func (b *breaker) breakWhen(f func(r *http.Request) bool) {
	b.mu.Lock()
	b.rules = append(b.rules, f)
	b.mu.Unlock()
}

func (b *breaker) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	rules := b.rules
	b.mu.Unlock()
	for _, f := range rules {
		if f(r) {
			return &http.Response{StatusCode: 403, Status: "403 Forbidden", Header: http.Header{"Content-Type": {"application/json"}},
				Body: http.NoBody, Request: r}, nil
		}
	}
	return b.next.RoundTrip(r)
}

var ctx = context.Background()
