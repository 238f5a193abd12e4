//go:generate packer-sdc struct-markdown

// Package store is where a template says images live: the backend options
// both components share (declared once, squash-embedded into each) and the
// one factory that turns them into a backend.Backend.
package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	awsbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/aws"
	azurebackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/azure"
	gcpbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/gcp"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/local"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Backend names accepted by `backend`.
const (
	Auto  = "auto"
	Local = "local"
	AWS   = "aws"
	GCP   = "gcp"
	Azure = "azure"
)

// amazonBuilders are the builder types whose artifacts are AMIs.
var amazonBuilders = map[string]bool{
	"amazon-ebs": true, "amazon-ebssurrogate": true, "amazon-chroot": true, "amazon-instance": true,
}

// Config says where images live.
type Config struct {
	// Where images live: `local` (a catalog beside file artifacts), `aws`
	// (AMIs, tagged in every region the build produced), `gcp` (Compute
	// Engine images, labelled in their project), `azure` (Compute Gallery
	// image versions, tagged) or `auto`: the post-processor picks `aws`
	// after an amazon builder (`amazon-ebs`, `amazon-ebssurrogate`,
	// `amazon-chroot`, `amazon-instance`), `gcp` after `googlecompute`,
	// `azure` after `azure-arm` and `local` after any other; the data
	// source picks `aws` when an AWS option (`region`, `owners`, …) is set,
	// `gcp` when a GCP option (`project_id`, …) is, `azure` when an Azure
	// option (`subscription_id`, `gallery_name`, …) is, and `local`
	// otherwise.
	// `packer validate` already says which one a build uses. Defaults to
	// `auto`.
	Backend string `mapstructure:"backend"`
	// Directory of the local catalog. Defaults to `.packer-lifecycle` in the
	// current directory. Artifact files must lie under its parent directory.
	CatalogDir string `mapstructure:"catalog_dir"`
	// The marker written on every image this plugin records; images without
	// it are never retired, and the data source only returns images with
	// it. Two teams sharing a catalog or an account use two markers.
	// Defaults to `packer-plugin-lifecycle`.
	ManagedBy string `mapstructure:"managed_by"`

	// The AWS backend's access options (amazon plugin names).
	awsbackend.AccessConfig `mapstructure:",squash"`
	// The GCP backend's access options (googlecompute plugin names).
	gcpbackend.Access `mapstructure:",squash"`
	// The Azure backend's access options (azure-arm plugin names) and its
	// gallery.
	azurebackend.Config `mapstructure:",squash"`
}

// Prepare sets the defaults and resolves `auto` from the type of the
// builder whose artifact the post-processor receives (empty for the data
// source). Every error names its field. Nothing is touched.
func (c *Config) Prepare(builderType string) []error {
	if c.Backend == "" {
		c.Backend = Auto
	}
	if c.CatalogDir == "" {
		c.CatalogDir = local.DefaultDir
	}
	c.CatalogDir = filepath.Clean(c.CatalogDir)
	if c.ManagedBy == "" {
		c.ManagedBy = lifecycle.DefaultManagedBy
	}
	var errs []error
	awsSet, gcpSet, azureSet := c.AccessConfig.Set(), c.GCP().Set(), c.Azure().Set()
	awsOnly := len(awsFields(c.AccessConfig)) > 0
	if c.Backend == Auto {
		var set, named []string
		for _, b := range []struct {
			name, label string
			fields      []string
		}{{AWS, "AWS", awsFields(c.AccessConfig)}, {GCP, "GCP", c.GCP().SetFields()}, {Azure, "Azure", c.Azure().SetFields()}} {
			if len(b.fields) > 0 {
				set = append(set, b.name)
				named = append(named, fmt.Sprintf("%s options (%s)", b.label, strings.Join(b.fields, ", ")))
			}
		}
		if len(set) == 0 && awsSet {
			set = []string{AWS} // max_retries or call_timeout alone: as before there were other clouds
		}
		switch {
		case amazonBuilders[builderType]:
			c.Backend = AWS
		case builderType == "googlecompute":
			c.Backend = GCP
		case builderType == "azure-arm":
			c.Backend = Azure
		case builderType == "" && len(set) > 1:
			both := "both " + strings.Join(named, " and ") + " are set"
			if len(named) > 2 {
				both = strings.Join(named[:len(named)-1], ", ") + " and " + named[len(named)-1] + " are all set"
			}
			errs = append(errs, fmt.Errorf("backend: %s: say which backend with backend = %q", both, set[0]))
		case builderType == "" && len(set) == 1:
			c.Backend = set[0]
		default:
			c.Backend = Local
		}
	}
	switch c.Backend {
	case Local, AWS, GCP, Azure, Auto:
	default:
		errs = append(errs, fmt.Errorf("backend: %q is not one of auto, local, aws, gcp, azure", c.Backend))
	}
	// Options of another backend are refused: they would be silently
	// ignored, and a template that means GCP but says region = … would
	// sweep nothing the user expects.
	if (c.Backend == GCP || c.Backend == Azure) && awsOnly {
		errs = append(errs, fmt.Errorf("%s: AWS options, but backend is %s", strings.Join(awsFields(c.AccessConfig), ", "), c.Backend))
	}
	if c.Backend != Azure && c.Backend != Auto && azureSet {
		errs = append(errs, fmt.Errorf("%s: Azure options, but backend is %s", strings.Join(c.Azure().SetFields(), ", "), c.Backend))
	}
	if c.Backend != GCP && c.Backend != Auto && gcpSet {
		errs = append(errs, fmt.Errorf("%s: GCP options, but backend is %s", strings.Join(c.GCP().SetFields(), ", "), c.Backend))
	}
	errs = append(errs, c.AccessConfig.Prepare()...)
	if c.Backend == GCP {
		errs = append(errs, c.GCP().Prepare()...)
		if c.ManagedBy != "" {
			if err := gcpbackend.CheckLabelValue("managed_by", lifecycle.TagManagedBy, c.ManagedBy); err != nil {
				errs = append(errs, err)
			}
		}
		if builderType == "" && c.GCP().ProjectID == "" {
			errs = append(errs, fmt.Errorf("project_id: must be set with the gcp backend (the project whose images are read)"))
		}
	}
	if c.Backend == Azure {
		errs = append(errs, c.Azure().Prepare()...)
		if _, ok := c.Azure().Gallery(); builderType == "" && (c.Azure().SubscriptionID == "" || !ok) {
			errs = append(errs, fmt.Errorf("subscription_id, gallery_resource_group, gallery_name: must be set with the azure backend (the gallery whose image versions are read)"))
		}
	}
	// The marker is a tag value on EC2 (at most 256 characters).
	if n := utf8.RuneCountInString(c.ManagedBy); n > 256 {
		errs = append(errs, fmt.Errorf("managed_by: at most 256 characters, got %d", n))
	} else if i := strings.IndexFunc(c.ManagedBy, unicode.IsControl); i >= 0 {
		errs = append(errs, fmt.Errorf("managed_by: %q contains a control character", c.ManagedBy))
	}
	if c.Backend == Local {
		if err := checkCatalogDir(c.CatalogDir); err != nil {
			errs = append(errs, fmt.Errorf("catalog_dir: %w", err))
		}
	}
	return errs
}

