package gceemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"google.golang.org/api/compute/v1"
)

func init() {
	handle("GET", "global/images", "compute.images.list", listImages)
	handle("POST", "global/images", "compute.images.insert", insertImage)
	handle("GET", "global/images/family/{}", "compute.images.getFromFamily", getFromFamily)
	handle("GET", "global/images/{}", "compute.images.get", getImage)
	handle("DELETE", "global/images/{}", "compute.images.delete", deleteImage)
	handle("PATCH", "global/images/{}", "compute.images.patch", patchImage)
	handle("POST", "global/images/{}/deprecate", "compute.images.deprecate", deprecateImage)
	handle("POST", "global/images/{}/setLabels", "compute.images.setLabels", setImageLabels)
	handle("GET", "global/images/{}/getIamPolicy", "compute.images.getIamPolicy", getImagePolicy)
	handle("POST", "global/images/{}/setIamPolicy", "compute.images.setIamPolicy", setImagePolicy)
}

var nameRE = regexp.MustCompile(`^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$`)

func checkName(field, name string) *apiError {
	if !nameRE.MatchString(name) {
		return invalid("Invalid value for field '%s': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?|[1-9][0-9]{0,19})'", field, name)
	}
	return nil
}

var labelKeyRE = regexp.MustCompile(`^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$`)
var labelValueRE = regexp.MustCompile(`^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$`)

func checkLabels(labels map[string]string) *apiError {
	if len(labels) > 64 {
		return invalid("Invalid value for field 'labels': ''. A resource can have at most 64 labels, not %d.", len(labels))
	}
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return invalid("Invalid value for field 'labels': '%s'. Label keys must start with a lowercase letter and contain only lowercase letters, digits, '_' and '-'.", k)
		}
		if !labelValueRE.MatchString(v) {
			return invalid("Invalid value for field 'labels': '%s'. Label values contain only lowercase letters, digits, '_' and '-'.", v)
		}
	}
	return nil
}

// fingerprint is a resource's label fingerprint; gen changes with every label change.
func fingerprint(key string, gen int, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	fmt.Fprintf(h, "%s|%d", key, gen)
	for _, k := range keys {
		fmt.Fprintf(h, "|%s=%s", k, labels[k])
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)[:8])
}

// sameFingerprint compares fingerprints as bytes: the field is base64
// ("format": "byte"), and clients such as gcloud (apitools) send back the
// bytes they decoded in the URL-safe alphabet ('-' and '_' for '+' and '/').
func sameFingerprint(sent, have string) bool {
	decode := func(v string) []byte {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			if b, err := enc.DecodeString(v); err == nil {
				return b
			}
		}
		return nil
	}
	a, b := decode(sent), decode(have)
	return sent == have || a != nil && bytes.Equal(a, b)
}

func (p *project) relabel(key string, labels map[string]string) string {
	p.labelGen[key]++
	return fingerprint(key, p.labelGen[key], labels)
}

func parseTS(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// projectFor returns the project's store, creating it for fixture methods.
func (s *Server) projectFor(id string) *project {
	p := s.projects[id]
	if p == nil {
		p = newProject(id, uint64(100000000000+len(s.order)))
		s.projects[id] = p
		s.order = append(s.order, id)
	}
	return p
}

// PutImage stores img in project (created if unknown), filling in what GCE would:
// kind, id, selfLink, creationTimestamp (from the clock), status READY, diskSizeGb 10,
// archiveSizeBytes and labelFingerprint. It returns a copy of what is stored.
func (s *Server) PutImage(project string, img *compute.Image) *compute.Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectFor(project)
	img = clone(img)
	s.fillImage(p, img, s.clock.Now())
	p.images[img.Name] = img
	return clone(img)
}

func (s *Server) fillImage(p *project, img *compute.Image, now time.Time) {
	img.Kind = "compute#image"
	if img.Id == 0 {
		img.Id = s.newID()
	}
	img.SelfLink = s.link(p.id, "global/images/"+img.Name)
	if img.CreationTimestamp == "" {
		img.CreationTimestamp = Timestamp(now)
	}
	if img.Status == "" {
		img.Status = "READY"
	}
	if img.DiskSizeGb == 0 {
		img.DiskSizeGb = 10
	}
	if img.ArchiveSizeBytes == 0 {
		img.ArchiveSizeBytes = img.DiskSizeGb * 1 << 30 / 4
	}
	if img.SourceType == "" {
		img.SourceType = "RAW"
	}
	if len(img.StorageLocations) == 0 {
		img.StorageLocations = []string{"us"}
	}
	if img.SourceImage != "" && !strings.HasPrefix(img.SourceImage, "http") {
		img.SourceImage = s.fullLink(p.id, img.SourceImage, "global/images/")
	}
	if img.SourceDisk != "" && !strings.HasPrefix(img.SourceDisk, "http") {
		img.SourceDisk = s.fullLink(p.id, img.SourceDisk, "")
	}
	if img.LabelFingerprint == "" {
		img.LabelFingerprint = p.relabel("images/"+img.Name, img.Labels)
	}
}

