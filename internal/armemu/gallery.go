package armemu

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
)

const (
	galleryPath = "subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/galleries"
	imagePath   = galleryPath + "/{}/images"
	versionPath = imagePath + "/{}/versions"
)

func init() {
	const g, i, v = "Microsoft.Compute/galleries/", "Microsoft.Compute/galleries/images/", "Microsoft.Compute/galleries/images/versions/"
	handle("GET", "subscriptions/{}/providers/Microsoft.Compute/galleries", g+"read", typeGallery, apiGallery, listGalleries)
	handle("GET", galleryPath, g+"read", typeGallery, apiGallery, listGalleries)
	handle("GET", galleryPath+"/{}", g+"read", typeGallery, apiGallery, getGallery)
	handle("PUT", galleryPath+"/{}", g+"write", typeGallery, apiGallery, putGallery)
	handle("DELETE", galleryPath+"/{}", g+"delete", typeGallery, apiGallery, deleteGallery)
	handle("GET", imagePath, i+"read", typeImage, apiGallery, listImages)
	handle("GET", imagePath+"/{}", i+"read", typeImage, apiGallery, getImage)
	handle("PUT", imagePath+"/{}", i+"write", typeImage, apiGallery, putImage)
	handle("DELETE", imagePath+"/{}", i+"delete", typeImage, apiGallery, deleteImage)
	handle("GET", versionPath, v+"read", typeVersion, apiGallery, listVersions)
	handle("GET", versionPath+"/{}", v+"read", typeVersion, apiGallery, getVersion)
	handle("PUT", versionPath+"/{}", v+"write", typeVersion, apiGallery, putVersion)
	handle("PATCH", versionPath+"/{}", v+"write", typeVersion, apiGallery, patchVersion)
	handle("DELETE", versionPath+"/{}", v+"delete", typeVersion, apiGallery, deleteVersion)
}

// ---- galleries

func listGalleries(c *call) (int, any, *armError) {
	rg := ""
	if len(c.args) > 1 {
		rg = c.args[1]
	}
	return c.page(values(c.s.inScope(c.sub, rg, typeGallery)))
}

func (c *call) gallery() (*entry, *armError) {
	id := galleryID(c.sub, c.args[1], c.args[2])
	if e := c.s.res[key(id)]; e != nil {
		return e, nil
	}
	return nil, notFound(typeGallery, c.args[2], c.args[1])
}

func getGallery(c *call) (int, any, *armError) {
	e, err := c.gallery()
	if err != nil {
		return 0, nil, err
	}
	return 200, cloneAny(e.val), nil
}

func putGallery(c *call) (int, any, *armError) {
	var g armcompute.Gallery
	if e := c.decode(&g); e != nil {
		return 0, nil, e
	}
	if e := c.requireLocation(&g); e != nil {
		return 0, nil, e
	}
	fillGallery(&g, c.sub, c.args[2])
	return c.put(galleryID(c.sub, c.args[1], c.args[2]), typeGallery, c.args[1], "", &g)
}

func fillGallery(g *armcompute.Gallery, sub, name string) {
	if g.Properties == nil {
		g.Properties = &armcompute.GalleryProperties{}
	}
	g.Properties.Identifier = &armcompute.GalleryIdentifier{UniqueName: to.Ptr(sub + "-" + strings.ToUpper(name))}
}

func deleteGallery(c *call) (int, any, *armError) {
	return c.del(galleryID(c.sub, c.args[1], c.args[2]), c.nested(typeImage))
}

// ---- image definitions

// image finds the definition, or says which of it or its gallery is missing.
func (c *call) image() (*entry, *armError) {
	if _, err := c.galleryParent(); err != nil {
		return nil, err
	}
	id := imageID(c.sub, c.args[1], c.args[2], c.args[3])
	if e := c.s.res[key(id)]; e != nil {
		return e, nil
	}
	return nil, notFound(typeImage, c.args[2]+"/"+c.args[3], c.args[1])
}

