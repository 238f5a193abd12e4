// Package azure is the Compute Gallery backend: releases are gallery image
// versions, their lifecycle metadata lives in `lifecycle:*` tags, and the
// stages are carried out with what a gallery offers:
//
//	deprecate   publishingProfile.excludeFromLatest = true ("latest" skips
//	            it) and endOfLifeDate set to now, unless it is set earlier
//	            or a deletion block guards a later one
//	disable     replicas withdrawn to the home region (targetRegions), the
//	            withdrawn ones remembered in a tag; Azure has no disable
//	            state: new VMs outside the home region fail, replica storage
//	            stops, and restore replicates back
//	deregister  the version deleted
//
// An image definition plays the part a region plays on AWS: refs are
// resource-group/gallery/image:version (lower case: ARM names are
// case-insensitive), one subscription per backend, and every definition is
// worked on by itself, in parallel, so one that fails never stops another.
package azure

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

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Name is the backend's name in reports.
const Name = "azure"

// BuilderID is the azure-arm builder's artifact id.
const BuilderID = "Azure.ResourceManagement.VMImage"

// stagePending is the stage tag of a new build whose run has not finished.
const stagePending = "pending"

// tagReplicas remembers the target regions a disable withdrew
// ("eastus=2,northeurope=1"), so that restore replicates them back.
const tagReplicas = lifecycle.TagPrefix + "replicas"

// Options configure the backend.
type Options struct {
	// Subscription is the one whose galleries are covered; "" takes the
	// first artifact's.
	Subscription string
	// Galleries are listed and swept beyond the artifacts' own definitions.
	Galleries []Gallery
	// ManagedBy is the marker written on and required of every version.
	ManagedBy string
	// Client reaches ARM.
	Client Client
	// Parallel bounds how many image definitions are worked on at once
	// (default all).
	Parallel int
}

// Backend is Compute Gallery image versions as a backend.Backend.
type Backend struct {
	opts  Options
	clock func() time.Time

	mu        sync.Mutex
	sub       string
	clients   *clients
	galleries []Gallery
	defs      map[string]Definition // by Key: the artifacts' definitions
	// handoff is what a List or an Apply's re-read just fetched, for the
	// Usage that follows it (once: any later Usage lists anew).
	handoff *handoff
}

// handoff is version pages by definition key; complete when they are every
// covered definition's (a List that saw them all).
type handoff struct {
	versions map[string][]*armcompute.GalleryImageVersion
	complete bool
}

// setHandoff leaves pages for the next Usage.
func (b *Backend) setHandoff(h *handoff) {
	b.mu.Lock()
	b.handoff = h
	b.mu.Unlock()
}

// takeHandoff returns the pages left for this Usage, if any, and clears them.
func (b *Backend) takeHandoff() *handoff {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.handoff
	b.handoff = nil
	return h
}

var _ backend.Backend = (*Backend)(nil)

// clients are the ARM clients of the subscription.
type clients struct {
	versions *armcompute.GalleryImageVersionsClient
	images   *armcompute.GalleryImagesClient
	vms      *armcompute.VirtualMachinesClient
	vmss     *armcompute.VirtualMachineScaleSetsClient
}

