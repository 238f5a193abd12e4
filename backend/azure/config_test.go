package azure

import (
	"cmp"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testSub    = "00000000-0000-0000-0000-0000000000a1"
	testClient = "00000000-0000-0000-0000-0000000000c1"
	testTenant = "00000000-0000-0000-0000-00000000c0de"
)

func TestPrepareRefusesBadAccessOptions(t *testing.T) {
	// sp completes a service principal around the field under test.
	sp := func(c Config) Config {
		c.ClientID, c.ClientSecret, c.TenantID = cmp.Or(c.ClientID, testClient), cmp.Or(c.ClientSecret, "s3cr3t-pw"), cmp.Or(c.TenantID, testTenant)
		return c
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"subscription a name", Config{SubscriptionID: "Production"}, `subscription_id: "Production" is not a subscription id`},
		{"subscription without dashes", Config{SubscriptionID: "00000000000000000000000000000a1"}, "subscription_id:"},
		{"client id a name", sp(Config{ClientID: "packer"}), `client_id: "packer" is not an application (client) id`},
		{"tenant with a space", sp(Config{TenantID: "contoso tenant"}), `tenant_id: "contoso tenant" is not a tenant id`},
		{"secret without tenant", Config{ClientID: testClient, ClientSecret: "s3cr3t-pw"}, "tenant_id: a service principal needs client_id, client_secret and tenant_id"},
		{"client id alone", Config{ClientID: testClient, TenantID: testTenant}, "client_secret: a service principal needs"},
		{"secret alone", Config{ClientSecret: "s3cr3t-pw"}, "client_id, tenant_id: a service principal needs"},
		{"secret of two lines", sp(Config{ClientSecret: "s3cr3t-pw\nline"}), "client_secret: must be one line (the value is not shown"},
		{"cli and a secret", sp(Config{UseAzureCLIAuth: true}), "use_azure_cli_auth: the Azure CLI's account is used"},
		{"cli and a tenant", Config{UseAzureCLIAuth: true, TenantID: testTenant}, "use_azure_cli_auth:"},
		{"German cloud", Config{CloudEnvironmentName: "AzureGermanCloud"}, `cloud_environment_name: "AzureGermanCloud" is not Public, USGovernment or China; a custom cloud needs metadata_host`},
		{"metadata host a URL", Config{CloudEnvironmentName: "Stack", MetadataHost: "https://management.local"}, `metadata_host: "https://management.local" must be a host or host:port`},
		{"metadata host with a path", Config{CloudEnvironmentName: "Stack", MetadataHost: "management.local/metadata"}, "metadata_host:"},
		{"metadata host bad port", Config{CloudEnvironmentName: "Stack", MetadataHost: "management.local:https"}, `metadata_host: "management.local:https" has a bad port`},
		{"metadata host for the public cloud", Config{CloudEnvironmentName: "Public", MetadataHost: "management.local"}, "cloud_environment_name: with metadata_host, name the cloud"},
		{"metadata host without a cloud", Config{MetadataHost: "management.local"}, "cloud_environment_name: with metadata_host"},
		{"gallery without a resource group", Config{GalleryName: "images"}, "gallery_resource_group, gallery_name: set both"},
		{"image names without a gallery", Config{GalleryImageNames: []string{"web"}}, "gallery_resource_group, gallery_name: set both"},
		{"resource group with a space", Config{GalleryResourceGroup: "my images", GalleryName: "gallery"}, `gallery_resource_group: "my images" is not a resource group name`},
		{"resource group ending with a dot", Config{GalleryResourceGroup: "images.", GalleryName: "gallery"}, "gallery_resource_group:"},
		{"resource group with a slash", Config{GalleryResourceGroup: "a/b", GalleryName: "gallery"}, "gallery_resource_group:"},
		{"gallery with a dash", Config{GalleryResourceGroup: "images", GalleryName: "my-gallery"}, `gallery_name: "my-gallery" is not a gallery name`},
		{"gallery of 81", Config{GalleryResourceGroup: "images", GalleryName: strings.Repeat("g", 81)}, "gallery_name:"},
		{"image name with a colon", Config{GalleryResourceGroup: "images", GalleryName: "gallery", GalleryImageNames: []string{"web:1"}}, `gallery_image_names[0]: "web:1" is not an image definition name`},
		{"image name twice", Config{GalleryResourceGroup: "images", GalleryName: "gallery", GalleryImageNames: []string{"Web", "web"}}, `gallery_image_names[1]: "web" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.c.Prepare()
			require.NotEmpty(t, errs)
			msg := errors.Join(errs...).Error()
			require.Contains(t, msg, tc.want)
			require.NotContains(t, msg, "s3cr3t-pw", "a secret is never shown")
		})
	}
}

func TestPrepareAcceptsAzureArmStyleOptions(t *testing.T) {
	for _, c := range []Config{
		{},
		{SubscriptionID: testSub, ClientID: testClient, ClientSecret: "x", TenantID: testTenant},
		{SubscriptionID: testSub, ClientID: testClient, ClientSecret: "x", TenantID: "contoso.onmicrosoft.com"},
		{UseAzureCLIAuth: true, CloudEnvironmentName: "AzureUSGovernmentCloud"},
		{CloudEnvironmentName: "china"},
		{CloudEnvironmentName: "AzureStackHub", MetadataHost: "management.local.azurestack.external:443"},
		{GalleryResourceGroup: "Images-RG(prod)", GalleryName: "team.gallery_1", GalleryImageNames: []string{"web-base", "api_2.x"}},
	} {
		require.Empty(t, c.Prepare(), "%+v", c)
	}
}

func TestRefs(t *testing.T) {
	for _, ok := range []string{"1.2.3", "0.0.0", "2147483647.0.1", "images/gallery/web:1.0.0", "Images-RG/Team.Gallery/Web_Base:10.20.30"} {
		require.NoError(t, CheckRef(ok), ok)
	}
	for _, bad := range []string{"1.2", "1.2.3.4", "01.2.3", "1.2.3-rc", "2147483648.0.0", "v1.2.3", "gallery/web:1.0.0", "a/b/c/d:1.0.0",
		"images/my-gallery/web:1.0.0", "images/gallery/web:latest", "/subscriptions/x"} {
		require.Error(t, CheckRef(bad), bad)
	}
	require.Equal(t, "images/gallery/web:1.0.0", NormalizeRef("Images/Gallery/Web:1.0.0"))
	require.Equal(t, "1.0.0", NormalizeRef("1.0.0"))
}

func TestParseVersionID(t *testing.T) {
	id := "/subscriptions/" + testSub + "/resourceGroups/Images/providers/Microsoft.Compute/galleries/Gal/images/Web/versions/1.2.3"
	v, err := parseVersionID(id)
	require.NoError(t, err)
	require.Equal(t, Version{Subscription: testSub, Definition: Definition{"Images", "Gal", "Web"}, Version: "1.2.3"}, v)
	require.Equal(t, "images/gal/web", v.Definition.Key())
	require.Equal(t, id, v.Definition.VersionID(testSub, "1.2.3"))
	for _, bad := range []string{"", "1.2.3", "/subscriptions/" + testSub + "/resourceGroups/Images/providers/Microsoft.Compute/galleries/Gal/images/Web",
		"/subscriptions/" + testSub + "/resourceGroups/Images/providers/Microsoft.Compute/images/Web",
		"/subscriptions/not-a-guid/resourceGroups/Images/providers/Microsoft.Compute/galleries/Gal/images/Web/versions/1.2.3",
		"/subscriptions/" + testSub + "/resourceGroups/Images/providers/Microsoft.Compute/galleries/Gal/images/Web/versions/latest"} {
		_, err := parseVersionID(bad)
		require.Error(t, err, bad)
	}
	sub, d, ver, ok := definitionOf("/subscriptions/" + testSub + "/resourceGroups/Images/providers/Microsoft.Compute/galleries/Gal/images/Web")
	require.True(t, ok)
	require.Equal(t, testSub, sub)
	require.Equal(t, "images/gal/web", d.Key())
	require.Empty(t, ver)
	_, _, _, ok = definitionOf("/subscriptions/" + testSub + "/providers/Microsoft.Compute/locations/westeurope/publishers/Canonical/artifacttypes/vmimage/offers/ubuntu/skus/22_04/versions/latest")
	require.False(t, ok)
}
