package gcp

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	compute "google.golang.org/api/compute/v1"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Consumer kinds of Compute Engine (lifecycle's own kinds cover instances,
// child images and accounts).
const (
	ConsumerInstanceTemplate = "instance-template" // ID: [region/]template name
	ConsumerInstanceGroup    = "instance-group"    // ID: zone-or-region/MIG name
)

// Usage finds who uses each image, in every project the backend covers
// (an image of one project can be used from another): instances whose
// disks were made from it (disks.aggregatedList: sourceImage and users),
// instance templates, global and regional, whose disks name it or a family
// that resolves to it now (instanceTemplates.aggregatedList, one
// images.getFromFamily per family), managed instance groups using such a
// template (instanceGroupManagers.aggregatedList), child images made from
// it (images.list), and principals outside the covered projects it is
// shared with (images.getIamPolicy, for deprecated and disabled images
// only). Disks that no instance uses do not
// count: a disk needs its image no more once made.
//
// It fails closed: a lookup that fails, or a zone or region Compute Engine
// reports unreachable, makes the images it could have found used by a
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
	wanted := map[imageRef]bool{}
	for _, img := range images {
		wanted[imageRef{project: img.Region, name: img.ID}] = true
		b.addProject(img.Region)
	}
	all := func(err error) {
		for _, img := range images {
			add(img.Ref(), lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: err.Error()})
		}
	}
	ref := func(r imageRef) lifecycle.Ref { return lifecycle.Ref{Region: r.project, ID: r.name} }
	projects := b.Projects()
	b.eachProject(ctx, projects, func(ctx context.Context, project string) {
		found, err := b.projectUsage(ctx, project, wanted)
		if err != nil {
			// Any image of any project could be used here.
			all(fmt.Errorf("project %s: %w", project, err))
		}
		for _, f := range found {
			add(ref(f.image), f.consumer)
		}
	})
	// Shares through IAM, image by image (Compute Engine has no listing of
	// policies), and only for the images a run may disable or delete: the
	// deprecated and the disabled. An active image moves to deprecated at
	// most, which its users may see and which is allowed in use.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	now := b.now()
	for _, img := range images {
		if st := img.EffectiveStage(now); st != lifecycle.StageDeprecated && st != lifecycle.StageDisabled {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			members, err := b.sharedWith(ctx, img.Region, img.ID, projects)
			if err != nil {
				add(img.Ref(), lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: err.Error()})
			}
			for _, m := range members {
				add(img.Ref(), lifecycle.Consumer{Kind: lifecycle.ConsumerAccount, ID: m})
			}
		}()
	}
	wg.Wait()
	return u
}

type use struct {
	image    imageRef
	consumer lifecycle.Consumer
}