// New returns the backend. Nothing is contacted until a method needs it.
func New(opts Options, clock func() time.Time) (*Backend, error) {
	if clock == nil {
		clock = time.Now
	}
	if opts.ManagedBy == "" {
		opts.ManagedBy = lifecycle.DefaultManagedBy
	}
	if opts.Client.Poll <= 0 {
		opts.Client.Poll = DefaultPollFrequency
	}
	b := &Backend{opts: opts, clock: clock, galleries: slices.Clone(opts.Galleries), defs: map[string]Definition{}}
	if opts.Subscription != "" {
		if err := b.setSubscription(opts.Subscription); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Open returns the backend for the access options: managedBy is the marker,
// now the run's clock. It reads metadata_host's document, if any.
func Open(ctx context.Context, c Config, retry Retry, managedBy string, now func() time.Time) (*Backend, error) {
	cl, err := ClientFor(ctx, c, retry, nil)
	if err != nil {
		return nil, err
	}
	opts := Options{Subscription: c.SubscriptionID, ManagedBy: managedBy, Client: cl}
	if g, ok := c.Gallery(); ok {
		opts.Galleries = []Gallery{g}
	}
	return New(opts, now)
}

// setSubscription fixes the subscription (once) and makes its clients.
func (b *Backend) setSubscription(sub string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sub != "" {
		if !strings.EqualFold(b.sub, sub) {
			return fmt.Errorf("azure: the gallery is in subscription %s, but the backend covers %s (set subscription_id to the gallery's)", sub, b.sub)
		}
		return nil
	}
	f, err := armcompute.NewClientFactory(sub, b.opts.Client.Credential, &b.opts.Client.Options)
	if err != nil {
		return fmt.Errorf("azure: %w", err)
	}
	b.sub = strings.ToLower(sub)
	b.clients = &clients{versions: f.NewGalleryImageVersionsClient(), images: f.NewGalleryImagesClient(),
		vms: f.NewVirtualMachinesClient(), vmss: f.NewVirtualMachineScaleSetsClient()}
	return nil
}

// api returns the clients, or an error when no subscription is known yet.
func (b *Backend) api() (*clients, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.clients == nil {
		return nil, "", errors.New("azure: no subscription: set subscription_id")
	}
	return b.clients, b.sub, nil
}

// Name is shown in reports.
func (b *Backend) Name() string { return Name }

func (b *Backend) now() time.Time { return b.clock().UTC() }

// Subscription is the subscription covered ("" until known).
func (b *Backend) Subscription() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sub
}

func (b *Backend) addDefinition(d Definition) {
	b.mu.Lock()
	b.defs[d.Key()] = d
	b.mu.Unlock()
}

// artifactGalleryIDRE reads the gallery image version id out of the
// azure-arm artifact's String(), where it is when the build also made a
// managed image (Id() is then the managed image's).
var artifactGalleryIDRE = regexp.MustCompile(`(?m)^ManagedImageSharedImageGalleryId: (\S+)\s*$`)

// NewReleases reads an azure-arm artifact that published to a gallery: its
// Id() is the version's id (gallery only), or its String() names it
// (managed image and gallery). The subscription comes from that id. The
// parent is the build's source image when the template sets none.
func (b *Backend) NewReleases(a packersdk.Artifact, release lifecycle.Image) ([]lifecycle.Image, error) {
	id := strings.TrimSpace(a.Id())
	if _, err := parseVersionID(id); err != nil {
		if m := artifactGalleryIDRE.FindStringSubmatch(a.String()); m != nil {
			id = m[1]
		}
	}
	v, err := parseVersionID(id)
	if err != nil {
		return nil, fmt.Errorf("the artifact of builder %s names no gallery image version (id %q): the azure backend needs an azure-arm build with shared_image_gallery_destination (or set sweep = true)", a.BuilderId(), clip(a.Id()))
	}
	if err := b.setSubscription(v.Subscription); err != nil {
		return nil, err
	}
	if release.Parent == "" {
		release.Parent = backend.GeneratedData(a, "SourceImageName")
	}
	img := release
	img.Region, img.ID, img.Name = v.Definition.Key(), v.Version, id
	img.Tags = map[string]string{}
	for k, val := range release.Tags {
		img.Tags[k] = val
	}
	b.addDefinition(v.Definition)
	return []lifecycle.Image{img}, nil
}

// definitions lists the definitions covered: the artifacts', the named
// ones of each gallery, and every one of a gallery that names none. A
// gallery that cannot be listed is in failed, keyed "resource-group/gallery".
func (b *Backend) definitions(ctx context.Context) (map[string]Definition, []backend.RegionError) {
	c, _, err := b.api()
	out := map[string]Definition{}
	b.mu.Lock()
	for k, d := range b.defs {
		out[k] = d
	}
	galleries := slices.Clone(b.galleries)
	b.mu.Unlock()
	var failed []backend.RegionError
	for _, g := range galleries {
		if len(g.Images) > 0 {
			for _, im := range g.Images {
				d := Definition{g.ResourceGroup, g.Name, im}
				out[d.Key()] = d
			}
			continue
		}
		if err != nil {
			failed = append(failed, backend.RegionError{Region: strings.ToLower(g.ResourceGroup + "/" + g.Name), Err: err})
			continue
		}
		p := c.images.NewListByGalleryPager(g.ResourceGroup, g.Name, nil)
		var found []Definition
		for p.More() {
			page, perr := p.NextPage(ctx)
			if perr != nil {
				err := fmt.Errorf("listing the image definitions: %w", perr)
				failed = append(failed, backend.RegionError{Region: strings.ToLower(g.ResourceGroup + "/" + g.Name), Err: err})
				found = nil
				break
			}
			for _, im := range page.Value {
				if im != nil && im.Name != nil {
					found = append(found, Definition{g.ResourceGroup, g.Name, *im.Name})
				}
			}
		}
		for _, d := range found {
			out[d.Key()] = d
		}
	}
	return out, failed
}

// List lists the family in every covered image definition in parallel,
// keeping the versions whose `lifecycle:family` tag names it. A definition
// (or gallery) that fails is in Failed; the others are listed.
func (b *Backend) List(ctx context.Context, q backend.Query) (backend.Listing, error) {
	for _, r := range q.Regions {
		if d, err := parseKey(r); err == nil {
			b.addDefinition(d)
		}
	}
	if _, _, err := b.api(); err != nil {
		return backend.Listing{}, err
	}
	defs, failed := b.definitions(ctx)
	if len(defs) == 0 && len(failed) == 0 {
		return backend.Listing{}, errors.New("azure: no gallery to list: set gallery_resource_group and gallery_name")
	}
	var mu sync.Mutex
	l := backend.Listing{Images: []lifecycle.Image{}, Failed: failed}
	pages := map[string][]*armcompute.GalleryImageVersion{}
	b.eachDefinition(ctx, defs, func(ctx context.Context, d Definition) {
		raw, err := b.listRaw(ctx, d)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			l.Failed = append(l.Failed, backend.RegionError{Region: d.Key(), Err: err})
			return
		}
		pages[d.Key()] = raw
		for _, v := range raw {
			img := b.image(d, v)
			if !q.Matches(img) || img.State == lifecycle.StateDeregistered {
				continue
			}
			l.Images = append(l.Images, img)
		}
	})
	// The usage lookup that follows the listing needs every version of
	// every definition ("latest", children): these, seconds old.
	b.setHandoff(&handoff{versions: pages, complete: len(l.Failed) == 0})
	l.Sort()
	return l, nil
}