func (c *call) galleryParent() (*entry, *armError) {
	e, err := c.gallery()
	if err != nil {
		return nil, parentNotFound(typeGallery, c.args[2])
	}
	return e, nil
}

func listImages(c *call) (int, any, *armError) {
	g, err := c.galleryParent()
	if err != nil {
		return 0, nil, err
	}
	return c.page(values(c.s.children(key(g.id), typeImage)))
}

func getImage(c *call) (int, any, *armError) {
	e, err := c.image()
	if err != nil {
		return 0, nil, err
	}
	return 200, cloneAny(e.val), nil
}

func putImage(c *call) (int, any, *armError) {
	g, err := c.galleryParent()
	if err != nil {
		return 0, nil, err
	}
	var img armcompute.GalleryImage
	if e := c.decode(&img); e != nil {
		return 0, nil, e
	}
	if e := c.requireLocation(&img); e != nil {
		return 0, nil, e
	}
	p := img.Properties
	switch {
	case p == nil:
		return 0, nil, invalidParam("galleryImage.properties", "Required parameter 'properties' is missing (null).")
	case p.OSType == nil:
		return 0, nil, invalidParam("galleryImage.properties.osType", "Required parameter 'osType' is missing (null).")
	case p.OSState == nil:
		return 0, nil, invalidParam("galleryImage.properties.osState", "Required parameter 'osState' is missing (null).")
	case p.Identifier == nil || p.Identifier.Publisher == nil || p.Identifier.Offer == nil || p.Identifier.SKU == nil:
		return 0, nil, invalidParam("galleryImage.properties.identifier", "Required parameter 'identifier' (publisher, offer, sku) is missing (null).")
	}
	if p.HyperVGeneration == nil {
		p.HyperVGeneration = to.Ptr(armcompute.HyperVGenerationV1) // Azure's default
	}
	id := imageID(c.sub, c.args[1], c.args[2], c.args[3])
	if old := c.s.res[key(id)]; old != nil {
		op := old.val.(*armcompute.GalleryImage).Properties
		if !strings.EqualFold(ident(op.Identifier), ident(p.Identifier)) {
			return 0, nil, errf(409, "PropertyChangeNotAllowed", "Changing property 'galleryImage.properties.identifier' is not allowed.")
		}
		if *op.OSType != *p.OSType {
			return 0, nil, errf(409, "PropertyChangeNotAllowed", "Changing property 'galleryImage.properties.osType' is not allowed.")
		}
	}
	return c.put(id, typeImage, c.args[1], key(g.id), &img)
}