// projectUsage looks for the wanted images' consumers in one project.
func (b *Backend) projectUsage(ctx context.Context, project string, wanted map[imageRef]bool) ([]use, error) {
	var out []use
	// Instances, through their disks.
	err := b.svc.Disks.AggregatedList(project).Fields("items/*/disks(name,sourceImage,users)", "items/*/warning", "nextPageToken").
		MaxResults(500).Pages(ctx, func(page *compute.DiskAggregatedList) error {
		for scope, l := range page.Items {
			if unreachable(l.Warning) {
				return fmt.Errorf("disks.aggregatedList: %s unreachable", scope)
			}
			for _, d := range l.Disks {
				src := parseImageURL(d.SourceImage, project)
				if !wanted[src] {
					continue
				}
				for _, user := range d.Users {
					out = append(out, use{src, lifecycle.Consumer{Kind: lifecycle.ConsumerInstance, ID: lastParts(user, 3)}})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("disks.aggregatedList: %w", err)
	}
	// Instance templates, global and regional; a family resolves to its
	// image of now, which is what a new instance would get.
	templates := map[string][]imageRef{} // template URL → images
	families := map[imageRef]imageRef{}
	err = b.svc.InstanceTemplates.AggregatedList(project).MaxResults(500).Pages(ctx, func(page *compute.InstanceTemplateAggregatedList) error {
		for scope, l := range page.Items {
			if unreachable(l.Warning) {
				return fmt.Errorf("instanceTemplates.aggregatedList: %s unreachable", scope)
			}
			for _, t := range l.InstanceTemplates {
				if t.Properties == nil {
					continue
				}
				for _, d := range t.Properties.Disks {
					if d.InitializeParams == nil {
						continue
					}
					r := parseImageURL(d.InitializeParams.SourceImage, project)
					if r.family != "" {
						if _, ok := families[r]; !ok {
							families[r] = imageRef{}
						}
					}
					if r.name != "" || r.family != "" {
						templates[t.SelfLink] = append(templates[t.SelfLink], r)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("instanceTemplates.aggregatedList: %w", err)
	}
	for f := range families {
		if !wantedIn(wanted, f.project) {
			continue // a family elsewhere (debian-cloud) holds none of ours
		}
		im, err := b.svc.Images.GetFromFamily(f.project, f.family).Fields("name").Context(ctx).Do()
		switch {
		case isNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("images.getFromFamily %s/%s: %w", f.project, f.family, err)
		default:
			families[f] = imageRef{project: f.project, name: im.Name}
		}
	}
	used := map[string][]imageRef{} // template URL → wanted images
	for link, refs := range templates {
		for _, r := range refs {
			if r.family != "" {
				r = families[r]
			}
			if wanted[r] && !slices.Contains(used[link], r) {
				used[link] = append(used[link], r)
				out = append(out, use{r, lifecycle.Consumer{Kind: ConsumerInstanceTemplate, ID: templateID(link)}})
			}
		}
	}
	if len(used) == 0 {
		return b.appendChildren(ctx, project, wanted, out)
	}
	// Managed instance groups of those templates.
	err = b.svc.InstanceGroupManagers.AggregatedList(project).MaxResults(500).Pages(ctx, func(page *compute.InstanceGroupManagerAggregatedList) error {
		for scope, l := range page.Items {
			if unreachable(l.Warning) {
				return fmt.Errorf("instanceGroupManagers.aggregatedList: %s unreachable", scope)
			}
			for _, m := range l.InstanceGroupManagers {
				links := []string{m.InstanceTemplate}
				for _, v := range m.Versions {
					links = append(links, v.InstanceTemplate)
				}
				for _, link := range links {
					for _, r := range used[sameTemplate(link, used)] {
						c := lifecycle.Consumer{Kind: ConsumerInstanceGroup, ID: strings.TrimPrefix(scope, "zones/") + "/" + m.Name}
						c.ID = strings.TrimPrefix(c.ID, "regions/")
						out = append(out, use{r, c})
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("instanceGroupManagers.aggregatedList: %w", err)
	}
	return b.appendChildren(ctx, project, wanted, out)
}

// appendChildren adds the images of project made from a wanted one.
func (b *Backend) appendChildren(ctx context.Context, project string, wanted map[imageRef]bool, out []use) ([]use, error) {
	err := b.svc.Images.List(project).Fields("items(name,sourceImage,labels)", "nextPageToken").MaxResults(500).Pages(ctx, func(page *compute.ImageList) error {
		for _, im := range page.Items {
			parent := parseImageURL(im.SourceImage, project)
			if p := im.Labels[LabelKey(lifecycle.TagParent)]; p != "" && !wanted[parent] {
				if name, err := DecodeValue(lifecycle.TagParent, p); err == nil {
					parent = imageRef{project: project, name: name}
				}
			}
			if wanted[parent] && !(parent.project == project && parent.name == im.Name) {
				out = append(out, use{parent, lifecycle.Consumer{Kind: lifecycle.ConsumerChildImage, ID: project + ":" + im.Name}})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("child images: images.list: %w", err)
	}
	return out, nil
}

// sharedWith returns the principals outside the covered projects that the
// image's IAM policy grants a role on it.
func (b *Backend) sharedWith(ctx context.Context, project, name string, covered []string) ([]string, error) {
	p, err := b.svc.Images.GetIamPolicy(project, name).Context(ctx).Do()
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("images.getIamPolicy: %w", err)
	}
	var out []string
	for _, bnd := range p.Bindings {
		for _, m := range bnd.Members {
			if !insideCovered(m, covered) && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// insideCovered says whether a member belongs to one of the covered
// projects, whose usage the backend checks itself: the project's own
// convenience members and its service accounts.
func insideCovered(member string, covered []string) bool {
	kind, id, _ := strings.Cut(member, ":")
	switch kind {
	case "projectOwner", "projectEditor", "projectViewer":
		return slices.Contains(covered, id)
	case "serviceAccount":
		if _, domain, ok := strings.Cut(id, "@"); ok {
			p, _, _ := strings.Cut(domain, ".")
			return strings.HasSuffix(domain, ".iam.gserviceaccount.com") && slices.Contains(covered, p)
		}
	}
	return false
}

// unreachable says whether a scoped list's warning means the scope could
// not be read (its resources are missing, not absent).
func unreachable(w interface{}) bool {
	switch w := w.(type) {
	case *compute.DisksScopedListWarning:
		return w != nil && w.Code == "UNREACHABLE"
	case *compute.InstanceTemplatesScopedListWarning:
		return w != nil && w.Code == "UNREACHABLE"
	case *compute.InstanceGroupManagersScopedListWarning:
		return w != nil && w.Code == "UNREACHABLE"
	}
	return false
}

// templateID names a template by its last URL parts: name, or
// region/name for a regional one.
func templateID(link string) string {
	if i := strings.Index(link, "/regions/"); i >= 0 {
		parts := strings.Split(link[i+len("/regions/"):], "/")
		if len(parts) >= 3 {
			return parts[0] + "/" + parts[2]
		}
	}
	return lastParts(link, 1)
}

// sameTemplate finds the key of used that names the same template as link
// (MIGs may give partial URLs).
func sameTemplate(link string, used map[string][]imageRef) string {
	if _, ok := used[link]; ok {
		return link
	}
	for k := range used {
		if strings.HasSuffix(k, "/"+strings.TrimPrefix(link, "/")) || strings.HasSuffix(link, "/"+strings.TrimPrefix(k, "/")) {
			return k
		}
	}
	return ""
}

// lastParts is the last n '/'-separated parts of a URL, with the middle
// "instances" dropped (zones/Z/instances/I → Z/I).
func lastParts(u string, n int) string {
	parts := strings.Split(strings.TrimSuffix(u, "/"), "/")
	if len(parts) > n {
		parts = parts[len(parts)-n:]
	}
	out := slices.DeleteFunc(parts, func(s string) bool { return s == "instances" })
	return strings.Join(out, "/")
}

// wantedIn says whether any wanted image is in project.
func wantedIn(wanted map[imageRef]bool, project string) bool {
	for r := range wanted {
		if r.project == project {
			return true
		}
	}
	return false
}
