// Package backend is the seam between the shell (post-processor, data
// source) and where images live. Backends translate their world into
// lifecycle.Images and lifecycle.Usage and carry lifecycle.Decisions out;
// they never decide anything themselves.
//
// Every method that acts takes the whole run's items and answers one Result
// per item, so a backend can batch (EC2 CreateTags over 1,000 resources, one
// catalog transaction) and one failure never hides the others.
package backend

import (
	"context"
	"fmt"
	"sort"
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// StatePending is the backend state of a new build recorded by a run that
// has not finished: the planner skips it (it is no release yet), the data
// source never returns it, and the run marks it available when it succeeds
// or forgets it when it fails (Packer then destroys the artifact).
const StatePending = lifecycle.StatePending

// Query selects the images of one family. An empty Channel means every
// channel; Regions adds regions to the backend's own (AWS).
type Query struct {
	Family  string
	Channel string
	Regions []string
	// Shared reads what the owners publish for the accounts they share
	// images with (lifecycle.Stamp in the AMI description) instead of
	// tags, which belong to the account that wrote them: a consumer
	// account's view, for reading only. Backends without accounts ignore it.
	Shared bool
	// AllFamilies lists the releases of every family (Family is then
	// ignored): revocation follows descendants into other families.
	AllFamilies bool
}

// Lineage is a backend whose releases name their parent other than by
// its id (Azure: the version's resource id, the data source's
// `self_link`). ParentNames are the values a child's parent may hold.
type Lineage interface {
	ParentNames(img lifecycle.Image) []string
}

// Matches says whether a listed image belongs to what q asks for.
func (q Query) Matches(img lifecycle.Image) bool {
	if q.AllFamilies {
		return img.Family != "" && (q.Channel == "" || img.Channel == q.Channel)
	}
	return img.Family == q.Family && (q.Channel == "" || img.Channel == q.Channel)
}

// Listing is what List could see. A region (or catalog) that could not be
// listed is in Failed, and nothing in it may be decided: the caller plans
// only the regions that answered.
type Listing struct {
	Images []lifecycle.Image
	Failed []RegionError
}

// RegionError says why one region could not be listed.
type RegionError struct {
	Region string
	Err    error
}

func (e RegionError) Error() string { return fmt.Sprintf("region %s: %v", e.Region, e.Err) }

// Result is what became of one item of a batch.
type Result struct {
	Ref lifecycle.Ref
	// Image is the image as recorded (Record: the id the backend chose).
	Image lifecycle.Image
	// Changed is false when the item was already in the target state (a
	// re-run, or a concurrent run that got there first): nothing was done,
	// so nothing may be counted twice.
	Changed bool
	// Note is detail for the report, e.g. which files or snapshots went.
	Note string
	Err  error
}

// Backend is implemented by backend/local (and backend/aws).
type Backend interface {
	// Name is shown in reports: "local", "aws".
	Name() string
	// NewReleases turns a build's artifact into the images it produced, one
	// per stored copy (per region on AWS), each filled from release: the
	// family, version, channel and times the template gave. The images are
	// not recorded yet and may have no id (the backend chooses it at
	// Record).
	NewReleases(a packersdk.Artifact, release lifecycle.Image) ([]lifecycle.Image, error)
	// List returns every image of the family the backend can see, managed
	// or not, in every stage but gone, with stages as recorded. An error
	// means nothing could be listed at all.
	List(ctx context.Context, q Query) (Listing, error)
	// Usage reports who still uses each image. It fails closed: when a
	// lookup fails, the image is used by a lifecycle.ConsumerUnknown
	// consumer that says why, so it is kept.
	Usage(ctx context.Context, images []lifecycle.Image) lifecycle.Usage
	// Record writes release metadata for new builds, as given (State
	// StatePending, then again once the run succeeded). Recording what is
	// recorded already changes nothing. With dryRun it only checks that it
	// could.
	Record(ctx context.Context, images []lifecycle.Image, dryRun bool) []Result
	// Apply carries decisions out, in order, and records the stage each
	// reached, so a re-run after a crash converges. Before acting on an
	// image it re-reads it and checks the decision still holds. With
	// dryRun it only checks that it could and changes nothing. A cancelled
	// context stops it between items: the rest fail with ctx.Err().
	// Decisions that change nothing (keep) are context, never acted on:
	// the releases the plan keeps, which GCP names as the replacement of
	// an image it deprecates.
	Apply(ctx context.Context, decisions []lifecycle.Decision, dryRun bool) []Result
	// Forget undoes Record for new builds of a run that failed: Packer
	// destroys the artifact of a failed post-processor, so the release must
	// not stay behind. Only an image still pending is forgotten.
	Forget(ctx context.Context, refs []lifecycle.Ref) []Result
}

// File is one stored file of a release, where a template can read it.
type File struct {
	Path   string // absolute
	Size   int64
	SHA256 string
}

// Files is implemented by backends whose releases are files (local): the
// data source hands their paths to templates. It fails when a file is not
// in place or not intact, so no template starts from a release whose files
// are gone.
type Files interface {
	Files(ctx context.Context, ref lifecycle.Ref) ([]File, error)
}

// Pinner is implemented by backends that pin existing releases
// (`pin_releases`, `unpin_releases` in a sweep, AWS): a pinned release is
// kept forever, whatever the rules say. Pinning what is pinned changes
// nothing. With dryRun it only checks that it could.
type Pinner interface {
	Pin(ctx context.Context, images []lifecycle.Image, pin, dryRun bool) []Result
}

// Linker is implemented by backends whose images have URLs (GCP): the
// data source hands them to templates.
type Linker interface {
	SelfLink(ref lifecycle.Ref) string
}

// Errs returns the failed results' errors, for errors.Join.
func Errs(rs []Result) []error {
	var out []error
	for _, r := range rs {
		if r.Err != nil {
			out = append(out, fmt.Errorf("%s: %w", r.Ref, r.Err))
		}
	}
	return out
}

// Each runs fn for every key (a region, a project) in parallel, at most
// parallel at once (all when parallel ≤ 0), and returns when all are done.
func Each(ctx context.Context, keys []string, parallel int, fn func(ctx context.Context, key string)) {
	if parallel <= 0 || parallel > len(keys) {
		parallel = len(keys)
	}
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fn(ctx, k)
		}()
	}
	wg.Wait()
}

