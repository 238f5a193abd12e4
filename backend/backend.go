// Package backend is the one small interface through which the post-processor
// and the datasource reach where images live. Backends translate their world
// into lifecycle.Images and lifecycle.Usage and carry lifecycle.Decisions out;
// they never decide anything themselves.
package backend

import (
	"context"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Query selects the images of one family. An empty Channel means every channel.
type Query struct {
	Family  string
	Channel string
}

// Backend is implemented by backend/local and backend/aws.
type Backend interface {
	// Name is shown in reports: "local", "aws".
	Name() string
	// List returns every image of the family the backend can see, managed or
	// not, in every stage but deregistered-and-gone, with stages as recorded.
	List(ctx context.Context, q Query) ([]lifecycle.Image, error)
	// Usage reports who still uses each of the given images.
	Usage(ctx context.Context, images []lifecycle.Image) (lifecycle.Usage, error)
	// Record writes release metadata for a newly built image (tags, catalog
	// entry) and returns the image as recorded, with its id. With dryRun it
	// only checks that it could.
	Record(ctx context.Context, img lifecycle.Image, dryRun bool) (lifecycle.Image, error)
	// Apply carries one decision out and records the stage it reached, so a
	// re-run after a crash converges. With dryRun it only checks that it could
	// (EC2 DryRun, local path checks) and changes nothing.
	Apply(ctx context.Context, d lifecycle.Decision, dryRun bool) error
}
