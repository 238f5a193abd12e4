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

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/store"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/version"
)

// openBackend is store.Open; unit tests of the shell swap in a fake.
var openBackend = store.Open

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
}

// PostProcess records the artifact, plans, acts (or dry-runs) and reports.
// It hands on a copy of the builder's artifact with the release metadata
// in its state.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, source packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	out := snapshot(source)
	if err := p.config.checkReportPathAgainst(out.files); err != nil {
		return out, true, false, err
	}
	now, err := clock.Now()
	if err != nil {
		return out, true, false, err
	}
	if clock.Simulated() {
		ui.Say(fmt.Sprintf("Acting at the simulated time %s from %s, not the wall clock", now.Format(time.RFC3339), clock.Env))
	}
	r := &run{c: &p.config, policy: p.policy, ui: ui, now: now}
	if len(p.config.Accounts) > 0 {
		r.rep = p.newReport(store.AWS, now)
		err = p.sweepAccounts(ctx, r)
	} else {
		if r.be, err = openBackend(p.config.Config, r.clock); err != nil {
			return out, true, false, err
		}
		r.rep = p.newReport(r.be.Name(), now)
		err = r.do(ctx, source)
	}
	if path := p.config.AllowedImagesPath; path != "" {
		if werr := r.writeAllowedImages(path); werr != nil {
			err = errors.Join(err, fmt.Errorf("writing allowed_images_path: %w", werr))
		}
	}
	path, werr := r.rep.Write(p.reportPath(now))
	if werr != nil {
		err = errors.Join(err, fmt.Errorf("writing the report: %w", werr))
	} else {
		ui.Message("Report: " + path)
	}
	if err != nil {
		return out, true, false, err
	}
	out.setRelease(releaseState(r.fresh, p.config.ManagedBy))
	// keep with forceOverride once a release is recorded: Packer must never
	// destroy it (keep_input_artifact = false would otherwise delete the
	// files of the release we just recorded). A dry run or a sweep recorded
	// nothing, so the user's keep_input_artifact decides as usual.
	return out, true, len(r.fresh) > 0 && !p.config.DryRun, nil
}

// newReport starts the run's report.
func (p *PostProcessor) newReport(backendName string, now time.Time) *report.Report {
	rep := report.New("packer-plugin-lifecycle "+version.PluginVersion.String(), p.config.Family, backendName, now, p.config.DryRun, p.config.Sweep)
	rep.SimulatedTime = clock.Simulated()
	return rep
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
// no "..", so the report cannot land outside the reports directory. Two
// families alike once sanitised share a stem; report.Write then picks
// distinct names.
func fileSafe(s string) string {
	return strings.ReplaceAll(unsafeFileChars.ReplaceAllString(s, "_"), "..", "_")
}
