package azure

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

// The options as a template writes them, on a cloud read from
// metadata_host: the backend lists the gallery with a service principal.
func TestClientForACustomCloud(t *testing.T) {
	e := newEmu(t, func() time.Time { return t0 })
	d := e.definition("web")
	e.version(d, "1.0.0")
	host := strings.TrimSuffix(strings.TrimPrefix(e.base, "https://"), "/")
	c := Config{SubscriptionID: sub, ClientID: armemu.DefaultClientID, ClientSecret: armemu.DefaultClientSecret, TenantID: armemu.DefaultTenant,
		CloudEnvironmentName: strings.ToLower(armemu.CloudName), MetadataHost: host, GalleryResourceGroup: rg, GalleryName: gallery}
	require.Empty(t, c.Prepare())
	cl, err := ClientFor(ctx, c, Retry{MaxRetries: 1}, e.s.HTTPClient())
	require.NoError(t, err)
	require.Equal(t, e.base, cl.Options.Cloud.ActiveDirectoryAuthorityHost)
	be, err := New(Options{Subscription: sub, Galleries: []Gallery{{ResourceGroup: rg, Name: gallery}}, Client: cl}, e.now)
	require.NoError(t, err)
	l, err := be.List(ctx, backend.Query{Family: "web"})
	require.NoError(t, err)
	require.Empty(t, l.Failed)
	require.Empty(t, l.Images, "an untagged version is no release of web")
	require.Positive(t, e.s.Calls()["Microsoft.Compute/galleries/images/versions/read"])

	// A misspelt definition is a failed listing, never an empty one.
	typo, err := New(Options{Subscription: sub, Galleries: []Gallery{{ResourceGroup: rg, Name: gallery, Images: []string{"wbe"}}}, Client: cl}, e.now)
	require.NoError(t, err)
	l, err = typo.List(ctx, backend.Query{Family: "web"})
	require.NoError(t, err)
	require.Len(t, l.Failed, 1)
	require.ErrorContains(t, l.Failed[0].Err, "no image definition wbe in gallery "+gallery)

	c.CloudEnvironmentName = "AzureStackHub"
	_, err = ClientFor(ctx, c, Retry{}, e.s.HTTPClient())
	require.ErrorContains(t, err, `metadata_host: https://`+host+`/metadata/endpoints?api-version=2020-06-01: no cloud named "AzureStackHub" (the document has `+armemu.CloudName+`)`)

	c.MetadataHost = "127.0.0.1:1"
	_, err = ClientFor(ctx, c, Retry{}, e.s.HTTPClient())
	require.ErrorContains(t, err, "azure: metadata_host: https://127.0.0.1:1/metadata/endpoints")

	c.ClientSecret = "wrong-secret"
	c.MetadataHost, c.CloudEnvironmentName = host, armemu.CloudName
	cl, err = ClientFor(ctx, c, Retry{MaxRetries: 1}, e.s.HTTPClient())
	require.NoError(t, err, "nothing is contacted for a token before a call")
	be, err = New(Options{Subscription: sub, Galleries: []Gallery{{ResourceGroup: rg, Name: gallery}}, Client: cl}, e.now)
	require.NoError(t, err)
	l, err = be.List(ctx, backend.Query{Family: "web"})
	require.NoError(t, err)
	require.NotEmpty(t, l.Failed, "a credential refused fails the listing, loudly")
	require.NotContains(t, l.Failed[0].Err.Error(), "wrong-secret", "the secret is never shown")
	require.Contains(t, l.Failed[0].Err.Error(), "AADSTS7000215")
}

// The built-in clouds need no document.
func TestClientForBuiltInClouds(t *testing.T) {
	for name, host := range map[string]string{"": "https://login.microsoftonline.com/", "AzureUSGovernmentCloud": "https://login.microsoftonline.us/", "china": "https://login.chinacloudapi.cn/"} {
		cl, err := ClientFor(ctx, Config{CloudEnvironmentName: name, UseAzureCLIAuth: true}, Retry{}, nil)
		require.NoError(t, err)
		require.Equal(t, host, cl.Options.Cloud.ActiveDirectoryAuthorityHost, name)
	}
}
