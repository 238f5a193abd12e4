//go:generate packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput
//go:generate packer-sdc struct-markdown

// Package parent is the `lifecycle-image` data source: it hands templates the
// newest supported release of a family, so a child build always starts from a
// parent that is not deprecated, disabled, expired or retired.
package parent

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/zclconf/go-cty/cty"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/store"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
)

// Config is the data source's configuration. With the AWS backend it reads
// one region, `region` (default: the SDK's), and only AMIs of `owners`
// (default: the caller's account). With `owners` naming account ids (and
// not `self`), it reads as an account the AMIs are shared with: EC2 shows
// such an account none of the owner's tags, so it reads the release
// metadata the post-processor publishes at the end of each release's AMI
// description, and EC2's own state for the rest (a disabled AMI is no
// longer shared; a deprecated one shows its deprecation time).
type Config struct {
	store.Config `mapstructure:",squash"`

	// The image family to choose from. Required.
	Family string `mapstructure:"family" required:"true"`
	// Only releases of this channel, e.g. `stable`. Defaults to `stable`.
	Channel string `mapstructure:"channel"`
	// Only versions matching this constraint, e.g. `>= 1.2, < 2.0`
	// (hashicorp/go-version syntax). Releases whose version is not semantic
	// never match a constraint.
	VersionConstraint string `mapstructure:"version_constraint"`
	// Choose at the time in the `PACKER_LIFECYCLE_NOW` environment variable
	// (RFC 3339) instead of the wall clock, for rehearsals over simulated
	// time. Without it a set variable fails the data source at validate: a
	// stray value in the past could otherwise hand out a parent that has
	// expired since.
	AllowSimulatedTime bool `mapstructure:"allow_simulated_time"`
}

// DatasourceOutput is what templates read as `data.lifecycle-image.NAME.*`.
type DatasourceOutput struct {
	// The image id: an AMI id, or the local catalog entry id.
	ID string `mapstructure:"id"`
	// Region of the image (`local` for the local catalog).
	Region string `mapstructure:"region"`
	// Image name.
	Name string `mapstructure:"name"`
	// The family of the image, as recorded.
	Family string `mapstructure:"family"`
	// The version of the image, as recorded.
	Version string `mapstructure:"version"`
	// The channel of the image, as recorded.
	Channel string `mapstructure:"channel"`
	// Id of the image this one was built from; empty when none was recorded.
	Parent string `mapstructure:"parent"`
	// When the image was recorded as released (RFC 3339, UTC).
	ReleasedAt string `mapstructure:"released_at"`
	// When the image expires (RFC 3339, UTC); empty when it never expires.
	ExpiresAt string `mapstructure:"expires_at"`
	// EC2's deprecation time of the AMI (RFC 3339, UTC; AWS backend): set at
	// release for a release that expires, and always in the future for an
	// AMI this data source returns. Empty when none is set.
	DeprecationTime string `mapstructure:"deprecation_time"`
	// When the image was created (RFC 3339, UTC): the AMI's CreationDate, or
	// the local build time.
	CreationDate string `mapstructure:"creation_date"`
	// The account that owns the AMI (AWS backend).
	Owner string `mapstructure:"owner"`
	// The AMI's EBS snapshot ids (AWS backend).
	SnapshotIDs []string `mapstructure:"snapshot_ids"`
	// Absolute paths of the release's files (local backend), each checked to
	// be in place with its recorded size.
	Files []string `mapstructure:"files"`
	// The first of `files` (local backend): the disk image to build from.
	Path string `mapstructure:"path"`
	// SHA-256 of `path`, hex encoded, as recorded (local backend).
	SHA256 string `mapstructure:"sha256"`
	// The image's URL (GCP backend), e.g. for an instance template's
	// `source_image`.
	SelfLink string `mapstructure:"self_link"`
	// The project of the image (GCP backend): the googlecompute builder's
	// `source_image_project_id`.
	Project string `mapstructure:"project"`
	// The subscription of the gallery (Azure backend): with
	// `resource_group`, `gallery_name`, `image_name` and `image_version`,
	// what the azure-arm builder's `shared_image_gallery` source takes.
	// `self_link` is the version's ARM id (a VM's `imageReference.id`).
	SubscriptionID string `mapstructure:"subscription_id"`
	// The resource group of the gallery (Azure backend).
	ResourceGroup string `mapstructure:"resource_group"`
	// The Compute Gallery (Azure backend).
	GalleryName string `mapstructure:"gallery_name"`
	// The image definition (Azure backend).
	ImageName string `mapstructure:"image_name"`
	// The gallery image version, Major.Minor.Patch (Azure backend).
	ImageVersion string `mapstructure:"image_version"`
	// Every tag or metadata key of the image.
	Tags map[string]string `mapstructure:"tags"`
}

// Datasource implements packersdk.Datasource.
type Datasource struct {
	config Config
}

func (d *Datasource) ConfigSpec() hcldec.ObjectSpec { return d.config.FlatMapstructure().HCL2Spec() }

func (d *Datasource) OutputSpec() hcldec.ObjectSpec {
	return (&DatasourceOutput{}).FlatMapstructure().HCL2Spec()
}

// Configure decodes and checks the configuration. It runs during `packer
// validate`, so it must not touch the network or the catalog.
func (d *Datasource) Configure(raws ...interface{}) error {
	if err := config.Decode(&d.config, nil, raws...); err != nil {
		return err
	}
	c := &d.config
	if c.Channel == "" {
		c.Channel = "stable"
	}
	errs := c.Config.Prepare("")
	if c.Family == "" {
		errs = append(errs, errors.New("family: must be set"))
	}
	if now, err := clock.Now(); err != nil {
		errs = append(errs, err)
	} else if clock.Simulated() && !c.AllowSimulatedTime {
		errs = append(errs, fmt.Errorf("allow_simulated_time: %s is set (%s); set allow_simulated_time = true to choose a parent at that time, or unset %[1]s",
			clock.Env, now.Format(time.RFC3339)))
	}
	for field, v := range map[string]string{"family": c.Family, "channel": c.Channel} {
		if n := utf8.RuneCountInString(v); n > 100 {
			errs = append(errs, fmt.Errorf("%s: at most 100 characters, got %d", field, n))
		} else if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			errs = append(errs, fmt.Errorf("%s: %q contains a control character", field, v))
		}
	}
	if c.Backend == store.GCP && len(c.Projects) > 0 {
		errs = append(errs, errors.New("projects: the data source reads the one project of project_id"))
	}
	if c.VersionConstraint != "" {
		if _, err := version.NewConstraint(c.VersionConstraint); err != nil {
			errs = append(errs, fmt.Errorf("version_constraint: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Execute finds the newest supported release.
func (d *Datasource) Execute() (cty.Value, error) {
	out, err := d.newest()
	if err != nil {
		return cty.NullVal(cty.EmptyObject), err
	}
	return hcl2helper.HCL2ValueFromConfig(out, d.OutputSpec()), nil
}
