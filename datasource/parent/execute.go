package parent

import (
	"context"
	"fmt"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/local"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// newest lists the family through the backend and lets lifecycle.Choose pick.
func (d *Datasource) newest() (DatasourceOutput, error) {
	c := &d.config
	now, err := clock.Now()
	if err != nil {
		return DatasourceOutput{}, err
	}
	ctx := context.Background()
	be := local.New(c.CatalogDir, func() time.Time { return now }, local.WithManagedBy(c.ManagedBy))
	images, err := be.List(ctx, backend.Query{Family: c.Family, Channel: c.Channel})
	if err != nil {
		return DatasourceOutput{}, err
	}
	img, err := lifecycle.Choose(images, lifecycle.Choice{
		Family: c.Family, Channel: c.Channel, Constraint: c.VersionConstraint,
	}, now)
	if err != nil {
		return DatasourceOutput{}, fmt.Errorf("lifecycle-image: %w", err)
	}
	out := output(img)
	release, err := be.Release(ctx, img.ID)
	if err != nil {
		return DatasourceOutput{}, err
	}
	for _, f := range release.Files {
		out.Files = append(out.Files, f.Abs)
	}
	if len(release.Files) > 0 {
		out.Path, out.SHA256 = release.Files[0].Abs, release.Files[0].SHA256
	}
	return out, nil
}

func output(img lifecycle.Image) DatasourceOutput {
	out := DatasourceOutput{
		ID: img.ID, Region: img.Region, Name: img.Name, Family: img.Family, Version: img.Version,
		Channel: img.Channel, Parent: img.Parent, ReleasedAt: rfc3339(img.ReleasedAt),
		ExpiresAt: rfc3339(img.ExpiresAt), Tags: img.Tags, Files: []string{},
	}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	return out
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
