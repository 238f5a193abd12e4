// Package lifecycle is the `lifecycle` post-processor: it records a new build
// as a release and retires superseded releases per policy.
package lifecycle

import (
	"context"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// PostProcessor implements packersdk.PostProcessor.
type PostProcessor struct {
	config Config
}

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Configure decodes, defaults and validates the configuration. Every error
// names its field, and nothing outside the process is touched here.
func (p *PostProcessor) Configure(raws ...interface{}) error {
	err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType:         "packer.post-processor.lifecycle",
		Interpolate:        true,
		InterpolateContext: &p.config.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{},
	}, raws...)
	if err != nil {
		return err
	}
	p.config.setDefaults()
	return p.config.validate()
}

func (c *Config) setDefaults() {
	if c.Channel == "" {
		c.Channel = "stable"
	}
	if c.Backend == "" {
		c.Backend = BackendAuto
	}
	if c.CatalogDir == "" {
		c.CatalogDir = ".packer-lifecycle"
	}
	c.CatalogDir = filepath.Clean(c.CatalogDir)
	if c.ManagedBy == "" {
		c.ManagedBy = "packer-lifecycle"
	}
	if c.KeepReleases == 0 {
		c.KeepReleases = 3
	}
	if c.MinAge == "" {
		c.MinAge = "7d"
	}
	if c.DeleteSnapshots == nil {
		yes := true
		c.DeleteSnapshots = &yes
	}
}

// PostProcess records the artifact, plans, acts (or dry-runs) and reports. The
// artifact is passed on unchanged.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, source packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	ui.Sayf("lifecycle: family %s, version %s, channel %s", p.config.Family, p.config.Version, p.config.Channel)
	return source, true, true, nil
}
