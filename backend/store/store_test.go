package store

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	awsbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/aws"
	azurebackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/azure"
	gcpbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/gcp"
)

func TestAutoPicksAWSForAmazonBuilders(t *testing.T) {
	for _, builder := range []string{"amazon-ebs", "amazon-ebssurrogate", "amazon-chroot", "amazon-instance"} {
		c := Config{}
		require.Empty(t, c.Prepare(builder))
		require.Equal(t, AWS, c.Backend, builder)
	}
	c := Config{}
	require.Empty(t, c.Prepare("qemu"))
	require.Equal(t, Local, c.Backend)

	ds := Config{}
	require.Empty(t, ds.Prepare(""))
	require.Equal(t, Local, ds.Backend, "the data source reads the local catalog unless AWS options say otherwise")
	ds = Config{AccessConfig: awsbackend.AccessConfig{Owners: []string{"123456789012"}}}
	require.Empty(t, ds.Prepare(""))
	require.Equal(t, AWS, ds.Backend)
}

func TestOpenReturnsTheAWSBackend(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	c := Config{Backend: AWS, AccessConfig: awsbackend.AccessConfig{Region: "eu-west-1", Regions: []string{"us-east-1"}}}
	require.Empty(t, c.Prepare("amazon-ebs"))
	be, err := Open(c, time.Now)
	require.NoError(t, err)
	require.Equal(t, "aws", be.Name())
	require.Equal(t, []string{"eu-west-1", "us-east-1"}, be.(*awsbackend.Backend).Regions())
}

func TestPrepareValidatesAWSOptions(t *testing.T) {
	c := Config{AccessConfig: awsbackend.AccessConfig{Region: "nowhere"}}
	errs := c.Prepare("amazon-ebs")
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], `region: "nowhere"`)
}

func TestAutoPicksGCPForGooglecompute(t *testing.T) {
	c := Config{}
	require.Empty(t, c.Prepare("googlecompute"))
	require.Equal(t, GCP, c.Backend)

	ds := Config{Access: gcpbackend.Access{ProjectID: "lifecycle-test"}}
	require.Empty(t, ds.Prepare(""))
	require.Equal(t, GCP, ds.Backend, "the data source reads GCP when a GCP option is set")

	both := Config{Access: gcpbackend.Access{ProjectID: "lifecycle-test"}, AccessConfig: awsbackend.AccessConfig{Region: "us-east-1"}}
	errs := both.Prepare("")
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "backend: both AWS options (region) and GCP options (project_id) are set")

	ds = Config{Backend: GCP}
	errs = ds.Prepare("")
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "project_id: must be set")
}

// An option of another backend is refused with its name: silently
// ignored, it would sweep something else than the user means.
func TestOptionsOfAnotherBackendAreRefused(t *testing.T) {
	for _, tc := range []struct {
		builder string
		c       Config
		want    string
	}{
		{"googlecompute", Config{AccessConfig: awsbackend.AccessConfig{Region: "us-east-1", Owners: []string{"self"}}}, "region, owners: AWS options, but backend is gcp"},
		{"googlecompute", Config{AccessConfig: awsbackend.AccessConfig{AccessKey: "AKID", SecretKey: "s"}}, "access_key, secret_key: AWS options, but backend is gcp"},
		{"googlecompute", Config{AccessConfig: awsbackend.AccessConfig{AssumeRole: awsbackend.AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/x"}}}, "assume_role: AWS options"},
		{"amazon-ebs", Config{Access: gcpbackend.Access{ProjectID: "lifecycle-test"}}, "project_id: GCP options, but backend is aws"},
		{"qemu", Config{Access: gcpbackend.Access{AccessToken: "s3cr3t-xyz"}}, "access_token: GCP options, but backend is local"},
		{"", Config{Backend: AWS, Access: gcpbackend.Access{CustomEndpoints: map[string]string{"compute": "http://127.0.0.1:1/"}}}, "custom_endpoints: GCP options, but backend is aws"},
	} {
		errs := tc.c.Prepare(tc.builder)
		require.NotEmpty(t, errs, tc.want)
		require.ErrorContains(t, errors.Join(errs...), tc.want)
		require.NotContains(t, errors.Join(errs...).Error(), "s3cr3t-xyz", "a token is never shown")
	}
	// max_retries and call_timeout serve both clouds.
	c := Config{AccessConfig: awsbackend.AccessConfig{MaxRetries: 4, CallTimeout: time.Minute}}
	require.Empty(t, c.Prepare("googlecompute"))
}

func TestGCPRefsAndOpen(t *testing.T) {
	c := Config{Backend: GCP, Access: gcpbackend.Access{ProjectID: "lifecycle-test", Projects: []string{"lifecycle-other"}, AccessToken: "dummy"}}
	require.Empty(t, c.Prepare("googlecompute"))
	require.NoError(t, c.CheckRef("web-1-0-0"))
	require.NoError(t, c.CheckRef("lifecycle-test:web-1-0-0"))
	require.Error(t, c.CheckRef("Web_1"))
	require.Error(t, c.CheckRef("example.com:proj:web"))
	be, err := Open(c, time.Now)
	require.NoError(t, err)
	require.Equal(t, "gcp", be.Name())
	require.Equal(t, []string{"lifecycle-other", "lifecycle-test"}, be.(*gcpbackend.Backend).Projects())
}

func TestAutoPicksAzureForAzureArm(t *testing.T) {
	c := Config{}
	require.Empty(t, c.Prepare("azure-arm"))
	require.Equal(t, Azure, c.Backend)

	sub := "00000000-0000-0000-0000-0000000000a1"
	ds := Config{Config: azurebackend.Config{SubscriptionID: sub, GalleryResourceGroup: "images", GalleryName: "gallery"}}
	require.Empty(t, ds.Prepare(""))
	require.Equal(t, Azure, ds.Backend, "the data source reads Azure when an Azure option is set")

	ds = Config{Config: azurebackend.Config{SubscriptionID: sub}}
	errs := ds.Prepare("")
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "subscription_id, gallery_resource_group, gallery_name: must be set with the azure backend")

	three := Config{Access: gcpbackend.Access{ProjectID: "lifecycle-test"}, AccessConfig: awsbackend.AccessConfig{Region: "us-east-1"},
		Config: azurebackend.Config{SubscriptionID: sub}}
	errs = three.Prepare("")
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "backend: AWS options (region), GCP options (project_id) and Azure options (subscription_id) are all set")

	gcp := Config{Backend: GCP, Access: gcpbackend.Access{ProjectID: "lifecycle-test"}, Config: azurebackend.Config{TenantID: "contoso.onmicrosoft.com"}}
	errs = gcp.Prepare("")
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "tenant_id: Azure options, but backend is gcp")

	az := Config{Backend: Azure, AccessConfig: awsbackend.AccessConfig{Region: "us-east-1"}}
	errs = az.Prepare("azure-arm")
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "region: AWS options, but backend is azure")

	az = Config{Backend: Azure}
	require.Empty(t, az.Prepare("azure-arm"))
	require.NoError(t, az.CheckRef("Images/Gallery/Web:1.2.3"))
	require.Equal(t, "images/gallery/web:1.2.3", az.NormalizeRef("Images/Gallery/Web:1.2.3"))
	require.ErrorContains(t, az.CheckRef("1.2"), `"1.2" is not a gallery image version`)
}
