// Package gcp is the Compute Engine backend: releases are images, global
// in a project, their lifecycle metadata lives in `lifecycle-*` labels, and
// the stages are carried out with Compute Engine's own deprecation states:
// deprecate → DEPRECATED (with the superseding release as replacement),
// disable → OBSOLETE, deregister → images.delete.
//
// A project plays the part a region plays on AWS: refs are
// project:image-name, and every project is worked on by itself, in
// parallel, so one that fails never stops another.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Name is the backend's name in reports.
const Name = "gcp"

// BuilderID is the googlecompute builder's artifact id.
const BuilderID = "packer.googlecompute"

// stagePending is the stage label of a new build whose run has not finished.
const stagePending = "pending"

// Compute Engine's deprecation states.
const (
	stateActive     = "ACTIVE"
	stateDeprecated = "DEPRECATED"
	stateObsolete   = "OBSOLETE"
	stateDeleted    = "DELETED"
)

// Options configure the backend.
type Options struct {
	// Projects are listed and swept beyond the artifacts' own.
	Projects []string
	// ManagedBy is the marker written on and required of every image.
	ManagedBy string
	// Client reaches Compute Engine.
	Client Client
	// Parallel bounds how many projects are worked on at once (default all).
	Parallel int
}

// Backend is Compute Engine images as a backend.Backend.
type Backend struct {
	opts  Options
	clock func() time.Time
	svc   *compute.Service

	mu       sync.Mutex
	projects map[string]bool
}

var _ backend.Backend = (*Backend)(nil)

// New returns the backend. Nothing is contacted until a method needs it.
func New(ctx context.Context, opts Options, clock func() time.Time) (*Backend, error) {
	if clock == nil {
		clock = time.Now
	}
	if opts.ManagedBy == "" {
		opts.ManagedBy = lifecycle.DefaultManagedBy
	}
	hc := opts.Client.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &Retrying{Next: http.DefaultTransport, Attempts: DefaultMaxRetries}}
	}
	copts := []option.ClientOption{option.WithHTTPClient(hc), option.WithUserAgent(UserAgent)}
	if opts.Client.Endpoint != "" {
		copts = append(copts, option.WithEndpoint(opts.Client.Endpoint))
	}
	svc, err := compute.NewService(ctx, copts...)
	if err != nil {
		return nil, fmt.Errorf("gcp: %w", err)
	}
	b := &Backend{opts: opts, clock: clock, svc: svc, projects: map[string]bool{}}
	for _, p := range opts.Projects {
		b.projects[p] = true
	}
	return b, nil
}

// Name is shown in reports.
func (b *Backend) Name() string { return Name }

func (b *Backend) now() time.Time { return b.clock().UTC() }

// Projects are the projects List covers, sorted.
func (b *Backend) Projects() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.projects))
	for p := range b.projects {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (b *Backend) addProject(p string) {
	b.mu.Lock()
	b.projects[p] = true
	b.mu.Unlock()
}

// artifactProjectRE reads the image's project out of the googlecompute
// artifact's String(): its ProjectId state is the build project, which
// differs from the image's when image_project_id is set.
var artifactProjectRE = regexp.MustCompile(`^A disk image was created in the '([^']+)' project: (\S+)$`)

// NewReleases reads a googlecompute artifact: its Id() is the image name,
// its project the image_project_id (from String()), else the build's
// project_id (state ProjectId), else the backend's first project. The
// parent is the build's source image when the template sets none.
func (b *Backend) NewReleases(a packersdk.Artifact, release lifecycle.Image) ([]lifecycle.Image, error) {
	name := strings.TrimSpace(a.Id())
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("the artifact of builder %s has id %q, not an image name: the gcp backend needs a googlecompute builder's artifact (or set sweep = true)", a.BuilderId(), clip(name))
	}
	project := ""
	if m := artifactProjectRE.FindStringSubmatch(strings.TrimSpace(a.String())); m != nil && m[2] == name {
		project = m[1]
	}
	if project == "" {
		project, _ = a.State("ProjectId").(string)
	}
	if project == "" {
		if ps := b.Projects(); len(ps) > 0 {
			project = ps[0]
		}
	}
	if err := CheckProject(project); err != nil {
		return nil, fmt.Errorf("the artifact's image %s: no usable project: %v; set project_id", name, err)
	}
	if release.Parent == "" {
		release.Parent = backend.GeneratedData(a, "SourceImageName")
	}
	img := release
	img.Region, img.ID, img.Name = project, name, name
	img.Tags = map[string]string{}
	for k, v := range release.Tags {
		img.Tags[k] = v
	}
	b.addProject(project)
	return []lifecycle.Image{img}, nil
}

// List lists the family in every project in parallel, by label filter. A
// project that fails is in Failed; the others are listed.
func (b *Backend) List(ctx context.Context, q backend.Query) (backend.Listing, error) {
	for _, p := range q.Regions {
		b.addProject(p)
	}
	projects := b.Projects()
	if len(projects) == 0 {
		return backend.Listing{}, errors.New("gcp: no project to list: set project_id")
	}
	fam, ok := EncodeValue(lifecycle.TagFamily, q.Family)
	if !ok && !q.AllFamilies {
		return backend.Listing{}, fmt.Errorf("gcp: family %q does not fit in a label", q.Family)
	}
	filter := fmt.Sprintf(`labels.%s = "%s"`, LabelKey(lifecycle.TagFamily), fam)
	if q.AllFamilies {
		filter = "" // every image of the project; q.Matches keeps the releases
	}
	if q.Channel != "" && !q.AllFamilies {
		ch, ok := EncodeValue(lifecycle.TagChannel, q.Channel)
		if !ok {
			return backend.Listing{}, fmt.Errorf("gcp: channel %q does not fit in a label", q.Channel)
		}
		filter += fmt.Sprintf(` AND labels.%s = "%s"`, LabelKey(lifecycle.TagChannel), ch)
	}
	var mu sync.Mutex
	l := backend.Listing{Images: []lifecycle.Image{}}
	b.eachProject(ctx, projects, func(ctx context.Context, project string) {
		raw, err := b.listRaw(ctx, project, filter)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			l.Failed = append(l.Failed, backend.RegionError{Region: project, Err: err})
			return
		}
		for _, im := range raw {
			if img := b.image(project, im); img.State != lifecycle.StateDeregistered && (!q.AllFamilies || q.Matches(img)) {
				l.Images = append(l.Images, img)
			}
		}
	})
	l.Sort()
	return l, nil
}

