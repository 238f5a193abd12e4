// Package release is the `lifecycle` post-processor: it records a new build
// as a release and retires superseded releases per policy. It is the thin
// shell around the planner: it gathers facts through a backend, lets
// lifecycle.Plan decide, carries the decisions out and reports.
package release

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/local"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// amazonBuilders are the BuilderIds whose artifacts are AMIs.
var amazonBuilders = map[string]bool{
	"mitchellh.amazonebs": true, "mitchellh.amazon.ebssurrogate": true,
	"mitchellh.amazon.chroot": true, "mitchellh.amazon.instance": true,
}

// PostProcessor implements packersdk.PostProcessor.
type PostProcessor struct {
	config Config
	policy lifecycle.Policy
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
	if err := p.config.validate(); err != nil {
		return err
	}
	p.policy = p.config.policy()
	return p.policy.Validate()
}

func (c *Config) setDefaults() {
	if c.Channel == "" {
		c.Channel = "stable"
	}
	if c.Backend == "" {
		c.Backend = BackendAuto
	}
	if c.CatalogDir == "" {
		c.CatalogDir = local.DefaultDir
	}
	c.CatalogDir = filepath.Clean(c.CatalogDir)
	if c.ManagedBy == "" {
		c.ManagedBy = lifecycle.DefaultManagedBy
	}
}

// PostProcess records the artifact, plans, acts (or dry-runs) and reports. The
// artifact is passed on unchanged, with the release metadata in its state.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, source packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	now, err := clock.Now()
	if err != nil {
		return source, true, true, err
	}
	be, err := p.backendFor(source, now)
	if err != nil {
		return source, true, true, err
	}
	var fresh []lifecycle.Image
	if !p.config.Sweep {
		if fresh, err = p.newImages(source, be, now); err != nil {
			return source, true, true, err
		}
	}
	rep, err := p.retire(ctx, ui, be, fresh, now)
	if rep != nil {
		path, werr := rep.Write(p.reportPath(now))
		if werr != nil {
			err = errors.Join(err, fmt.Errorf("writing report: %w", werr))
		} else {
			ui.Sayf("lifecycle: report written to %s", path)
		}
	}
	if err != nil {
		return source, true, true, err
	}
	// keep with forceOverride: the returned artifact is the input itself, so
	// Packer must never destroy the input (keep_input_artifact = false would
	// otherwise delete the release we just recorded).
	return &artifact{Artifact: source, release: releaseState(fresh, p.config.ManagedBy)}, true, true, nil
}

// backendFor picks where images live: amazon artifacts are AMIs, anything
// else is files for the local catalog.
func (p *PostProcessor) backendFor(a packersdk.Artifact, now time.Time) (backend.Backend, error) {
	kind := p.config.Backend
	if kind == BackendAuto {
		kind = BackendLocal
		if a != nil && amazonBuilders[a.BuilderId()] {
			kind = BackendAWS
		}
	}
	switch kind {
	case BackendLocal:
		return local.New(p.config.CatalogDir, func() time.Time { return now }, local.WithManagedBy(p.config.ManagedBy)), nil
	default:
		return nil, fmt.Errorf("backend %q is not available in this version of the plugin yet", kind)
	}
}

// newImages describes the build's artifact as new releases, one per stored
// copy (the local catalog holds one).
func (p *PostProcessor) newImages(a packersdk.Artifact, be backend.Backend, now time.Time) ([]lifecycle.Image, error) {
	c := &p.config
	img := lifecycle.Image{
		Name:       fmt.Sprintf("%s-%s", c.Family, c.Version),
		Family:     c.Family,
		Channel:    c.Channel,
		Version:    c.Version,
		BuildTime:  now,
		ReleasedAt: now,
		ExpiresAt:  p.policy.ExpiresAt(c.Channel, now),
		Stage:      lifecycle.StageActive,
		StageSince: now,
		State:      lifecycle.StateAvailable,
		Pinned:     c.Pin,
		Managed:    true,
		Parent:     c.Parent,
		Tags:       map[string]string{lifecycle.TagManagedBy: c.ManagedBy},
	}
	if be.Name() == BackendLocal {
		if len(a.Files()) == 0 {
			return nil, fmt.Errorf("the artifact of builder %s has no files for the local catalog: set backend, or sweep = true", a.BuilderId())
		}
		img.Snapshots = a.Files()
	}
	return []lifecycle.Image{img}, nil
}

// reportPath is report_path, or a unique file per run under the catalog.
func (p *PostProcessor) reportPath(now time.Time) (string, bool) {
	if p.config.ReportPath != "" {
		return p.config.ReportPath, false
	}
	return filepath.Join(p.config.CatalogDir, "reports",
		fmt.Sprintf("%s-%s", fileSafe(p.config.Family), now.Format("20060102T150405Z"))), true
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._+-]+`)

// fileSafe makes a family name usable as one file name: no separators and
// no "..", so the report cannot land outside the reports directory.
func fileSafe(s string) string {
	return strings.ReplaceAll(unsafeFileChars.ReplaceAllString(s, "_"), "..", "_")
}
