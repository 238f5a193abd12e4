package parent

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	azurebackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/azure"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/store"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// openBackend is store.Open; unit tests swap in a fake.
var openBackend = store.Open

// newest lists the family through the backend and lets lifecycle.Choose pick.
func (d *Datasource) newest() (DatasourceOutput, error) {
	c := &d.config
	now, err := clock.Now()
	if err != nil {
		return DatasourceOutput{}, err
	}
	if clock.Simulated() {
		// A data source has no UI; Packer's log is where this shows.
		log.Printf("lifecycle-image: choosing at the simulated time %s from %s, not the wall clock", now.Format(time.RFC3339), clock.Env)
	}
	ctx := context.Background()
	sc := c.Config
	sc.Regions = nil // the data source reads its one region
	be, err := openBackend(sc, func() time.Time { return now })
	if err != nil {
		return DatasourceOutput{}, err
	}
	// Owners named by account id (no "self"): read as an account the AMIs
	// are shared with, from what the owner published for it.
	shared := len(accounts(c.Owners)) > 0
	listing, err := be.List(ctx, backend.Query{Family: c.Family, Channel: c.Channel, Shared: shared})
	if err != nil {
		return DatasourceOutput{}, err
	}
	img, err := lifecycle.Choose(listing.Images, lifecycle.Choice{
		Family: c.Family, Channel: c.Channel, Constraint: c.VersionConstraint, Owners: accounts(c.Owners),
	}, now)
	if err != nil {
		return DatasourceOutput{}, fmt.Errorf("lifecycle-image: %w%s", err, failedRegions(listing.Failed))
	}
	out := output(img)
	if l, ok := be.(backend.Linker); ok {
		out.SelfLink = l.SelfLink(img.Ref())
	}
	switch c.Backend {
	case store.GCP:
		out.Project = img.Region
	case store.Azure:
		if v, err := azurebackend.VersionOf(img); err == nil {
			out.SubscriptionID, out.ResourceGroup, out.GalleryName, out.ImageName, out.ImageVersion = v.Subscription, v.Definition.ResourceGroup, v.Definition.Gallery, v.Definition.Image, v.Version
		}
	}
	if fb, ok := be.(backend.Files); ok {
		files, err := fb.Files(ctx, img.Ref())
		if err != nil {
			return DatasourceOutput{}, fmt.Errorf("lifecycle-image: %w", err)
		}
		for _, f := range files {
			out.Files = append(out.Files, f.Path)
		}
		if len(files) > 0 {
			out.Path, out.SHA256 = files[0].Path, files[0].SHA256
		}
	}
	return out, nil
}

// failedRegions explains, when nothing qualified, which regions were not
// seen at all.
func failedRegions(failed []backend.RegionError) string {
	if len(failed) == 0 {
		return ""
	}
	return fmt.Sprintf(" (not listed: %v)", errors.Join(func() []error {
		var errs []error
		for _, f := range failed {
			errs = append(errs, f)
		}
		return errs
	}()...))
}

// accounts are the owners an image must have, when they are all account
// ids ("self" is resolved by EC2 in the listing itself).
func accounts(owners []string) []string {
	for _, o := range owners {
		if o == "self" {
			return nil
		}
	}
	return owners
}

func output(img lifecycle.Image) DatasourceOutput {
	out := DatasourceOutput{
		ID: img.ID, Region: img.Region, Name: img.Name, Family: img.Family, Version: img.Version,
		Channel: img.Channel, Parent: img.Parent, ReleasedAt: rfc3339(img.ReleasedAt),
		ExpiresAt: rfc3339(img.ExpiresAt), Tags: img.Tags, Files: []string{},
		DeprecationTime: rfc3339(img.DeprecationTime), CreationDate: rfc3339(img.BuildTime), Owner: img.Owner,
		SnapshotIDs: []string{},
	}
	if img.Region != "local" {
		out.SnapshotIDs = append(out.SnapshotIDs, img.Snapshots...)
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