// fullLink turns a partial reference into a selfLink.
func (s *Server) fullLink(project, ref, prefix string) string {
	if strings.HasPrefix(ref, "http") {
		return ref
	}
	if i := strings.Index(ref, "projects/"); i >= 0 {
		return s.base + "compute/v1/" + ref[i:]
	}
	if !strings.Contains(ref, "/") {
		ref = prefix + ref
	}
	return s.link(project, ref)
}

// Image returns a copy of project's image name.
func (s *Server) Image(project, name string) (*compute.Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[project]
	if p == nil || p.images[name] == nil {
		return nil, false
	}
	return clone(p.images[name]), true
}

// Images returns copies of project's images, sorted by name.
func (s *Server) Images(project string) []*compute.Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[project]
	if p == nil {
		return nil
	}
	var out []*compute.Image
	for _, img := range p.images {
		out = append(out, clone(img))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetImagePolicy sets the IAM policy of project's image.
func (s *Server) SetImagePolicy(project, image string, pol *compute.Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectFor(project)
	pol = clone(pol)
	if pol.Etag == "" {
		pol.Etag = p.relabel("policy/"+image, nil)
	}
	p.policies[image] = pol
}

// ref is a parsed resource reference: project and the path after it.
func splitRef(defaultProject, ref string) (project, rel string) {
	if i := strings.Index(ref, "projects/"); i >= 0 {
		rest := ref[i+len("projects/"):]
		p, r, _ := strings.Cut(rest, "/")
		return p, r
	}
	return defaultProject, strings.TrimPrefix(ref, "/")
}

// resolveImage finds the image a reference (URL, partial path, name or family URL)
// names; family references resolve to the family's newest ACTIVE image.
func (s *Server) resolveImage(defaultProject, ref string) (string, *compute.Image, *apiError) {
	proj, rel := splitRef(defaultProject, ref)
	if !strings.Contains(rel, "/") {
		rel = "global/images/" + rel
	}
	p := s.projects[proj]
	if fam, ok := strings.CutPrefix(rel, "global/images/family/"); ok {
		if p != nil {
			if img := newestOfFamily(p, fam); img != nil {
				return proj, img, nil
			}
		}
		return proj, nil, notFound(relPath(proj, rel))
	}
	name, ok := strings.CutPrefix(rel, "global/images/")
	if !ok || p == nil || p.images[name] == nil {
		return proj, nil, notFound(relPath(proj, rel))
	}
	return proj, p.images[name], nil
}

func newestOfFamily(p *project, family string) *compute.Image {
	var best *compute.Image
	for _, img := range p.images {
		if img.Family != family || img.Status != "READY" || img.Deprecated != nil && img.Deprecated.State != "" && img.Deprecated.State != "ACTIVE" {
			continue
		}
		if best == nil || parseTS(img.CreationTimestamp).After(parseTS(best.CreationTimestamp)) ||
			parseTS(img.CreationTimestamp).Equal(parseTS(best.CreationTimestamp)) && img.Name > best.Name {
			best = img
		}
	}
	return best
}

func (c *req) image(name string) (*compute.Image, *apiError) {
	if c.p != nil {
		if img := c.p.images[name]; img != nil {
			return img, nil
		}
	}
	return nil, notFound(relPath(c.project, "global/images/"+name))
}

func listImages(c *req) (any, *apiError) {
	o, e := c.listOpts()
	if e != nil {
		return nil, e
	}
	var all []*compute.Image
	if c.p != nil {
		for _, img := range c.p.images {
			all = append(all, clone(img))
		}
	}
	items, next := page(o, all, func(i *compute.Image) string { return i.Name }, func(i *compute.Image) string { return i.CreationTimestamp })
	return &compute.ImageList{Kind: "compute#imageList", Id: relPath(c.project, "global/images"), Items: items,
		NextPageToken: next, SelfLink: c.s.link(c.project, "global/images")}, nil
}

func getImage(c *req) (any, *apiError) {
	img, e := c.image(c.args[0])
	if e != nil {
		return nil, e
	}
	return clone(img), nil
}

func getFromFamily(c *req) (any, *apiError) {
	if c.p != nil {
		if img := newestOfFamily(c.p, c.args[0]); img != nil {
			return clone(img), nil
		}
	}
	return nil, notFound(relPath(c.project, "global/images/family/"+c.args[0]))
}

func insertImage(c *req) (any, *apiError) {
	return c.mutate(func() (*opSpec, *apiError) {
		var img compute.Image
		if e := c.decode(&img); e != nil {
			return nil, e
		}
		if e := checkName("resource.name", img.Name); e != nil {
			return nil, e
		}
		if e := checkLabels(img.Labels); e != nil {
			return nil, e
		}
		target := "global/images/" + img.Name
		if c.p.images[img.Name] != nil {
			return nil, alreadyExists(relPath(c.project, target))
		}
		sources := 0
		for _, src := range []string{img.SourceImage, img.SourceDisk, img.SourceSnapshot} {
			if src != "" {
				sources++
			}
		}
		if img.RawDisk != nil && img.RawDisk.Source != "" {
			sources++
		}
		if sources != 1 {
			return nil, invalid("Invalid value for field 'resource': '%s'. Exactly one of sourceDisk, sourceImage, sourceSnapshot or rawDisk.source must be specified.", img.Name)
		}
		img.Id, img.CreationTimestamp, img.Status, img.Deprecated = 0, "", "", nil
		img.LabelFingerprint = ""
		spec := &opSpec{typ: "insert", scope: "global", target: target}
		switch {
		case img.SourceImage != "":
			src, proj, e := c.usableImage("resource.sourceImage", img.SourceImage)
			if e != nil {
				return nil, e
			}
			img.SourceImage, img.SourceImageId = c.s.link(proj, "global/images/"+src.Name), fmt.Sprint(src.Id)
			if img.DiskSizeGb == 0 {
				img.DiskSizeGb = src.DiskSizeGb
			}
		case img.SourceDisk != "":
			proj, rel := splitRef(c.project, img.SourceDisk)
			parts := strings.Split(rel, "/") // zones/z/disks/d
			var d *compute.Disk
			if p := c.s.projects[proj]; p != nil && len(parts) == 4 && parts[0] == "zones" && parts[2] == "disks" {
				d = p.disks[parts[1]][parts[3]]
			}
			if d == nil {
				// GCE accepts the insert and fails the operation.
				spec.err = notFound(relPath(proj, rel))
				return spec, nil
			}
			if user := c.s.runningUser(d); user != "" && c.q.Get("forceCreate") != "true" {
				return nil, errf(400, "resourceInUseByAnotherResource", "The disk resource '%s' is already being used by '%s'", relPath(proj, rel), user)
			}
			img.SourceDisk, img.SourceDiskId = d.SelfLink, fmt.Sprint(d.Id)
			if img.DiskSizeGb == 0 {
				img.DiskSizeGb = d.SizeGb
			}
			img.ArchiveSizeBytes = d.SizeGb << 30 / 3
		}
		if c.s.polls > 0 {
			img.Status = "PENDING"
		}
		stored := clone(&img)
		c.s.fillImage(c.p, stored, c.now)
		c.p.images[stored.Name] = stored
		spec.targetID = stored.Id
		spec.onDone = func() { stored.Status = "READY" }
		return spec, nil
	})
}

// runningUser is the first RUNNING instance a disk is attached to, as a relative path.
func (s *Server) runningUser(d *compute.Disk) string {
	for _, u := range d.Users {
		proj, rel := splitRef("", u)
		parts := strings.Split(rel, "/")
		if p := s.projects[proj]; p != nil && len(parts) == 4 {
			if in := p.instances[parts[1]][parts[3]]; in != nil && in.Status == "RUNNING" {
				return relPath(proj, rel)
			}
		}
	}
	return ""
}

func deleteImage(c *req) (any, *apiError) {
	return c.mutate(func() (*opSpec, *apiError) {
		img, e := c.image(c.args[0])
		if e != nil {
			return nil, e
		}
		// GCE deletes images that disks, templates or instance groups still name.
		delete(c.p.images, img.Name)
		delete(c.p.policies, img.Name)
		return &opSpec{typ: "delete", scope: "global", target: "global/images/" + img.Name, targetID: img.Id}, nil
	})
}

var deprecationStates = map[string]bool{"": true, "ACTIVE": true, "DEPRECATED": true, "OBSOLETE": true, "DELETED": true}

func deprecateImage(c *req) (any, *apiError) {
	return c.mutate(func() (*opSpec, *apiError) {
		img, e := c.image(c.args[0])
		if e != nil {
			return nil, e
		}
		var ds compute.DeprecationStatus
		if len(c.body) > 0 {
			if e := c.decode(&ds); e != nil {
				return nil, e
			}
		}
		if !deprecationStates[ds.State] {
			return nil, invalid("Invalid value for field 'deprecationStatus.state': '%s'. Must be one of [ACTIVE, DELETED, DEPRECATED, OBSOLETE]", ds.State)
		}
		for field, ts := range map[string]string{"deprecated": ds.Deprecated, "obsolete": ds.Obsolete, "deleted": ds.Deleted} {
			if ts != "" && parseTS(ts).IsZero() {
				return nil, invalid("Invalid value for field 'deprecationStatus.%s': '%s'. Must be an RFC 3339 timestamp", field, ts)
			}
		}
		if ds.Replacement != "" {
			proj, rel := splitRef(c.project, ds.Replacement)
			if !strings.HasPrefix(rel, "global/images/") {
				return nil, invalid("Invalid value for field 'deprecationStatus.replacement': '%s'. The URL is malformed.", ds.Replacement)
			}
			ds.Replacement = c.s.link(proj, rel)
		}
		if ds.State == "" || ds.State == "ACTIVE" {
			img.Deprecated = nil
		} else {
			img.Deprecated = clone(&ds)
		}
		return &opSpec{typ: "deprecate", scope: "global", target: "global/images/" + img.Name, targetID: img.Id}, nil
	})
}

func setImageLabels(c *req) (any, *apiError) {
	return c.mutate(func() (*opSpec, *apiError) {
		img, e := c.image(c.args[0])
		if e != nil {
			return nil, e
		}
		var r compute.GlobalSetLabelsRequest
		if e := c.decode(&r); e != nil {
			return nil, e
		}
		if !sameFingerprint(r.LabelFingerprint, img.LabelFingerprint) {
			return nil, errf(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have changed")
		}
		if e := checkLabels(r.Labels); e != nil {
			return nil, e
		}
		img.Labels = r.Labels
		img.LabelFingerprint = c.p.relabel("images/"+img.Name, img.Labels)
		return &opSpec{typ: "setLabels", scope: "global", target: "global/images/" + img.Name, targetID: img.Id}, nil
	})
}

func patchImage(c *req) (any, *apiError) {
	return c.mutate(func() (*opSpec, *apiError) {
		img, e := c.image(c.args[0])
		if e != nil {
			return nil, e
		}
		var raw map[string]json.RawMessage
		var patch compute.Image
		if e := c.decode(&raw); e != nil {
			return nil, e
		}
		_ = json.Unmarshal(c.body, &patch)
		for k := range raw {
			switch k {
			case "family", "description", "labels", "labelFingerprint", "name", "kind", "selfLink", "id", "status", "creationTimestamp":
			default:
				return nil, invalid("Invalid value for field 'resource.%s': gceemu patches only family, description and labels.", k)
			}
		}
		if patch.Name != "" && patch.Name != img.Name {
			return nil, invalid("Invalid value for field 'resource.name': '%s'. Cannot change the name.", patch.Name)
		}
		if _, ok := raw["labels"]; ok {
			if !sameFingerprint(patch.LabelFingerprint, img.LabelFingerprint) {
				return nil, errf(412, "conditionNotMet", "Labels fingerprint either invalid or resource labels have changed")
			}
			if e := checkLabels(patch.Labels); e != nil {
				return nil, e
			}
		}
		if _, ok := raw["family"]; ok {
			img.Family = patch.Family
		}
		if _, ok := raw["description"]; ok {
			img.Description = patch.Description
		}
		if _, ok := raw["labels"]; ok {
			img.Labels = patch.Labels
			img.LabelFingerprint = c.p.relabel("images/"+img.Name, img.Labels)
		}
		return &opSpec{typ: "patch", scope: "global", target: "global/images/" + img.Name, targetID: img.Id}, nil
	})
}

func getImagePolicy(c *req) (any, *apiError) {
	img, e := c.image(c.args[0])
	if e != nil {
		return nil, e
	}
	if pol := c.p.policies[img.Name]; pol != nil {
		return clone(pol), nil
	}
	return &compute.Policy{Etag: "ACAB", Version: 1}, nil
}

func setImagePolicy(c *req) (any, *apiError) {
	img, e := c.image(c.args[0])
	if e != nil {
		return nil, e
	}
	var r compute.GlobalSetPolicyRequest
	if e := c.decode(&r); e != nil {
		return nil, e
	}
	pol := r.Policy
	if pol == nil {
		pol = &compute.Policy{Bindings: r.Bindings, Etag: r.Etag}
	}
	cur := "ACAB"
	if old := c.p.policies[img.Name]; old != nil {
		cur = old.Etag
	}
	if pol.Etag != "" && pol.Etag != cur {
		return nil, errf(412, "conditionNotMet", "The etag of the policy does not match the current one: there were concurrent policy changes.")
	}
	pol = clone(pol)
	pol.Etag = c.p.relabel("policy/"+img.Name, nil)
	if pol.Version == 0 {
		pol.Version = 1
	}
	c.p.policies[img.Name] = pol
	return clone(pol), nil
}