func ident(i *armcompute.GalleryImageIdentifier) string {
	if i == nil {
		return ""
	}
	return deref(i.Publisher) + "/" + deref(i.Offer) + "/" + deref(i.SKU)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func deleteImage(c *call) (int, any, *armError) {
	if _, err := c.galleryParent(); err != nil {
		return 0, nil, err
	}
	return c.del(imageID(c.sub, c.args[1], c.args[2], c.args[3]), c.nested(typeVersion))
}

// ---- image versions

func (c *call) imageParent() (*entry, *armError) {
	e, err := c.image()
	if err != nil {
		if err.Code == "ResourceNotFound" {
			return nil, parentNotFound(typeImage, c.args[2]+"/"+c.args[3])
		}
		return nil, err
	}
	return e, nil
}

func (c *call) versionID() string {
	return versionID(c.sub, c.args[1], c.args[2], c.args[3], c.args[4])
}

func (c *call) version() (*entry, *armError) {
	if _, err := c.imageParent(); err != nil {
		return nil, err
	}
	if e := c.s.res[key(c.versionID())]; e != nil {
		return e, nil
	}
	return nil, notFound(typeVersion, c.args[2]+"/"+c.args[3]+"/"+c.args[4], c.args[1])
}

func listVersions(c *call) (int, any, *armError) {
	img, err := c.imageParent()
	if err != nil {
		return 0, nil, err
	}
	return c.page(values(c.s.children(key(img.id), typeVersion)))
}

func getVersion(c *call) (int, any, *armError) {
	e, err := c.version()
	if err != nil {
		return 0, nil, err
	}
	v := cloneModel(e.val.(*armcompute.GalleryImageVersion))
	if strings.EqualFold(c.q.Get("$expand"), "ReplicationStatus") {
		v.Properties.ReplicationStatus = replicationStatus(v)
	}
	return 200, v, nil
}

// replicationStatus says every target region is replicated, unless the version is
// still being created.
func replicationStatus(v *armcompute.GalleryImageVersion) *armcompute.ReplicationStatus {
	agg, st, progress := armcompute.AggregatedReplicationStateCompleted, armcompute.ReplicationStateCompleted, int32(100)
	if ps := v.Properties.ProvisioningState; ps != nil && *ps == armcompute.GalleryProvisioningStateCreating {
		agg, st, progress = armcompute.AggregatedReplicationStateInProgress, armcompute.ReplicationStateReplicating, 0
	}
	rs := &armcompute.ReplicationStatus{AggregatedState: &agg}
	for _, r := range regionNames(v) {
		rs.Summary = append(rs.Summary, &armcompute.RegionalReplicationStatus{Region: to.Ptr(r), State: to.Ptr(st), Details: to.Ptr(""), Progress: to.Ptr(progress)})
	}
	return rs
}

// regionNames are the version's target regions as written; none means its location.
func regionNames(v *armcompute.GalleryImageVersion) []string {
	var out []string
	if v.Properties != nil && v.Properties.PublishingProfile != nil {
		for _, tr := range v.Properties.PublishingProfile.TargetRegions {
			if tr != nil && tr.Name != nil {
				out = append(out, *tr.Name)
			}
		}
	}
	if len(out) == 0 && v.Location != nil {
		out = []string{*v.Location}
	}
	return out
}

// validVersionName is Azure's rule: Major.Minor.Patch, each a 32-bit integer.
func validVersionName(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return false
		}
		if _, err := strconv.ParseInt(p, 10, 32); err != nil {
			return false
		}
	}
	return true
}

// rawVersion is the body as sent, to tell absent fields from given ones and to
// check endOfLifeDate before the typed decoder sees it.
type rawVersion struct {
	Tags       json.RawMessage `json:"tags"`
	Properties *struct {
		PublishingProfile map[string]json.RawMessage `json:"publishingProfile"`
		SafetyProfile     map[string]json.RawMessage `json:"safetyProfile"`
		StorageProfile    json.RawMessage            `json:"storageProfile"`
	} `json:"properties"`
}

func (c *call) decodeVersion(v any) (*rawVersion, *armError) {
	if !validVersionName(c.args[4]) {
		return nil, invalidParam("galleryImageVersionName", "The value '%s' of parameter 'galleryImageVersionName' is invalid. It must follow the Major(int32).Minor(int32).Patch(int32) pattern.", c.args[4])
	}
	var raw rawVersion
	if e := c.decode(&raw); e != nil {
		return nil, e
	}
	if raw.Properties != nil {
		if m := raw.Properties.PublishingProfile["endOfLifeDate"]; len(m) > 0 && string(m) != "null" {
			var s string
			_ = json.Unmarshal(m, &s)
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return nil, invalidParam("galleryImageVersion.properties.publishingProfile.endOfLifeDate",
					"The value %s of parameter 'endOfLifeDate' is invalid: it must be an RFC 3339 date-time such as 2030-01-01T00:00:00Z.", m)
			}
		}
	}
	if e := c.decode(v); e != nil {
		return nil, e
	}
	return &raw, nil
}

