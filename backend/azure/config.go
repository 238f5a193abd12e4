//go:generate packer-sdc struct-markdown

package azure

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is how the Azure backend reaches Compute Galleries, with the
// azure-arm builder's option names, plus which gallery it covers. Nothing is
// contacted before a build runs: `packer validate` only checks the values.
type Config struct {
	// The subscription whose gallery image versions are recorded and
	// retired. The post-processor reads it from the build's gallery image
	// version id when it is not set; the data source and a sweep need it.
	SubscriptionID string `mapstructure:"subscription_id"`
	// The application (client) id of a service principal; with
	// `client_secret` and `tenant_id`. Without any of them the backend uses
	// azidentity's default chain: environment (`AZURE_CLIENT_ID`, …),
	// workload identity, managed identity, then the Azure CLI.
	ClientID string `mapstructure:"client_id"`
	// The service principal's secret. It is a secret: never shown.
	ClientSecret string `mapstructure:"client_secret"`
	// The Entra ID tenant of the service principal (a GUID, or a domain
	// such as contoso.onmicrosoft.com).
	TenantID string `mapstructure:"tenant_id"`
	// Authenticate as the Azure CLI's signed-in account (`az login`), as
	// azure-arm does: `az account get-access-token` is run for every token.
	UseAzureCLIAuth bool `mapstructure:"use_azure_cli_auth"`
	// The cloud: `Public` (default), `USGovernment` or `China` (also their
	// azure-arm spellings `AzurePublicCloud`, `AzureUSGovernmentCloud`,
	// `AzureChinaCloud`), or the name of a cloud that `metadata_host`
	// describes (Azure Stack Hub, a sovereign or private cloud).
	CloudEnvironmentName string `mapstructure:"cloud_environment_name"`
	// The host (host[:port]) serving the cloud's ARM metadata document
	// (`https://HOST/metadata/endpoints?api-version=2020-06-01`), for a
	// cloud that is not a built-in one; read when a run starts, never at
	// validate.
	MetadataHost string `mapstructure:"metadata_host"`
	// The resource group of the gallery whose image versions are swept and
	// read. The post-processor also covers the gallery the build published
	// to (`shared_image_gallery_destination`).
	GalleryResourceGroup string `mapstructure:"gallery_resource_group"`
	// The Compute Gallery (with `gallery_resource_group`).
	GalleryName string `mapstructure:"gallery_name"`
	// The image definitions of the gallery to cover. Defaults to every
	// definition in it: versions are matched to the family by their
	// `lifecycle:family` tag, so one definition may hold one family or
	// several.
	GalleryImageNames []string `mapstructure:"gallery_image_names"`
}

// Defaults of max_retries and call_timeout (options shared with the other
// cloud backends).
const (
	DefaultMaxRetries  = 10
	DefaultCallTimeout = 60 * time.Second
)