// listRaw runs one paginated images.list.
func (b *Backend) listRaw(ctx context.Context, project, filter string) ([]*compute.Image, error) {
	var out []*compute.Image
	err := b.svc.Images.List(project).Filter(filter).MaxResults(500).Pages(ctx, func(page *compute.ImageList) error {
		out = append(out, page.Items...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("images.list: %w", err)
	}
	return out, nil
}

// get reads one image; ok is false when it does not exist.
func (b *Backend) get(ctx context.Context, project, name string) (*compute.Image, bool, error) {
	im, err := b.svc.Images.Get(project, name).Context(ctx).Do()
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("images.get: %w", err)
	}
	return im, true, nil
}

// reread reads the given images of one project again: images.list by
// name, 50 names a call (a filter stays short), instead of one images.get
// each; an image that does not exist is absent from the result.
func (b *Backend) reread(ctx context.Context, project string, names []string) (map[string]*compute.Image, error) {
	out := map[string]*compute.Image{}
	var valid []string
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if nameRE.MatchString(n) { // a name is [a-z0-9-]: nothing to quote
			valid = append(valid, n)
		}
	}
	for chunk := range slices.Chunk(valid, 50) {
		terms := make([]string, len(chunk))
		for i, n := range chunk {
			terms[i] = fmt.Sprintf(`(name = "%s")`, n)
		}
		raw, err := b.listRaw(ctx, project, strings.Join(terms, " OR "))
		if err != nil {
			return nil, err
		}
		for _, im := range raw {
			if slices.Contains(chunk, im.Name) {
				out[im.Name] = im
			}
		}
	}
	return out, nil
}

// eachProject runs fn for every project, at most Parallel at once.
func (b *Backend) eachProject(ctx context.Context, projects []string, fn func(ctx context.Context, project string)) {
	backend.Each(ctx, projects, b.opts.Parallel, fn)
}

// image converts a Compute Engine image: metadata from our labels, state
// from its status and deprecation state.
func (b *Backend) image(project string, im *compute.Image) lifecycle.Image {
	img := lifecycle.Image{
		ID: im.Name, Region: project, Name: im.Name, Owner: project,
		Size: im.ArchiveSizeBytes, Description: im.Description,
	}
	img.BuildTime, _ = time.Parse(time.RFC3339, im.CreationTimestamp)
	img.BuildTime = img.BuildTime.UTC()
	switch im.Status {
	case "READY":
		img.State = lifecycle.StateAvailable
	case "PENDING":
		img.State = lifecycle.StatePending
	case "DELETING":
		img.State = lifecycle.StateDeregistered
	default:
		img.State = strings.ToLower(im.Status)
	}
	now := b.now()
	if d := im.Deprecated; d != nil {
		switch d.State {
		case stateDeprecated, stateObsolete, stateDeleted:
			// Compute Engine's times are informational and may be in the
			// future or absent: the state is what counts, so an image
			// deprecated without one is deprecated now.
			at, err := time.Parse(time.RFC3339, d.Deprecated)
			if err != nil || at.After(now) {
				at = now
			}
			img.DeprecationTime = at.UTC()
			if d.State != stateDeprecated && img.State == lifecycle.StateAvailable {
				img.State = lifecycle.StateDisabled
			}
		}
	}
	if src := parseImageURL(im.SourceImage, project); src.name != "" {
		img.Parent = src.name
	}
	tags, badLabel := TagsFromLabels(im.Labels)
	pending := tags[lifecycle.TagStage] == stagePending
	read := tags
	if pending {
		read = cloneTags(tags)
		read[lifecycle.TagStage] = string(lifecycle.StageActive)
	}
	img, _ = lifecycle.FromTags(img, read) // a bad label is kept as read; the planner skips an unknown stage or an unreadable time
	img.Tags = tags
	if badLabel != nil && img.BadMetadata == "" {
		img.BadMetadata = badLabel.Error()
	}
	if pending && img.State == lifecycle.StateAvailable {
		img.State = backend.StatePending
	}
	img.Managed = lifecycle.IsManaged(tags, b.opts.ManagedBy)
	return img
}

func cloneTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// imageRef is an image (or family) named by a Compute Engine URL.
type imageRef struct {
	project, name, family string
}

// imageURLRE matches the forms Compute Engine takes for an image:
// full or partial URLs, projects/P/global/images/NAME or
// .../images/family/FAMILY, and global/images/NAME in the caller's project.
var imageURLRE = regexp.MustCompile(`(?:^|/)(?:projects/([^/]+)/)?global/images/(?:(family)/)?([^/]+)$`)

// parseImageURL reads an image reference; project is the caller's, for
// references without one.
func parseImageURL(u, project string) imageRef {
	m := imageURLRE.FindStringSubmatch(u)
	if m == nil {
		return imageRef{}
	}
	r := imageRef{project: m[1]}
	if r.project == "" {
		r.project = project
	}
	if m[2] != "" {
		r.family = m[3]
	} else {
		r.name = m[3]
	}
	return r
}

func isNotFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}

func isConflict(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}