func putVersion(c *call) (int, any, *armError) {
	img, err := c.imageParent()
	if err != nil {
		return 0, nil, err
	}
	var v armcompute.GalleryImageVersion
	if _, e := c.decodeVersion(&v); e != nil {
		return 0, nil, e
	}
	if e := c.requireLocation(&v); e != nil {
		return 0, nil, e
	}
	if v.Properties == nil || v.Properties.StorageProfile == nil {
		return 0, nil, invalidParam("galleryImageVersion.properties.storageProfile", "Required parameter 'storageProfile' is missing (null).")
	}
	if v.Properties.SafetyProfile != nil {
		v.Properties.SafetyProfile.ReportedForPolicyViolation = nil // read-only
	}
	var old *armcompute.GalleryImageVersion
	if e := c.s.res[key(c.versionID())]; e != nil {
		if e.op != nil {
			return 0, nil, busy(e)
		}
		old = e.val.(*armcompute.GalleryImageVersion)
	}
	fillVersion(&v, old, c.now)
	if e := c.checkVersionChange(old, &v); e != nil {
		return 0, nil, e
	}
	if e := c.checkVMSource(img, &v); old == nil && e != nil {
		return 0, nil, e
	}
	return c.put(c.versionID(), typeVersion, c.args[1], key(img.id), &v)
}

// fillVersion fills what Azure fills on a PUT: replica counts, storage types, the
// target regions (the location when none) and, on create, publishedDate. A
// replacement keeps the read-only fields of what it replaces.
func fillVersion(v, old *armcompute.GalleryImageVersion, now time.Time) {
	p := v.Properties
	if p.PublishingProfile == nil {
		p.PublishingProfile = &armcompute.GalleryImageVersionPublishingProfile{}
	}
	pp := p.PublishingProfile
	if pp.ReplicaCount == nil {
		pp.ReplicaCount = to.Ptr[int32](1)
	}
	if pp.StorageAccountType == nil {
		pp.StorageAccountType = to.Ptr(armcompute.StorageAccountTypeStandardLRS)
	}
	if pp.ExcludeFromLatest == nil {
		pp.ExcludeFromLatest = to.Ptr(false)
	}
	if len(pp.TargetRegions) == 0 {
		pp.TargetRegions = []*armcompute.TargetRegion{{Name: v.Location}}
	}
	fillRegions(pp)
	pp.PublishedDate = to.Ptr(now.UTC())
	if p.SafetyProfile == nil {
		p.SafetyProfile = &armcompute.GalleryImageVersionSafetyProfile{}
	}
	if p.SafetyProfile.AllowDeletionOfReplicatedLocations == nil {
		p.SafetyProfile.AllowDeletionOfReplicatedLocations = to.Ptr(false) // Azure's default
	}
	p.SafetyProfile.ReportedForPolicyViolation = to.Ptr(false)
	if old != nil && old.Properties != nil {
		if op := old.Properties.PublishingProfile; op != nil && op.PublishedDate != nil {
			pp.PublishedDate = op.PublishedDate
		}
		if os := old.Properties.SafetyProfile; os != nil && os.ReportedForPolicyViolation != nil {
			p.SafetyProfile.ReportedForPolicyViolation = os.ReportedForPolicyViolation
		}
	}
}

func fillRegions(pp *armcompute.GalleryImageVersionPublishingProfile) {
	for _, tr := range pp.TargetRegions {
		if tr.RegionalReplicaCount == nil {
			tr.RegionalReplicaCount = pp.ReplicaCount
		}
		if tr.StorageAccountType == nil {
			tr.StorageAccountType = pp.StorageAccountType
		}
		if tr.ExcludeFromLatest == nil {
			tr.ExcludeFromLatest = to.Ptr(false)
		}
	}
}