// listRaw lists a definition's versions (paginated). A definition that
// does not exist is an error, not an empty one: a misspelt
// gallery_image_names entry must not sweep nothing in silence.
func (b *Backend) listRaw(ctx context.Context, d Definition) ([]*armcompute.GalleryImageVersion, error) {
	c, _, err := b.api()
	if err != nil {
		return nil, err
	}
	var out []*armcompute.GalleryImageVersion
	p := c.versions.NewListByGalleryImagePager(d.ResourceGroup, d.Gallery, d.Image, nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if isNotFound(err) {
			return nil, fmt.Errorf("no image definition %s in gallery %s of resource group %s (or no such gallery)", d.Image, d.Gallery, d.ResourceGroup)
		}
		if err != nil {
			return nil, fmt.Errorf("listing the image versions: %w", err)
		}
		for _, v := range page.Value {
			if v != nil && v.Name != nil {
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// get reads one version; ok is false when it does not exist.
func (b *Backend) get(ctx context.Context, d Definition, version string) (*armcompute.GalleryImageVersion, bool, error) {
	c, _, err := b.api()
	if err != nil {
		return nil, false, err
	}
	r, err := c.versions.Get(ctx, d.ResourceGroup, d.Gallery, d.Image, version, nil)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the image version: %w", err)
	}
	return &r.GalleryImageVersion, true, nil
}

// eachDefinition runs fn for every definition, at most Parallel at once.
func (b *Backend) eachDefinition(ctx context.Context, defs map[string]Definition, fn func(ctx context.Context, d Definition)) {
	keys := make([]string, 0, len(defs))
	for k := range defs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	backend.Each(ctx, keys, b.opts.Parallel, func(ctx context.Context, k string) { fn(ctx, defs[k]) })
}

// image converts a gallery image version: metadata from our tags, state
// from its provisioning state, end of life, replicas and safety profile.
func (b *Backend) image(d Definition, v *armcompute.GalleryImageVersion) lifecycle.Image {
	img := lifecycle.Image{ID: deref(v.Name), Region: d.Key(), Name: deref(v.ID), Owner: b.Subscription()}
	if img.Name == "" {
		img.Name = d.VersionID(b.Subscription(), img.ID)
	}
	p := v.Properties
	if p == nil {
		p = &armcompute.GalleryImageVersionProperties{}
	}
	pp := p.PublishingProfile
	if pp == nil {
		pp = &armcompute.GalleryImageVersionPublishingProfile{}
	}
	if pp.PublishedDate != nil {
		img.BuildTime = pp.PublishedDate.UTC()
	}
	switch st := string(deref(p.ProvisioningState)); st {
	case "Succeeded", "Updating", "Migrating":
		img.State = lifecycle.StateAvailable
	case "Creating":
		img.State = lifecycle.StatePending
	case "Deleting":
		img.State = lifecycle.StateDeregistered
	case "":
		img.State = lifecycle.StateAvailable // a list may leave it out
	default:
		img.State = strings.ToLower(st)
	}
	now := b.now()
	// The end of life is Azure's own deprecation: deployments warn once it
	// has passed. excludeFromLatest alone is not one: a build may publish
	// a canary excluded from "latest".
	if pp.EndOfLifeDate != nil {
		img.DeprecationTime = pp.EndOfLifeDate.UTC()
	}
	img.Protected = protected(p.SafetyProfile, pp, now)
	img.Size = size(p, pp)
	tags := map[string]string{}
	for k, val := range v.Tags {
		if val != nil {
			tags[k] = *val
		}
	}
	if tags[tagReplicas] != "" && img.State == lifecycle.StateAvailable {
		img.State = lifecycle.StateDisabled
	}
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
	img.Managed = lifecycle.IsManaged(tags, b.opts.ManagedBy)
	return img
}

// protected says whether Azure would refuse to delete the version: a
// deletion block before an end of life not yet passed (or not set). The
// planner never disables or deletes it.
func protected(sp *armcompute.GalleryImageVersionSafetyProfile, pp *armcompute.GalleryImageVersionPublishingProfile, now time.Time) bool {
	return sp != nil && deref(sp.BlockDeletionBeforeEndOfLife) && (pp.EndOfLifeDate == nil || pp.EndOfLifeDate.After(now))
}

// size is the storage the version's replicas hold, as provisioned: the OS
// and data disk sizes times the replicas in every region.
func size(p *armcompute.GalleryImageVersionProperties, pp *armcompute.GalleryImageVersionPublishingProfile) int64 {
	var gb int64
	if sp := p.StorageProfile; sp != nil {
		if sp.OSDiskImage != nil {
			gb += int64(deref(sp.OSDiskImage.SizeInGB))
		}
		for _, dd := range sp.DataDiskImages {
			if dd != nil {
				gb += int64(deref(dd.SizeInGB))
			}
		}
	}
	replicas := int64(0)
	for _, r := range pp.TargetRegions {
		if r != nil {
			replicas += int64(max(deref(r.RegionalReplicaCount), deref(pp.ReplicaCount), 1))
		}
	}
	return gb << 30 * max(replicas, 1)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func cloneTags(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// azureTags turns tags into ARM's form.
func azureTags(m map[string]string) map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

// definition is the Definition of a ref's region.
func definition(key string) (Definition, error) {
	d, err := parseKey(key)
	if err != nil {
		return Definition{}, fmt.Errorf("azure: %w", err)
	}
	return d, nil
}

// ParentNames: a child names its parent version by its resource id (the
// data source's `self_link`), which ARM compares without case; the
// version name alone is ambiguous across definitions.
func (b *Backend) ParentNames(img lifecycle.Image) []string {
	return []string{img.Name, strings.ToLower(img.Name)}
}
