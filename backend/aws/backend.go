// Package aws is the AMI backend: releases are AMIs in one or more regions,
// their lifecycle lives in `lifecycle:*` tags on the AMI and its snapshots,
// and the stages are carried out with EC2's own image lifecycle
// (EnableImageDeprecation, DisableImage, DeregisterImage).
//
// Every region is handled on its own, in parallel under a limit: one region
// that fails never stops another, and each failure is reported on its items.
package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Name is the backend's name in reports.
const Name = "aws"

// stagePending is the stage tag of a new build whose run has not finished.
const stagePending = "pending"

// TagLaunchPermissions saves an image's launch permissions when it is
// disabled: EC2 drops them, and EnableImage does not give them back.
const TagLaunchPermissions = lifecycle.TagPrefix + "launch-permissions"

// Launch template version choices: which versions of a launch template
// count as using an image.
const (
	LTVersionsAll              = "all"
	LTVersionsDefaultAndLatest = "default_and_latest"
	LTVersionsDefault          = "default"
	LTVersionsASGUsed          = "asg_used"
)

// Options configure the backend.
type Options struct {
	// Config is the base SDK configuration (credentials, retryer, HTTP
	// client); each region gets its own clients from it.
	Config aws.Config
	// EC2Endpoint, when set, is the EC2 endpoint of every region
	// (custom_endpoint_ec2); AWS_ENDPOINT_URL_EC2 is honoured by Config.
	EC2Endpoint string
	// AutoScalingEndpoint and SSMEndpoint likewise (tests).
	AutoScalingEndpoint string
	// Regions are swept beyond the artifact's own and Config.Region.
	Regions []string
	// Owners bound what is listed and touched; empty means the caller's
	// account ("self", resolved by EC2 at run time).
	Owners []string
	// ManagedBy is the marker written on and required of every image.
	ManagedBy string
	// LaunchTemplateVersions is one of the LTVersions* choices (default all).
	LaunchTemplateVersions string
	// UsageReports configures the lookups of other accounts' use of shared
	// images (zero: on, with the defaults; MaxAge set: as given).
	UsageReports UsageReports
	// Parallel is how many regions are worked on at once (default: all of
	// them; each region has EC2 request buckets of its own, so a region
	// that waits for another gains nothing).
	Parallel int
}

// wallClock is the real time, read only to know how long a run has lasted
// so far; tests swap it.
var wallClock = time.Now

// Backend is AMIs as a backend.Backend.
type Backend struct {
	opts    Options
	clock   func() time.Time
	started time.Time // wallClock at New

	mu      sync.Mutex
	regions map[string]bool // regions to list: options, config, artifacts seen
	clients map[string]*regionClients
	perms   map[lifecycle.Ref]permsRead // launch permissions OtherUsage read (see act)
}

// permsRead is an image's launch permissions as read at a wall-clock time.
type permsRead struct {
	perms []types.LaunchPermission
	at    time.Time
}

// permsFresh is how long launch permissions OtherUsage read serve the
// disable that follows in the same run instead of a second read. Longer
// than a stage of a large sweep at EC2's rates (a thousand disables a
// region at 5 a second: 200 s), short enough that a share changed by hand
// in between is a rare race; the same race exists between any read and
// DisableImage. The read it reuses is also the one the other-account
// usage check of that image was decided on.
const permsFresh = 10 * time.Minute

// keepPerms remembers the launch permissions read of ref.
func (b *Backend) keepPerms(ref lifecycle.Ref, perms []types.LaunchPermission) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.perms == nil {
		b.perms = map[lifecycle.Ref]permsRead{}
	}
	b.perms[ref] = permsRead{perms, wallClock()}
}

// recentPerms takes the launch permissions of ref read under permsFresh
// ago, once.
func (b *Backend) recentPerms(ref lifecycle.Ref) ([]types.LaunchPermission, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.perms[ref]
	delete(b.perms, ref)
	return r.perms, ok && wallClock().Sub(r.at) < permsFresh
}

var _ backend.Backend = (*Backend)(nil)

// New returns the backend. Nothing is contacted until a method needs it.
func New(opts Options, clock func() time.Time) *Backend {
	if clock == nil {
		clock = time.Now
	}
	if opts.ManagedBy == "" {
		opts.ManagedBy = lifecycle.DefaultManagedBy
	}
	if opts.LaunchTemplateVersions == "" {
		opts.LaunchTemplateVersions = LTVersionsAll
	}
	if opts.UsageReports.MaxAge == 0 { // unset: the defaults (a configuration sets both)
		opts.UsageReports.MaxAge, opts.UsageReports.Wait = DefaultUsageReportMaxAge, DefaultUsageReportWait
	}
	b := &Backend{opts: opts, clock: clock, started: wallClock(), regions: map[string]bool{}, clients: map[string]*regionClients{}}
	for _, r := range opts.Regions {
		b.regions[r] = true
	}
	if opts.Config.Region != "" {
		b.regions[opts.Config.Region] = true
	}
	return b
}

// Name is shown in reports.
func (b *Backend) Name() string { return Name }