// checkVersionChange applies Azure's rules to a version's new state: the location
// must be a target region, the source cannot change and, unless the version allows
// it, no replicated region may be removed.
func (c *call) checkVersionChange(old, v *armcompute.GalleryImageVersion) *armError {
	names := regionNames(v)
	has := map[string]bool{}
	for _, n := range names {
		has[normRegion(n)] = true
	}
	if !has[normRegion(deref(v.Location))] {
		return invalidParam("galleryImageVersion.properties.publishingProfile.targetRegions",
			"The gallery image version publishing profile regions '%s' must contain the location of image version '%s'.", strings.Join(names, ", "), deref(v.Location))
	}
	if old == nil {
		return nil
	}
	if a, b := sourceID(old), sourceID(v); a != "" && b != "" && !strings.EqualFold(a, b) {
		return errf(409, "PropertyChangeNotAllowed", "Changing property 'galleryImageVersion.properties.storageProfile.source.id' is not allowed.")
	}
	var removed []string
	for _, n := range regionNames(old) {
		if !has[normRegion(n)] {
			removed = append(removed, n)
		}
	}
	// The version as stored decides, not the request: removing regions and allowing
	// it in one request is refused, the stricter reading of Azure's rule.
	if len(removed) > 0 && !allowsRegionRemoval(old) {
		return errf(409, "OperationNotAllowed", "Removing replicated region(s) '%s' from gallery image version '%s' is not allowed because its safetyProfile.allowDeletionOfReplicatedLocations is false.",
			strings.Join(removed, ", "), lastSeg(deref(old.ID)))
	}
	return nil
}

func sourceID(v *armcompute.GalleryImageVersion) string {
	if v.Properties == nil || v.Properties.StorageProfile == nil || v.Properties.StorageProfile.Source == nil {
		return ""
	}
	return deref(v.Properties.StorageProfile.Source.ID)
}

// allowsRegionRemoval: an absent allowDeletionOfReplicatedLocations counts as false,
// Azure's default (its API answers it as false when it was never set).
func allowsRegionRemoval(v *armcompute.GalleryImageVersion) bool {
	sp := v.Properties.SafetyProfile
	return sp != nil && sp.AllowDeletionOfReplicatedLocations != nil && *sp.AllowDeletionOfReplicatedLocations
}

// patchVersion merges an update: tags replace when given; the publishing and
// safety profile fields that are given replace theirs (null clears endOfLifeDate).
func patchVersion(c *call) (int, any, *armError) {
	e, err := c.version()
	if err != nil {
		return 0, nil, err
	}
	if e.op != nil {
		return 0, nil, busy(e)
	}
	var u armcompute.GalleryImageVersionUpdate
	raw, derr := c.decodeVersion(&u)
	if derr != nil {
		return 0, nil, derr
	}
	old := e.val.(*armcompute.GalleryImageVersion)
	v := cloneModel(old)
	if len(raw.Tags) > 0 {
		v.Tags = u.Tags
	}
	if raw.Properties != nil && u.Properties != nil {
		if v.Properties.PublishingProfile == nil {
			v.Properties.PublishingProfile = &armcompute.GalleryImageVersionPublishingProfile{}
		}
		pp, up := v.Properties.PublishingProfile, u.Properties.PublishingProfile
		if up == nil {
			up = &armcompute.GalleryImageVersionPublishingProfile{}
		}
		for k := range raw.Properties.PublishingProfile {
			switch k {
			case "excludeFromLatest":
				pp.ExcludeFromLatest = up.ExcludeFromLatest
			case "endOfLifeDate":
				pp.EndOfLifeDate = up.EndOfLifeDate
			case "targetRegions":
				pp.TargetRegions = up.TargetRegions
			case "replicaCount":
				pp.ReplicaCount = up.ReplicaCount
			case "storageAccountType":
				pp.StorageAccountType = up.StorageAccountType
			case "replicationMode":
				pp.ReplicationMode = up.ReplicationMode
			}
		}
		if len(pp.TargetRegions) == 0 {
			pp.TargetRegions = []*armcompute.TargetRegion{{Name: v.Location}}
		}
		fillRegions(pp)
		if raw.Properties.SafetyProfile != nil {
			if v.Properties.SafetyProfile == nil {
				v.Properties.SafetyProfile = &armcompute.GalleryImageVersionSafetyProfile{}
			}
			sp, us := v.Properties.SafetyProfile, u.Properties.SafetyProfile
			if us == nil {
				us = &armcompute.GalleryImageVersionSafetyProfile{}
			}
			for k := range raw.Properties.SafetyProfile {
				switch k {
				case "allowDeletionOfReplicatedLocations":
					sp.AllowDeletionOfReplicatedLocations = us.AllowDeletionOfReplicatedLocations
				case "blockDeletionBeforeEndOfLife":
					sp.BlockDeletionBeforeEndOfLife = us.BlockDeletionBeforeEndOfLife
				}
			}
		}
		if len(raw.Properties.StorageProfile) > 0 && u.Properties.StorageProfile != nil {
			if a, b := sourceID(old), sourceID(&armcompute.GalleryImageVersion{Properties: u.Properties}); a != "" && b != "" && !strings.EqualFold(a, b) {
				return 0, nil, errf(409, "PropertyChangeNotAllowed", "Changing property 'galleryImageVersion.properties.storageProfile.source.id' is not allowed.")
			}
		}
	}
	if err := c.checkVersionChange(old, v); err != nil {
		return 0, nil, err
	}
	return c.put(e.id, typeVersion, e.rg, e.parent, v)
}

