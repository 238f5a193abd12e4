package armemu_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

var (
	t0  = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	sub = armemu.DefaultSubscriptions[0]
	ctx = context.Background()
	// fast polls: Retry-After 0 leaves the poller at this frequency.
	fast = &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}
)

const (
	rg      = "rg-images"
	gal     = "galLifecycle"
	def     = "ubuntu-22"
	locWE   = "westeurope"
	srcID   = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-build/providers/Microsoft.Compute/images/src"
	verRead = "Microsoft.Compute/galleries/images/versions/read"
	verWrit = "Microsoft.Compute/galleries/images/versions/write"
	verDel  = "Microsoft.Compute/galleries/images/versions/delete"
	opsRead = "Microsoft.Compute/locations/operations/read"
)

type env struct {
	t    *testing.T
	s    *armemu.Server
	clk  *armemu.FakeClock
	base string
	cfg  cloud.Configuration
	cred azcore.TokenCredential
}

func newEnv(t *testing.T, opts ...armemu.Option) *env {
	t.Helper()
	clk := armemu.NewFakeClock(t0)
	s := armemu.New(append([]armemu.Option{armemu.WithClock(clk)}, opts...)...)
	base, closeFn, err := s.Listen("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeFn() })
	e := &env{t: t, s: s, clk: clk, base: base}
	e.cfg = cloud.Configuration{ActiveDirectoryAuthorityHost: base,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: base, Audience: base}}}
	e.cred = e.credential(armemu.DefaultClientSecret, true)
	return e
}

func (e *env) credential(secret string, disableDiscovery bool) azcore.TokenCredential {
	e.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(armemu.DefaultTenant, armemu.DefaultClientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: e.cfg, Transport: e.s.HTTPClient(),
			Retry: policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond}},
		DisableInstanceDiscovery: disableDiscovery})
	require.NoError(e.t, err)
	return cred
}

// options are arm client options with tiny retry delays; MaxRetryDelay stays above
// the Retry-After: 1 a throttled answer carries, or azcore would not retry it.
func (e *env) options(maxRetries int32) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: e.cfg, Transport: e.s.HTTPClient(),
		Retry: policy.RetryOptions{MaxRetries: maxRetries, RetryDelay: time.Millisecond, MaxRetryDelay: 2 * time.Second}}}
}

func (e *env) galleries() *armcompute.GalleriesClient {
	c, err := armcompute.NewGalleriesClient(sub, e.cred, e.options(0))
	require.NoError(e.t, err)
	return c
}

func (e *env) images() *armcompute.GalleryImagesClient {
	c, err := armcompute.NewGalleryImagesClient(sub, e.cred, e.options(0))
	require.NoError(e.t, err)
	return c
}

func (e *env) versions() *armcompute.GalleryImageVersionsClient { return e.versionsWith(0) }

func (e *env) versionsWith(maxRetries int32) *armcompute.GalleryImageVersionsClient {
	c, err := armcompute.NewGalleryImageVersionsClient(sub, e.cred, e.options(maxRetries))
	require.NoError(e.t, err)
	return c
}

// seed makes the gallery and definition through the emulator's seeding API.
func (e *env) seed() {
	e.s.PutGallery(sub, rg, gal, locWE)
	e.s.PutImageDefinition(sub, rg, gal, def, armcompute.GalleryImage{Location: to.Ptr(locWE), Properties: &armcompute.GalleryImageProperties{
		OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
		Identifier: &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("lc"), Offer: to.Ptr("ubuntu"), SKU: to.Ptr("22")}}})
}

func versionBody(regions ...string) armcompute.GalleryImageVersion {
	v := armcompute.GalleryImageVersion{Location: to.Ptr(locWE), Properties: &armcompute.GalleryImageVersionProperties{
		StorageProfile:    &armcompute.GalleryImageVersionStorageProfile{Source: &armcompute.GalleryArtifactVersionFullSource{ID: to.Ptr(srcID)}},
		PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{}}}
	for _, r := range regions {
		v.Properties.PublishingProfile.TargetRegions = append(v.Properties.PublishingProfile.TargetRegions, &armcompute.TargetRegion{Name: to.Ptr(r)})
	}
	return v
}

// createVersion creates a version through the API and waits for it.
func (e *env) createVersion(name string, v armcompute.GalleryImageVersion) armcompute.GalleryImageVersion {
	e.t.Helper()
	p, err := e.versions().BeginCreateOrUpdate(ctx, rg, gal, def, name, v, nil)
	require.NoError(e.t, err)
	res, err := p.PollUntilDone(ctx, fast)
	require.NoError(e.t, err)
	return res.GalleryImageVersion
}

// requireARMError checks err is an *azcore.ResponseError with the status and ARM
// error code, and that the answer carries ARM's request-id headers.
func requireARMError(t *testing.T, err error, status int, code string) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, status, re.StatusCode, err.Error())
	require.Equal(t, code, re.ErrorCode, err.Error())
	if re.RawResponse != nil {
		require.NotEmpty(t, re.RawResponse.Header.Get("x-ms-request-id"))
		require.NotEmpty(t, re.RawResponse.Header.Get("x-ms-correlation-request-id"))
	}
	return re
}

// raw sends a request through an authenticated azcore ARM pipeline, for what the
// typed clients cannot send (a malformed date) or do not cover (subscriptions).
func (e *env) raw(method, path string, body string) (*http.Response, map[string]any) {
	e.t.Helper()
	cl, err := arm.NewClient("armemu.test", "v0.0.1", e.cred, e.options(-1))
	require.NoError(e.t, err)
	req, err := runtime.NewRequest(ctx, method, e.base+strings.TrimPrefix(path, "/"))
	require.NoError(e.t, err)
	if body != "" {
		require.NoError(e.t, req.SetBody(streaming(body), "application/json"))
	}
	resp, err := cl.Pipeline().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	var v map[string]any
	if len(b) > 0 && b[0] == '{' {
		require.NoError(e.t, json.Unmarshal(b, &v), string(b))
	}
	return resp, v
}

type rsc struct{ *strings.Reader }

func (rsc) Close() error { return nil }

func streaming(s string) rsc { return rsc{strings.NewReader(s)} }

// errorCode reads {"error":{"code"}} from a decoded body.
func errorCode(v map[string]any) string {
	if e, ok := v["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	return ""
}

// unauthenticated sends a request with only the emulator's CA, no token.
func (e *env) unauthenticated(method, path string, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+strings.TrimPrefix(path, "/"), nil)
	require.NoError(e.t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.s.HTTPClient().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp, b
}
