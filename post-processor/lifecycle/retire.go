package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/version"
)

// retire records the new images, plans the family and carries the plan out.
// One failing image does not stop the others: every failure is reported and
// the run fails at the end. With dry_run every step runs as its dry-run twin.
func (p *PostProcessor) retire(ctx context.Context, ui packersdk.Ui, be backend.Backend, fresh []lifecycle.Image, now time.Time) (*report.Report, error) {
	c := &p.config
	dry := c.DryRun
	rep := &report.Report{
		Schema: 1, Plugin: "packer-plugin-lifecycle " + version.PluginVersion.String(),
		Family: c.Family, Backend: be.Name(), Time: now, DryRun: dry, Sweep: c.Sweep,
		NewBuild: []string{}, Decisions: []report.Entry{},
	}
	// fresh is updated in place with what was recorded (ids), for the caller.
	for i, img := range fresh {
		rec, err := be.Record(ctx, img, dry)
		if err != nil {
			return nil, fmt.Errorf("recording %s %s: %w", c.Family, c.Version, err)
		}
		ui.Sayf("lifecycle: recorded %s %s (%s) as %s", c.Family, c.Version, c.Channel, rec.ID)
		fresh[i] = rec
		rep.NewBuild = append(rep.NewBuild, rec.ID)
	}

	images, err := be.List(ctx, backend.Query{Family: c.Family})
	if err != nil {
		return rep, fmt.Errorf("listing family %s: %w", c.Family, err)
	}
	// A dry run recorded nothing; plan as if it had.
	for _, rec := range fresh {
		if !slices.ContainsFunc(images, func(i lifecycle.Image) bool { return i.ID == rec.ID && i.Region == rec.Region }) {
			images = append(images, rec)
		}
	}
	usage, err := be.Usage(ctx, images)
	if err != nil {
		return rep, fmt.Errorf("finding who uses family %s: %w", c.Family, err)
	}

	newBuild := make([]lifecycle.Ref, len(fresh))
	for i, rec := range fresh {
		newBuild[i] = rec.Ref()
	}
	decisions := lifecycle.Plan(images, usage, p.policy, now, newBuild)
	if len(c.Restore) > 0 {
		for _, id := range c.Restore {
			if !slices.ContainsFunc(images, func(i lifecycle.Image) bool { return i.ID == id }) {
				return rep, fmt.Errorf("restore: no release %s in family %s", id, c.Family)
			}
		}
		refs := make([]lifecycle.Ref, len(c.Restore))
		for i, id := range c.Restore {
			refs[i] = lifecycle.ParseRef(id)
		}
		decisions = lifecycle.Restore(images, refs, now)
	}
	for _, d := range decisions {
		var err error
		if d.Action.Mutates() {
			err = be.Apply(ctx, d, dry)
		}
		rep.Add(d, now, dry, err)
	}
	for _, line := range rep.Lines() {
		ui.Say("lifecycle: " + line)
	}
	for _, e := range rep.Decisions {
		if e.Status == report.StatusFailed {
			ui.Error(fmt.Sprintf("lifecycle: %s %s failed: %s", e.Action, e.ID, e.Error))
		}
	}
	if rep.Summary.Failed > 0 {
		return rep, fmt.Errorf("%d of %d lifecycle actions failed; see the report", rep.Summary.Failed, len(decisions))
	}
	return rep, nil
}
