package azure

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// ConsumerScaleSet is a virtual machine scale set (ID: its ARM id); VMs
// are lifecycle.ConsumerInstance, child versions lifecycle.ConsumerChildImage.
const ConsumerScaleSet = "scale-set"

// Usage finds who uses each version in the subscription: VMs and scale
// sets whose image reference is the version, or its image definition
// (they follow "latest": the newest version not excluded from it, which
// new VMs and scale-outs get), or whose exactVersion is the version; and
// child versions, in the covered galleries, whose `lifecycle:parent` names
// it. Three listings cover every image at once: VMs, scale sets, and the
// covered definitions' versions.
//
// It fails closed: a listing that fails makes every image used by a
// lifecycle.ConsumerUnknown that says why.
func (b *Backend) Usage(ctx context.Context, images []lifecycle.Image) lifecycle.Usage {
	u := lifecycle.Usage{}
	if len(images) == 0 {
		return u
	}
	var mu sync.Mutex
	add := func(ref lifecycle.Ref, c lifecycle.Consumer) {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(u[ref], c) {
			u[ref] = append(u[ref], c)
		}
	}
	all := func(err error) {
		for _, img := range images {
			add(img.Ref(), lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: err.Error()})
		}
	}
	c, sub, err := b.api()
	if err != nil {
		all(err)
		return u
	}
	// Wanted versions by their lower-case ARM id and by ref.
	byID := map[string]lifecycle.Ref{}
	for _, img := range images {
		if d, err := parseKey(img.Region); err == nil {
			byID[strings.ToLower(d.VersionID(sub, img.ID))] = img.Ref()
		}
	}
	var refs []reference
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		r, err := b.vmReferences(ctx, c)
		if err != nil {
			all(err)
		}
		mu.Lock()
		refs = append(refs, r...)
		mu.Unlock()
	}()
	go func() {
		defer wg.Done()
		r, err := b.scaleSetReferences(ctx, c)
		if err != nil {
			all(err)
		}
		mu.Lock()
		refs = append(refs, r...)
		mu.Unlock()
	}()
	var versions map[string][]*armcompute.GalleryImageVersion // by definition key
	go func() {
		defer wg.Done()
		var err error
		versions, err = b.allVersions(ctx)
		if err != nil {
			all(err)
		}
	}()
	wg.Wait()
	// A definition reference uses its latest version.
	latest := map[string]string{}
	for key, vs := range versions {
		latest[key] = latestVersion(vs)
	}
	for _, r := range refs {
		rsub, d, v, ok := definitionOf(r.image)
		if !ok || !strings.EqualFold(rsub, sub) {
			continue
		}
		if v == "" {
			vs, listed := versions[d.Key()]
			if !listed {
				// A definition outside the covered galleries: its latest
				// version is unknown, so any of its versions may be it.
				for id, ref := range byID {
					if strings.HasPrefix(id, strings.ToLower(d.ID(sub))+"/versions/") {
						add(ref, r.consumer)
					}
				}
				continue
			}
			v = latestVersion(vs)
		}
		for _, name := range []string{v, r.exact} {
			if name == "" {
				continue
			}
			if ref, ok := byID[strings.ToLower(d.VersionID(sub, name))]; ok {
				add(ref, r.consumer)
			}
		}
	}
	for key, vs := range versions {
		for _, v := range vs {
			parent := deref(v.Tags[lifecycle.TagParent])
			if parent == "" {
				continue
			}
			if ref, ok := byID[strings.ToLower(parent)]; ok && (ref.Region != key || ref.ID != deref(v.Name)) {
				add(ref, lifecycle.Consumer{Kind: lifecycle.ConsumerChildImage, ID: deref(v.ID)})
			}
		}
	}
	return u
}

// reference is one VM's or scale set's image reference.
type reference struct {
	image, exact string
	consumer     lifecycle.Consumer
}

func (b *Backend) vmReferences(ctx context.Context, c *clients) ([]reference, error) {
	var out []reference
	p := c.vms.NewListAllPager(nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing virtual machines: %w", err)
		}
		for _, vm := range page.Value {
			if vm == nil || vm.Properties == nil || vm.Properties.StorageProfile == nil || vm.Properties.StorageProfile.ImageReference == nil {
				continue
			}
			ir := vm.Properties.StorageProfile.ImageReference
			out = append(out, reference{image: deref(ir.ID), exact: deref(ir.ExactVersion),
				consumer: lifecycle.Consumer{Kind: lifecycle.ConsumerInstance, ID: deref(vm.ID)}})
		}
	}
	return out, nil
}

func (b *Backend) scaleSetReferences(ctx context.Context, c *clients) ([]reference, error) {
	var out []reference
	p := c.vmss.NewListAllPager(nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing virtual machine scale sets: %w", err)
		}
		for _, ss := range page.Value {
			if ss == nil || ss.Properties == nil || ss.Properties.VirtualMachineProfile == nil ||
				ss.Properties.VirtualMachineProfile.StorageProfile == nil || ss.Properties.VirtualMachineProfile.StorageProfile.ImageReference == nil {
				continue
			}
			ir := ss.Properties.VirtualMachineProfile.StorageProfile.ImageReference
			out = append(out, reference{image: deref(ir.ID), exact: deref(ir.ExactVersion),
				consumer: lifecycle.Consumer{Kind: ConsumerScaleSet, ID: deref(ss.ID)}})
		}
	}
	return out, nil
}

// allVersions lists every version of every covered definition, of any
// family: children may be anywhere, and "latest" is over them all. Pages
// the List or re-read just before fetched are taken as they are.
func (b *Backend) allVersions(ctx context.Context) (map[string][]*armcompute.GalleryImageVersion, error) {
	h := b.takeHandoff()
	if h != nil && h.complete {
		return h.versions, nil
	}
	defs, failed := b.definitions(ctx)
	if len(failed) > 0 {
		return nil, failed[0]
	}
	out := map[string][]*armcompute.GalleryImageVersion{}
	var mu sync.Mutex
	var firstErr error
	b.eachDefinition(ctx, defs, func(ctx context.Context, d Definition) {
		if h != nil {
			if vs, ok := h.versions[d.Key()]; ok {
				mu.Lock()
				out[d.Key()] = vs
				mu.Unlock()
				return
			}
		}
		vs, err := b.listRaw(ctx, d)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", d.Key(), err)
			}
			return
		}
		out[d.Key()] = vs
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// latestVersion is what "latest" resolves to: the highest version not
// excluded from latest ("" when none is).
func latestVersion(vs []*armcompute.GalleryImageVersion) string {
	best := ""
	var bestN [3]uint64
	for _, v := range vs {
		if v == nil || v.Name == nil || v.Properties == nil {
			continue
		}
		if pp := v.Properties.PublishingProfile; pp != nil && deref(pp.ExcludeFromLatest) {
			continue
		}
		if st := deref(v.Properties.ProvisioningState); st == "Creating" || st == "Deleting" || st == "Failed" {
			continue
		}
		var n [3]uint64
		if _, err := fmt.Sscanf(*v.Name, "%d.%d.%d", &n[0], &n[1], &n[2]); err != nil {
			continue
		}
		if best == "" || n[0] > bestN[0] || n[0] == bestN[0] && (n[1] > bestN[1] || n[1] == bestN[1] && n[2] > bestN[2]) {
			best, bestN = *v.Name, n
		}
	}
	return best
}