func (b *Backend) now() time.Time { return b.clock().UTC() }

// lasted is how long the backend has been in use: a run's clock stands
// still at its start, EC2's does not.
func (b *Backend) lasted() time.Duration { return max(0, wallClock().Sub(b.started)) }

// Regions are the regions List covers, sorted.
func (b *Backend) Regions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.regions))
	for r := range b.regions {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (b *Backend) addRegion(r string) {
	b.mu.Lock()
	b.regions[r] = true
	b.mu.Unlock()
}

func (b *Backend) owners() []string {
	if len(b.opts.Owners) == 0 {
		return []string{"self"}
	}
	return b.opts.Owners
}

var amiRE = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)

// NewReleases reads the artifact id ("us-east-1:ami-1,eu-west-1:ami-2"):
// one release per region. The parent is the build's SourceAMI when the
// template sets none.
func (b *Backend) NewReleases(a packersdk.Artifact, release lifecycle.Image) ([]lifecycle.Image, error) {
	id := strings.TrimSpace(a.Id())
	if id == "" {
		return nil, fmt.Errorf("the artifact of builder %s has no AMI id: the aws backend needs an amazon builder's artifact (or set sweep = true)", a.BuilderId())
	}
	if release.Parent == "" {
		release.Parent = sourceAMI(a)
	}
	var out []lifecycle.Image
	for _, part := range strings.Split(id, ",") {
		region, ami, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || region == "" || !amiRE.MatchString(ami) {
			return nil, fmt.Errorf("artifact id %q of builder %s: want region:ami-… pairs", id, a.BuilderId())
		}
		img := release
		img.Region, img.ID = region, ami
		img.Tags = cloneTags(release.Tags)
		out = append(out, img)
		b.addRegion(region)
	}
	return out, nil
}

// sourceAMI reads SourceAMI from the artifact's generated data, which
// arrives over RPC as map[interface{}]interface{}.
func sourceAMI(a packersdk.Artifact) string {
	switch gd := a.State("generated_data").(type) {
	case map[string]interface{}:
		s, _ := gd["SourceAMI"].(string)
		return s
	case map[interface{}]interface{}:
		s, _ := gd["SourceAMI"].(string)
		return s
	}
	return ""
}

func cloneTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// List lists the family in every region in parallel. A region that fails
// is in Failed; the others are listed.
func (b *Backend) List(ctx context.Context, q backend.Query) (backend.Listing, error) {
	for _, r := range q.Regions {
		b.addRegion(r)
	}
	regions := b.Regions()
	if len(regions) == 0 {
		return backend.Listing{}, errors.New("aws: no region to list: set region (or AWS_REGION) or regions")
	}
	filters := []types.Filter{{Name: aws.String("tag:" + lifecycle.TagFamily), Values: []string{q.Family}}}
	if q.AllFamilies {
		filters = []types.Filter{{Name: aws.String("tag-key"), Values: []string{lifecycle.TagFamily}}}
	}
	if q.Channel != "" {
		filters = append(filters, types.Filter{Name: aws.String("tag:" + lifecycle.TagChannel), Values: []string{q.Channel}})
	}
	image := b.image
	if q.Shared && q.AllFamilies {
		return backend.Listing{}, errors.New("aws: a shared family is read one family at a time")
	}
	if q.Shared {
		filters = []types.Filter{{Name: aws.String("description"), Values: []string{lifecycle.StampFilter(q.Family, q.Channel)}}}
		image = b.sharedImage
	}
	var mu sync.Mutex
	var l backend.Listing
	l.Images = []lifecycle.Image{}
	b.eachRegion(ctx, regions, func(ctx context.Context, region string) {
		raw, err := b.describeRaw(ctx, region, filters)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			l.Failed = append(l.Failed, backend.RegionError{Region: region, Err: err})
			return
		}
		for _, im := range raw {
			if img := image(region, im); img.State != lifecycle.StateDeregistered {
				l.Images = append(l.Images, img)
			}
		}
	})
	l.Sort()
	return l, nil
}

// eachRegion runs fn for every region, at most Parallel at once.
func (b *Backend) eachRegion(ctx context.Context, regions []string, fn func(ctx context.Context, region string)) {
	backend.Each(ctx, regions, b.opts.Parallel, fn)
}

// describe runs one paginated DescribeImages in region (owners, filters,
// deprecated and disabled included) and converts what it returns.
func (b *Backend) describe(ctx context.Context, region string, filters []types.Filter) ([]lifecycle.Image, error) {
	raw, err := b.describeRaw(ctx, region, filters)
	if err != nil {
		return nil, err
	}
	out := make([]lifecycle.Image, len(raw))
	for i, im := range raw {
		out[i] = b.image(region, im)
	}
	return out, nil
}

func (b *Backend) describeRaw(ctx context.Context, region string, filters []types.Filter) ([]types.Image, error) {
	c := b.client(region)
	in := &ec2.DescribeImagesInput{
		Owners: b.owners(), Filters: filters,
		IncludeDeprecated: aws.Bool(true), IncludeDisabled: aws.Bool(true),
		MaxResults: aws.Int32(1000),
	}
	var out []types.Image
	p := ec2.NewDescribeImagesPaginator(c.ec2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeImages: %w", err)
		}
		out = append(out, page.Images...)
	}
	return out, nil
}

