//go:generate packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput
//go:generate packer-sdc struct-markdown

// Package parent is the `lifecycle-image` data source: it hands templates the
// newest supported release of a family, so a child build always starts from a
// parent that is not deprecated, disabled, expired or retired.
package parent

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/zclconf/go-cty/cty"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Config is the data source's configuration.
type Config struct {
	// The image family to choose from. Required.
	Family string `mapstructure:"family" required:"true"`
	// Only releases of this channel, e.g. `stable`. Defaults to `stable`.
	Channel string `mapstructure:"channel"`
	// Only versions matching this constraint, e.g. `>= 1.2, < 2.0`
	// (hashicorp/go-version syntax). Releases whose version is not semantic
	// never match a constraint.
	VersionConstraint string `mapstructure:"version_constraint"`
	// Where images live: `local` (`aws` is reserved for the AWS backend, not
	// in this version yet). Defaults to `local`.
	Backend string `mapstructure:"backend"`
	// Directory of the local catalog. Defaults to `.packer-lifecycle`.
	CatalogDir string `mapstructure:"catalog_dir"`
	// Only images carrying this managed-by marker. Defaults to
	// `packer-plugin-lifecycle`.
	ManagedBy string `mapstructure:"managed_by"`
}

// DatasourceOutput is what templates read as `data.lifecycle-image.NAME.*`.
type DatasourceOutput struct {
	// The image id: an AMI id, or the local catalog entry id.
	ID string `mapstructure:"id"`
	// Region of the image (`local` for the local catalog).
	Region string `mapstructure:"region"`
	// Image name.
	Name    string `mapstructure:"name"`
	Family  string `mapstructure:"family"`
	Version string `mapstructure:"version"`
	Channel string `mapstructure:"channel"`
	// Id of the image this one was built from.
	Parent string `mapstructure:"parent"`
	// RFC 3339 times; expires_at is empty when the image never expires.
	ReleasedAt string `mapstructure:"released_at"`
	ExpiresAt  string `mapstructure:"expires_at"`
	// Artifact files of a local release (absolute paths), first one in `path`.
	Files []string `mapstructure:"files"`
	Path  string   `mapstructure:"path"`
	// SHA-256 of `path`, hex encoded (local backend).
	SHA256 string `mapstructure:"sha256"`
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
	if c.Backend == "" {
		c.Backend = "local"
	}
	if c.CatalogDir == "" {
		c.CatalogDir = ".packer-lifecycle"
	}
	if c.ManagedBy == "" {
		c.ManagedBy = lifecycle.DefaultManagedBy
	}
	var errs []error
	if c.Family == "" {
		errs = append(errs, errors.New("family: must be set"))
	}
	switch c.Backend {
	case "local":
	case "aws":
		errs = append(errs, errors.New(`backend: "aws" is not available in this version of the plugin yet; use "local"`))
	default:
		errs = append(errs, fmt.Errorf("backend: %q is not one of local, aws", c.Backend))
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