// CheckRef checks a release reference (`restore`, `pin_releases`,
// `unpin_releases`) for the prepared backend: on AWS an AMI id or
// region:AMI id, locally a catalog id (or local:id).
func (c *Config) CheckRef(s string) error {
	switch c.Backend {
	case AWS:
		return awsbackend.CheckRef(s)
	case GCP:
		return gcpbackend.CheckRef(s)
	case Azure:
		return azurebackend.CheckRef(s)
	case Local:
		// The region part is checked like an id: a run that finds no
		// release in it says so.
		region, id, ok := strings.Cut(s, ":")
		if !ok {
			id = s
		} else if err := local.CheckID(region); err != nil {
			return fmt.Errorf("%q: bad region %q (the local backend's is %s)", s, region, local.Region)
		}
		return local.CheckID(id)
	}
	return nil
}

// NormalizeRef spells a checked reference as the backend's refs are
// compared (Azure: the definition part in lower case).
func (c *Config) NormalizeRef(s string) string {
	if c.Backend == Azure {
		return azurebackend.NormalizeRef(s)
	}
	return s
}

// Open returns the backend the prepared configuration names; now is the
// run's clock.
func Open(c Config, now func() time.Time) (backend.Backend, error) {
	switch c.Backend {
	case Local:
		return local.New(c.CatalogDir, now, local.WithManagedBy(c.ManagedBy)), nil
	case AWS:
		return awsbackend.Open(context.Background(), c.AccessConfig, c.ManagedBy, now)
	case GCP:
		return gcpbackend.Open(context.Background(), c.Access, gcpbackend.Retry{MaxRetries: c.MaxRetries, CallTimeout: c.CallTimeout}, c.ManagedBy, now)
	case Azure:
		return azurebackend.Open(context.Background(), *c.Azure(), azurebackend.Retry{MaxRetries: c.MaxRetries, CallTimeout: c.CallTimeout}, c.ManagedBy, now)
	}
	return nil, fmt.Errorf("backend %q is not available in this version of the plugin", c.Backend)
}

// GCP is the GCP access options.
func (c *Config) GCP() *gcpbackend.Access { return &c.Access }

// Azure is the Azure access options.
func (c *Config) Azure() *azurebackend.Config { return &c.Config }

// awsFields names the AWS options given (max_retries and call_timeout
// serve every cloud backend).
func awsFields(a awsbackend.AccessConfig) []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"region", a.Region != ""}, {"regions", len(a.Regions) > 0}, {"owners", len(a.Owners) > 0}, {"profile", a.Profile != ""},
		{"shared_credentials_file", a.SharedCredentialsFile != ""}, {"access_key", a.AccessKey != ""}, {"secret_key", a.SecretKey != ""},
		{"token", a.Token != ""}, {"assume_role", a.AssumeRole != (awsbackend.AssumeRoleConfig{})}, {"custom_endpoint_ec2", a.CustomEndpointEC2 != ""},
		{"skip_credential_validation", a.SkipCredentialValidation},
		{"launch_template_versions", a.LaunchTemplateVersions != "" && a.LaunchTemplateVersions != awsbackend.LTVersionsAll},
		{"skip_usage_reports", a.SkipUsageReports}, {"usage_report_wait", a.UsageReportWait != ""}, {"usage_report_max_age", a.UsageReportMaxAge != ""},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// checkCatalogDir refuses a catalog whose artifact root (its parent
// directory, where every file it may move or delete lies) would be the
// whole file system, and a catalog_dir that is not a directory.
func checkCatalogDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if parent := filepath.Dir(abs); parent == filepath.Dir(parent) {
		return fmt.Errorf("%q would make %s, the whole file system, the artifact root: put the catalog beside the build's output", dir, parent)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return fmt.Errorf("%q exists and is not a directory", dir)
	}
	return nil
}