// reread describes the given images of one region by id, through an
// image-id filter: an id that does not exist (any more) is simply absent,
// where ImageIds would fail the whole call.
func (b *Backend) reread(ctx context.Context, region string, ids []string) (map[string]lifecycle.Image, error) {
	out := map[string]lifecycle.Image{}
	var valid []string
	for _, id := range ids {
		if amiRE.MatchString(id) && !slices.Contains(valid, id) {
			valid = append(valid, id)
		}
	}
	chunks := slices.Collect(slices.Chunk(valid, 200))
	read, errs := make([][]lifecycle.Image, len(chunks)), make([]error, len(chunks))
	b.client(region).inFlight(len(chunks), func(k int) {
		read[k], errs[k] = b.describe(ctx, region, []types.Filter{{Name: aws.String("image-id"), Values: chunks[k]}})
	})
	for k, err := range errs {
		if err != nil {
			return nil, err
		}
		for _, img := range read[k] {
			out[img.ID] = img
		}
	}
	return out, nil
}

// image converts an EC2 image: metadata from our tags, state and
// deprecation from EC2.
func (b *Backend) image(region string, im types.Image) lifecycle.Image {
	tags := map[string]string{}
	for _, t := range im.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	img := lifecycle.Image{
		ID: aws.ToString(im.ImageId), Region: region, Name: aws.ToString(im.Name),
		State: string(im.State), Owner: aws.ToString(im.OwnerId), Parent: aws.ToString(im.SourceImageId),
		Description: aws.ToString(im.Description),
	}
	img.BuildTime, _ = time.Parse(time.RFC3339, aws.ToString(im.CreationDate))
	if dt := aws.ToString(im.DeprecationTime); dt != "" {
		img.DeprecationTime, _ = time.Parse(time.RFC3339, dt)
	}
	for _, bd := range im.BlockDeviceMappings {
		if bd.Ebs != nil && bd.Ebs.SnapshotId != nil {
			img.Snapshots = append(img.Snapshots, *bd.Ebs.SnapshotId)
			img.Size += int64(aws.ToInt32(bd.Ebs.VolumeSize)) << 30
		}
	}
	img.Protected = protectedNow(aws.ToString(im.DeregistrationProtection), b.now())
	pending := tags[lifecycle.TagStage] == stagePending
	read := tags
	if pending {
		read = cloneTags(tags)
		read[lifecycle.TagStage] = string(lifecycle.StageActive)
	}
	img, _ = lifecycle.FromTags(img, read) // a bad tag is kept as read; the planner skips an unknown stage or an unreadable time
	img.Tags = tags
	if pending && img.State == lifecycle.StateAvailable {
		img.State = backend.StatePending
	}
	// AWS Backup's images are Backup's to retire, never ours.
	_, backup := tags["aws:backup:source-resource"]
	img.Managed = lifecycle.IsManaged(tags, b.opts.ManagedBy) && !backup && b.ownerAllowed(img.Owner)
	return img
}

// sharedImage converts an image as an account it is shared with sees it:
// the metadata from the stamp its owner published in the description (the
// owner's tags are not visible there), stage from EC2 alone (a disabled
// AMI is no longer shared; deprecation shows as DeprecationTime). An image
// without a valid stamp of its own is not managed, so never chosen.
func (b *Backend) sharedImage(region string, im types.Image) lifecycle.Image {
	img := b.image(region, types.Image{
		ImageId: im.ImageId, Name: im.Name, State: im.State, OwnerId: im.OwnerId, SourceImageId: im.SourceImageId,
		CreationDate: im.CreationDate, DeprecationTime: im.DeprecationTime, BlockDeviceMappings: im.BlockDeviceMappings,
		DeregistrationProtection: im.DeregistrationProtection, Description: im.Description,
	})
	tags, err := lifecycle.ParseStamp(img.Description, img.ID)
	if err != nil {
		img.Managed = false
		return img
	}
	img, _ = lifecycle.FromTags(img, tags)
	img.Managed = lifecycle.IsManaged(tags, b.opts.ManagedBy) && b.ownerAllowed(img.Owner)
	return img
}

// ownerAllowed: with explicit owners, an image of any other account is
// never managed ("self" was resolved by EC2 in the listing itself).
func (b *Backend) ownerAllowed(owner string) bool {
	if len(b.opts.Owners) == 0 {
		return true
	}
	return slices.Contains(b.opts.Owners, owner) || slices.Contains(b.opts.Owners, "self")
}

// protectedNow reads DeregistrationProtection: "enabled",
// "enabled-with-cooldown", or "disabled-until <time>" while a cooldown
// still protects the image.
func protectedNow(v string, now time.Time) bool {
	switch {
	case strings.HasPrefix(v, "enabled"):
		return true
	case strings.HasPrefix(v, "disabled-until"):
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(strings.TrimPrefix(v, "disabled-until")))
		return err != nil || t.After(now)
	}
	return false
}