// Orphan is storage a managed release left behind: on AWS an EBS snapshot
// the plugin tagged for the family that no image refers to any more (its
// AMI was deregistered with delete_snapshots = false, by hand, or by a run
// stopped between the deregistration and the snapshot's deletion).
type Orphan struct {
	Region, ID string
	Version    string // of the release it belonged to, from its tags
	Bytes      int64
}

// OrphanDeleter is implemented by Orphaners that can delete what Orphans
// found (AWS, `delete_orphaned_snapshots`). It keeps, with a note, what
// may still be needed: a snapshot of an AMI someone may restore from the
// Recycle Bin. With dryRun it only says what it would delete.
type OrphanDeleter interface {
	DeleteOrphans(ctx context.Context, family string, orphans []Orphan, dryRun bool) []OrphanResult
}

// OrphanResult is what became of one orphan.
type OrphanResult struct {
	Orphan
	Deleted bool   // deleted, or (dryRun) would be
	Note    string // why it was kept
	Err     error
}

// OtherUsage is implemented by backends with usage that costs lookups per
// image, so the shell asks only about the images a first plan would
// disable or deregister, then plans again (AWS: other accounts' instances
// and launch templates using a shared AMI, from the image usage reports
// EC2 builds asynchronously). With dryRun it asks the cloud for nothing
// new: asking for a report creates it. It fails closed, as Usage does;
// the lines are for the UI.
type OtherUsage interface {
	OtherUsage(ctx context.Context, images []lifecycle.Image, dryRun bool) (lifecycle.Usage, []string)
}

// Orphaner is implemented by backends whose images keep storage apart from
// them (AWS snapshots). It only lists: a region that cannot be looked at is
// in the errors, and what it would have found is not reported.
type Orphaner interface {
	Orphans(ctx context.Context, family string) ([]Orphan, []RegionError)
}

// Sort orders a listing as every backend returns it: failed regions by
// name; images by region, then build time, then id.
func (l *Listing) Sort() {
	sort.Slice(l.Failed, func(i, j int) bool { return l.Failed[i].Region < l.Failed[j].Region })
	sort.SliceStable(l.Images, func(i, j int) bool {
		a, c := l.Images[i], l.Images[j]
		if a.Region != c.Region {
			return a.Region < c.Region
		}
		if !a.BuildTime.Equal(c.BuildTime) {
			return a.BuildTime.Before(c.BuildTime)
		}
		return a.ID < c.ID
	})
}

// ByRegion groups item indices by the region (project, image definition)
// region(i) names, regions sorted.
func ByRegion(n int, region func(i int) string) ([]string, map[string][]int) {
	m := map[string][]int{}
	for i := 0; i < n; i++ {
		m[region(i)] = append(m[region(i)], i)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, m
}

// GeneratedData reads a key of a builder artifact's generated data (e.g.
// SourceImageName), which arrives over RPC as map[interface{}]interface{}.
func GeneratedData(a packersdk.Artifact, key string) string {
	switch gd := a.State("generated_data").(type) {
	case map[string]interface{}:
		s, _ := gd[key].(string)
		return s
	case map[interface{}]interface{}:
		s, _ := gd[key].(string)
		return s
	}
	return ""
}