// Azure's naming rules (Microsoft.Compute and Microsoft.Resources): refs
// are "resource-group/gallery/image:version", so none may hold a ':' or '/'.
var (
	guidRE          = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	resourceGroupRE = regexp.MustCompile(`^[-\w._()]{0,89}[-\w_()]$`)
	galleryRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.]{0,78}[A-Za-z0-9]$|^[A-Za-z0-9]$`)
	imageRE         = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_.]{0,78}[A-Za-z0-9]$|^[A-Za-z0-9]$`)
	versionRE       = regexp.MustCompile(`^(0|[1-9][0-9]{0,9})\.(0|[1-9][0-9]{0,9})\.(0|[1-9][0-9]{0,9})$`)
	tenantDomainRE  = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9]{0,62}(\.[A-Za-z0-9][-A-Za-z0-9]{0,62})+$`)
)

// clouds are the built-in clouds by their names in lower case.
var clouds = map[string]string{
	"public": "public", "azurepubliccloud": "public",
	"usgovernment": "usgovernment", "azureusgovernmentcloud": "usgovernment",
	"china": "china", "azurechinacloud": "china",
}

// Set says whether any Azure option was given.
func (c *Config) Set() bool { return len(c.SetFields()) > 0 }

// SetFields names the Azure options given, for the error about options of
// another backend.
func (c *Config) SetFields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"subscription_id", c.SubscriptionID != ""}, {"client_id", c.ClientID != ""}, {"client_secret", c.ClientSecret != ""},
		{"tenant_id", c.TenantID != ""}, {"use_azure_cli_auth", c.UseAzureCLIAuth},
		{"cloud_environment_name", c.CloudEnvironmentName != ""}, {"metadata_host", c.MetadataHost != ""},
		{"gallery_resource_group", c.GalleryResourceGroup != ""}, {"gallery_name", c.GalleryName != ""},
		{"gallery_image_names", len(c.GalleryImageNames) > 0},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// CheckSubscription says why s is not a subscription id.
func CheckSubscription(s string) error {
	if !guidRE.MatchString(s) {
		return fmt.Errorf("%q is not a subscription id (a GUID like 00000000-0000-0000-0000-000000000000)", clip(s))
	}
	return nil
}

// CheckResourceGroup says why s is not a resource group name.
func CheckResourceGroup(s string) error {
	if !resourceGroupRE.MatchString(s) {
		return fmt.Errorf("%q is not a resource group name (1 to 90 letters, digits, '-', '_', '.', '(' or ')', not ending with '.')", clip(s))
	}
	return nil
}

// CheckGallery says why s is not a gallery name.
func CheckGallery(s string) error {
	if !galleryRE.MatchString(s) {
		return fmt.Errorf("%q is not a gallery name (1 to 80 letters, digits, '_' or '.', starting and ending with a letter or digit)", clip(s))
	}
	return nil
}

// CheckImage says why s is not an image definition name.
func CheckImage(s string) error {
	if !imageRE.MatchString(s) {
		return fmt.Errorf("%q is not an image definition name (1 to 80 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)", clip(s))
	}
	return nil
}

// CheckVersion says why s is not a gallery image version name: Azure's
// Major.Minor.Patch, each a 32-bit integer.
func CheckVersion(s string) error {
	m := versionRE.FindStringSubmatch(s)
	ok := m != nil
	for i := 1; ok && i < len(m); i++ {
		var n uint64
		fmt.Sscan(m[i], &n)
		ok = n <= 1<<31-1
	}
	if !ok {
		return fmt.Errorf("%q is not a gallery image version (Major.Minor.Patch, each an integer up to 2147483647)", clip(s))
	}
	return nil
}

// CheckRef checks a release reference as `restore`, `pin_releases` and
// `unpin_releases` take it on Azure: a version (in every covered image
// definition) or resource-group/gallery/image:version.
func CheckRef(s string) error {
	key, v, ok := strings.Cut(s, ":")
	if !ok {
		return CheckVersion(s)
	}
	if err := CheckVersion(v); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	if _, err := parseKey(key); err != nil {
		return fmt.Errorf("%q: %w (want resource-group/gallery/image:version)", s, err)
	}
	return nil
}

// NormalizeRef spells a reference as refs are compared: ARM names are
// case-insensitive, so the definition part is in lower case.
func NormalizeRef(s string) string {
	if key, v, ok := strings.Cut(s, ":"); ok {
		return strings.ToLower(key) + ":" + v
	}
	return s
}

// Prepare checks the values; every error names its field and none shows a
// secret. Nothing is contacted.
func (c *Config) Prepare() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.SubscriptionID != "" {
		if err := CheckSubscription(c.SubscriptionID); err != nil {
			bad("subscription_id: %v", err)
		}
	}
	if c.ClientID != "" && !guidRE.MatchString(c.ClientID) {
		bad("client_id: %q is not an application (client) id (a GUID)", clip(c.ClientID))
	}
	if c.TenantID != "" && !guidRE.MatchString(c.TenantID) && !tenantDomainRE.MatchString(c.TenantID) {
		bad("tenant_id: %q is not a tenant id (a GUID, or a domain such as contoso.onmicrosoft.com)", clip(c.TenantID))
	}
	if strings.ContainsAny(c.ClientSecret, "\r\n") {
		bad("client_secret: must be one line (the value is not shown: it is a secret)")
	}
	secret := c.ClientID != "" || c.ClientSecret != ""
	switch {
	case c.UseAzureCLIAuth && (secret || c.TenantID != ""):
		bad("use_azure_cli_auth: the Azure CLI's account is used; do not set client_id, client_secret or tenant_id with it")
	case secret && (c.ClientID == "" || c.ClientSecret == "" || c.TenantID == ""):
		var missing []string
		for _, f := range []struct{ name, v string }{{"client_id", c.ClientID}, {"client_secret", c.ClientSecret}, {"tenant_id", c.TenantID}} {
			if f.v == "" {
				missing = append(missing, f.name)
			}
		}
		bad("%s: a service principal needs client_id, client_secret and tenant_id", strings.Join(missing, ", "))
	}
	name := strings.ToLower(c.CloudEnvironmentName)
	_, builtin := clouds[name]
	switch {
	case c.MetadataHost != "":
		if err := checkHost(c.MetadataHost); err != nil {
			bad("metadata_host: %v", err)
		}
		if c.CloudEnvironmentName == "" || builtin {
			bad("cloud_environment_name: with metadata_host, name the cloud the metadata document describes (not a built-in cloud, whose endpoints are known)")
		}
	case c.CloudEnvironmentName != "" && !builtin:
		bad("cloud_environment_name: %q is not Public, USGovernment or China; a custom cloud needs metadata_host", clip(c.CloudEnvironmentName))
	}
	if c.GalleryResourceGroup != "" || c.GalleryName != "" || len(c.GalleryImageNames) > 0 {
		if c.GalleryResourceGroup == "" || c.GalleryName == "" {
			bad("gallery_resource_group, gallery_name: set both (and gallery_image_names only with them)")
		}
	}
	if c.GalleryResourceGroup != "" {
		if err := CheckResourceGroup(c.GalleryResourceGroup); err != nil {
			bad("gallery_resource_group: %v", err)
		}
	}
	if c.GalleryName != "" {
		if err := CheckGallery(c.GalleryName); err != nil {
			bad("gallery_name: %v", err)
		}
	}
	seen := map[string]bool{}
	for i, n := range c.GalleryImageNames {
		if err := CheckImage(n); err != nil {
			bad("gallery_image_names[%d]: %v", i, err)
		} else if seen[strings.ToLower(n)] {
			bad("gallery_image_names[%d]: %q is listed twice (names are case-insensitive)", i, n)
		}
		seen[strings.ToLower(n)] = true
	}
	return errs
}

// checkHost checks a host[:port] without scheme, path or credentials.
func checkHost(h string) error {
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/@?# ") {
		return fmt.Errorf("%q must be a host or host:port (the document is fetched over https)", clip(h))
	}
	host := h
	if hh, port, err := net.SplitHostPort(h); err == nil {
		host = hh
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return fmt.Errorf("%q has a bad port", clip(h))
		}
	}
	if host == "" {
		return fmt.Errorf("%q has no host", clip(h))
	}
	return nil
}

// Gallery is the gallery the options name, and whether they name one.
func (c *Config) Gallery() (Gallery, bool) {
	if c.GalleryResourceGroup == "" || c.GalleryName == "" {
		return Gallery{}, false
	}
	return Gallery{ResourceGroup: c.GalleryResourceGroup, Name: c.GalleryName, Images: slices.Clone(c.GalleryImageNames)}, true
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