// deleteVersion refuses, as Azure does, to delete a version whose safety profile
// blocks deletion before its end of life while that date is absent or to come.
func deleteVersion(c *call) (int, any, *armError) {
	if _, err := c.imageParent(); err != nil {
		return 0, nil, err
	}
	return c.del(c.versionID(), func(e *entry) *armError {
		v := e.val.(*armcompute.GalleryImageVersion)
		if v.Properties == nil || v.Properties.SafetyProfile == nil || v.Properties.SafetyProfile.BlockDeletionBeforeEndOfLife == nil || !*v.Properties.SafetyProfile.BlockDeletionBeforeEndOfLife {
			return nil
		}
		var eol *time.Time
		if v.Properties.PublishingProfile != nil {
			eol = v.Properties.PublishingProfile.EndOfLifeDate
		}
		switch {
		case eol == nil:
			return errf(409, "OperationNotAllowed", "Deletion of gallery image version '%s' is blocked before its end of life: safetyProfile.blockDeletionBeforeEndOfLife is true and no endOfLifeDate is set.", lastSeg(e.id))
		case eol.After(c.now):
			return errf(409, "OperationNotAllowed", "Deletion of gallery image version '%s' is blocked before its end of life date %s: safetyProfile.blockDeletionBeforeEndOfLife is true.", lastSeg(e.id), eol.UTC().Format(time.RFC3339))
		}
		return nil
	})
}

// latestVersion is what "latest" resolves to in a definition: the highest version
// that is not excluded from latest and is provisioned; "" if none.
func (s *Server) latestVersion(imageKey string) string {
	best, bestKey := "", [3]int64{-1, -1, -1}
	for _, e := range s.children(imageKey, typeVersion) {
		v := e.val.(*armcompute.GalleryImageVersion)
		if v.Properties == nil || v.Properties.ProvisioningState == nil || *v.Properties.ProvisioningState != armcompute.GalleryProvisioningStateSucceeded {
			continue
		}
		if pp := v.Properties.PublishingProfile; pp != nil && pp.ExcludeFromLatest != nil && *pp.ExcludeFromLatest {
			continue
		}
		k, ok := versionKey(lastSeg(e.id))
		if ok && (k[0] > bestKey[0] || k[0] == bestKey[0] && (k[1] > bestKey[1] || k[1] == bestKey[1] && k[2] > bestKey[2])) {
			best, bestKey = lastSeg(e.id), k
		}
	}
	return best
}

func versionKey(name string) ([3]int64, bool) {
	var k [3]int64
	parts := strings.Split(name, ".")
	if len(parts) != 3 {
		return k, false
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return k, false
		}
		k[i] = n
	}
	return k, true
}

// ---- seeding and inspection

// knownSub returns the subscription as the emulator spells it, adding it if new (as
// gceemu adds projects): seeding is what a test or a builder would have made.
func (s *Server) knownSub(sub string) string {
	if known, ok := s.subscription(sub); ok {
		return known
	}
	s.subs = append(append([]string(nil), s.subs...), sub)
	return sub
}

// PutGallery stores a gallery (Succeeded) and returns its id.
func (s *Server) PutGallery(sub, rg, name, location string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub = s.knownSub(sub)
	g := &armcompute.Gallery{Location: to.Ptr(location)}
	fillGallery(g, sub, name)
	return s.store(galleryID(sub, rg, name), typeGallery, sub, rg, "", g).id
}

// PutImageDefinition stores def as the definition name of gallery, which must
// exist, filling id, name, type and provisioningState; it returns the id.
func (s *Server) PutImageDefinition(sub, rg, gallery, name string, def armcompute.GalleryImage) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub = s.knownSub(sub)
	g := s.res[key(galleryID(sub, rg, gallery))]
	if g == nil {
		panic(fmt.Sprintf("armemu: PutImageDefinition: no gallery %s", galleryID(sub, rg, gallery)))
	}
	d := cloneModel(&def)
	if d.Location == nil {
		d.Location = g.val.(*armcompute.Gallery).Location
	}
	return s.store(imageID(sub, rg, gallery, name), typeImage, sub, rg, key(g.id), d).id
}

// PutImageVersion stores v as it is, but for id, name, type, provisioningState
// Succeeded and publishedDate (the clock, unless set). The definition must exist.
func (s *Server) PutImageVersion(sub, rg, gallery, image, version string, v armcompute.GalleryImageVersion) armcompute.GalleryImageVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub = s.knownSub(sub)
	img := s.res[key(imageID(sub, rg, gallery, image))]
	if img == nil {
		panic(fmt.Sprintf("armemu: PutImageVersion: no image definition %s", imageID(sub, rg, gallery, image)))
	}
	c := cloneModel(&v)
	if c.Properties == nil {
		c.Properties = &armcompute.GalleryImageVersionProperties{}
	}
	if c.Properties.PublishingProfile == nil {
		c.Properties.PublishingProfile = &armcompute.GalleryImageVersionPublishingProfile{}
	}
	if c.Properties.PublishingProfile.PublishedDate == nil {
		c.Properties.PublishingProfile.PublishedDate = to.Ptr(s.clock.Now().UTC())
	}
	if c.Location == nil {
		c.Location = img.val.(*armcompute.GalleryImage).Location
	}
	e := s.store(versionID(sub, rg, gallery, image, version), typeVersion, sub, rg, key(img.id), c)
	return *cloneModel(e.val.(*armcompute.GalleryImageVersion))
}

// ImageVersion returns the stored version with that id (any case), as a GET shows it.
func (s *Server) ImageVersion(id string) (armcompute.GalleryImageVersion, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.res[key(id)]
	if e == nil || e.typ != typeVersion {
		return armcompute.GalleryImageVersion{}, false
	}
	return *cloneModel(e.val.(*armcompute.GalleryImageVersion)), true
}

// ImageVersions lists a definition's versions, sorted by name.
func (s *Server) ImageVersions(sub, rg, gallery, image string) []armcompute.GalleryImageVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []armcompute.GalleryImageVersion
	for _, e := range s.children(key(imageID(sub, rg, gallery, image)), typeVersion) {
		out = append(out, *cloneModel(e.val.(*armcompute.GalleryImageVersion)))
	}
	sort.Slice(out, func(i, j int) bool { return deref(out[i].Name) < deref(out[j].Name) })
	return out
}
