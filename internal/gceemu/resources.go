package gceemu

import (
	"fmt"
	"strings"

	"google.golang.org/api/compute/v1"
)

// The resources that use images: disks, instances, instance templates (global and
// regional) and managed instance groups (zonal and regional), plus the read-only
// places a builder asks about (zones, regions, machine types, networks).

func init() {
	handle("GET", "zones/{}/disks", "compute.disks.list", listDisks)
	handle("POST", "zones/{}/disks", "compute.disks.insert", insertDisk)
	handle("GET", "zones/{}/disks/{}", "compute.disks.get", getDisk)
	handle("DELETE", "zones/{}/disks/{}", "compute.disks.delete", deleteDisk)
	handle("GET", "aggregated/disks", "compute.disks.aggregatedList", aggregatedDisks)

	handle("GET", "zones/{}/instances", "compute.instances.list", listInstances)
	handle("POST", "zones/{}/instances", "compute.instances.insert", insertInstance)
	handle("GET", "zones/{}/instances/{}", "compute.instances.get", getInstance)
	handle("DELETE", "zones/{}/instances/{}", "compute.instances.delete", deleteInstance)
	handle("POST", "zones/{}/instances/{}/stop", "compute.instances.stop", setInstanceStatus("stop", "TERMINATED"))
	handle("POST", "zones/{}/instances/{}/start", "compute.instances.start", setInstanceStatus("start", "RUNNING"))
	handle("GET", "zones/{}/instances/{}/serialPort", "compute.instances.getSerialPortOutput", serialPort)
	handle("POST", "zones/{}/instances/{}/setMetadata", "compute.instances.setMetadata", setInstanceMetadata)
	handle("GET", "aggregated/instances", "compute.instances.aggregatedList", aggregatedInstances)

	handle("GET", "global/instanceTemplates", "compute.instanceTemplates.list", listTemplates(""))
	handle("POST", "global/instanceTemplates", "compute.instanceTemplates.insert", insertTemplate(""))
	handle("GET", "global/instanceTemplates/{}", "compute.instanceTemplates.get", getTemplate(""))
	handle("DELETE", "global/instanceTemplates/{}", "compute.instanceTemplates.delete", deleteTemplate(""))
	handle("GET", "regions/{}/instanceTemplates", "compute.regionInstanceTemplates.list", listTemplates("region"))
	handle("POST", "regions/{}/instanceTemplates", "compute.regionInstanceTemplates.insert", insertTemplate("region"))
	handle("GET", "regions/{}/instanceTemplates/{}", "compute.regionInstanceTemplates.get", getTemplate("region"))
	handle("DELETE", "regions/{}/instanceTemplates/{}", "compute.regionInstanceTemplates.delete", deleteTemplate("region"))
	handle("GET", "aggregated/instanceTemplates", "compute.instanceTemplates.aggregatedList", aggregatedTemplates)

	handle("GET", "zones/{}/instanceGroupManagers", "compute.instanceGroupManagers.list", listIGMs("zones"))
	handle("POST", "zones/{}/instanceGroupManagers", "compute.instanceGroupManagers.insert", insertIGM("zones"))
	handle("GET", "zones/{}/instanceGroupManagers/{}", "compute.instanceGroupManagers.get", getIGM("zones"))
	handle("DELETE", "zones/{}/instanceGroupManagers/{}", "compute.instanceGroupManagers.delete", deleteIGM("zones"))
	handle("GET", "regions/{}/instanceGroupManagers", "compute.regionInstanceGroupManagers.list", listIGMs("regions"))
	handle("POST", "regions/{}/instanceGroupManagers", "compute.regionInstanceGroupManagers.insert", insertIGM("regions"))
	handle("GET", "regions/{}/instanceGroupManagers/{}", "compute.regionInstanceGroupManagers.get", getIGM("regions"))
	handle("DELETE", "regions/{}/instanceGroupManagers/{}", "compute.regionInstanceGroupManagers.delete", deleteIGM("regions"))
	handle("GET", "aggregated/instanceGroupManagers", "compute.instanceGroupManagers.aggregatedList", aggregatedIGMs)

	handle("GET", "", "compute.projects.get", getProject)
	handle("GET", "zones", "compute.zones.list", listZones)
	handle("GET", "zones/{}", "compute.zones.get", getZone)
	handle("GET", "regions", "compute.regions.list", listRegions)
	handle("GET", "regions/{}", "compute.regions.get", getRegion)
	handle("GET", "zones/{}/machineTypes/{}", "compute.machineTypes.get", getMachineType)
	handle("GET", "global/networks/{}", "compute.networks.get", getNetwork)
	handle("GET", "regions/{}/subnetworks/{}", "compute.subnetworks.get", getSubnetwork)
}

// ---- fixtures

// PutDisk stores a disk in project's zone as if it existed, filling kind, id,
// selfLink, creationTimestamp, status READY and sizeGb (10). Users and sourceImage
// are kept as given (partial references become URLs).
func (s *Server) PutDisk(project, zone string, d *compute.Disk) *compute.Disk {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectFor(project)
	d = clone(d)
	s.fillDisk(p, zone, d)
	if d.SourceImage != "" {
		d.SourceImage = s.fullLink(project, d.SourceImage, "global/images/")
	}
	put(p.disks, zone, d.Name, d)
	return clone(d)
}

// PutInstanceTemplate stores a template: global when region is "", regional otherwise.
// The images it names are not checked, as for a template made before they went.
func (s *Server) PutInstanceTemplate(project, region string, t *compute.InstanceTemplate) *compute.InstanceTemplate {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectFor(project)
	t = clone(t)
	s.fillTemplate(p, region, t)
	put(p.templates, region, t.Name, t)
	return clone(t)
}

// DeleteInstanceTemplate removes a template; it reports whether there was one.
func (s *Server) DeleteInstanceTemplate(project, region, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[project]
	if p == nil || p.templates[region][name] == nil {
		return false
	}
	delete(p.templates[region], name)
	return true
}

// PutInstanceGroupManager stores a managed instance group in location, a zone
// ("us-central1-a") or a region ("us-central1").
func (s *Server) PutInstanceGroupManager(project, location string, m *compute.InstanceGroupManager) *compute.InstanceGroupManager {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectFor(project)
	m = clone(m)
	s.fillIGM(p, location, m)
	put(p.igms, location, m.Name, m)
	return clone(m)
}

// Instance returns a copy of an instance.
func (s *Server) Instance(project, zone, name string) (*compute.Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.projects[project]; p != nil && p.instances[zone][name] != nil {
		return clone(p.instances[zone][name]), true
	}
	return nil, false
}

// Disk returns a copy of a disk.
func (s *Server) Disk(project, zone, name string) (*compute.Disk, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.projects[project]; p != nil && p.disks[zone][name] != nil {
		return clone(p.disks[zone][name]), true
	}
	return nil, false
}

// Counts says how many instances and disks project holds (leaks show here).
func (s *Server) Counts(project string) (instances, disks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[project]
	if p == nil {
		return 0, 0
	}
	for _, m := range p.instances {
		instances += len(m)
	}
	for _, m := range p.disks {
		disks += len(m)
	}
	return instances, disks
}

func put[T any](m map[string]map[string]*T, scope, name string, v *T) {
	if m[scope] == nil {
		m[scope] = map[string]*T{}
	}
	m[scope][name] = v
}

func (s *Server) fillDisk(p *project, zone string, d *compute.Disk) {
	d.Kind = "compute#disk"
	if d.Id == 0 {
		d.Id = s.newID()
	}
	d.SelfLink = s.link(p.id, "zones/"+zone+"/disks/"+d.Name)
	d.Zone = s.link(p.id, "zones/"+zone)
	if d.CreationTimestamp == "" {
		d.CreationTimestamp = Timestamp(s.clock.Now())
	}
	if d.Status == "" {
		d.Status = "READY"
	}
	if d.SizeGb == 0 {
		d.SizeGb = 10
	}
	if d.Type == "" {
		d.Type = s.link(p.id, "zones/"+zone+"/diskTypes/pd-standard")
	}
}

func (s *Server) fillTemplate(p *project, region string, t *compute.InstanceTemplate) {
	t.Kind = "compute#instanceTemplate"
	if t.Id == 0 {
		t.Id = s.newID()
	}
	if region == "" {
		t.SelfLink = s.link(p.id, "global/instanceTemplates/"+t.Name)
		t.Region = ""
	} else {
		t.SelfLink = s.link(p.id, "regions/"+region+"/instanceTemplates/"+t.Name)
		t.Region = s.link(p.id, "regions/"+region)
	}
	if t.CreationTimestamp == "" {
		t.CreationTimestamp = Timestamp(s.clock.Now())
	}
}

func (s *Server) fillIGM(p *project, location string, m *compute.InstanceGroupManager) {
	m.Kind = "compute#instanceGroupManager"
	if m.Id == 0 {
		m.Id = s.newID()
	}
	scope := "zones/" + location
	if s.hasRegion(location) && !s.hasZone(location) {
		scope = "regions/" + location
		m.Region = s.link(p.id, scope)
	} else {
		m.Zone = s.link(p.id, scope)
	}
	m.SelfLink = s.link(p.id, scope+"/instanceGroupManagers/"+m.Name)
	if m.CreationTimestamp == "" {
		m.CreationTimestamp = Timestamp(s.clock.Now())
	}
	if m.InstanceTemplate != "" {
		m.InstanceTemplate = s.fullLink(p.id, m.InstanceTemplate, "global/instanceTemplates/")
	}
	for _, v := range m.Versions {
		if v.InstanceTemplate != "" {
			v.InstanceTemplate = s.fullLink(p.id, v.InstanceTemplate, "global/instanceTemplates/")
		}
	}
}

// ---- shared checks

func (c *req) zone() (string, *apiError) {
	z := c.args[0]
	if !c.s.hasZone(z) {
		return "", errf(400, "invalid", "Invalid value for field 'zone': '%s'. Unknown zone.", z)
	}
	return z, nil
}

func (c *req) region() (string, *apiError) {
	r := c.args[0]
	if !c.s.hasRegion(r) {
		return "", errf(400, "invalid", "Invalid value for field 'region': '%s'. Unknown region.", r)
	}
	return r, nil
}

// usableImage resolves an image a new disk or image is made from: OBSOLETE and
// DELETED images, and images not READY, are refused, as GCE refuses them; a
// DEPRECATED one is used, with a DEPRECATED_RESOURCE_USED operation warning.
func (c *req) usableImage(field, ref string) (*compute.Image, string, *apiError) {
	proj, img, e := c.s.resolveImage(c.project, ref)
	if e != nil {
		return nil, "", e
	}
	if img.Deprecated != nil && (img.Deprecated.State == "OBSOLETE" || img.Deprecated.State == "DELETED") {
		return nil, "", invalid("Invalid value for field '%s': '%s'. The referenced image resource cannot be found or is %s.", field, ref, strings.ToLower(img.Deprecated.State))
	}
	if img.Status != "READY" {
		return nil, "", errf(400, "resourceNotReady", "The resource '%s' is not ready", relPath(proj, "global/images/"+img.Name))
	}
	if img.Deprecated != nil && img.Deprecated.State == "DEPRECATED" {
		// GCE serves the request and warns in the operation.
		msg := fmt.Sprintf("The resource '%s' is deprecated.", relPath(proj, "global/images/"+img.Name))
		if r := img.Deprecated.Replacement; r != "" {
			msg += fmt.Sprintf(" A suggested replacement is '%s'.", strings.TrimPrefix(r, c.s.base+"compute/v1/"))
		}
		c.warnings = append(c.warnings, &compute.OperationWarnings{Code: "DEPRECATED_RESOURCE_USED", Message: msg})
	}
	return img, proj, nil
}

// ---- disks

func listDisks(c *req) (any, *apiError) {
	z, e := c.zone()
	if e != nil {
		return nil, e
	}
	items, next, e := listIn(c, c.p.disks[z], diskKeys)
	if e != nil {
		return nil, e
	}
	return &compute.DiskList{Kind: "compute#diskList", Items: items, NextPageToken: next, SelfLink: c.s.link(c.project, "zones/"+z+"/disks")}, nil
}

var diskKeys = keys[compute.Disk]{func(d *compute.Disk) string { return d.Name }, func(d *compute.Disk) string { return d.CreationTimestamp }}

func insertDisk(c *req) (any, *apiError) {
	z, e := c.zone()
	if e != nil {
		return nil, e
	}
	return c.mutate(func() (*opSpec, *apiError) {
		var d compute.Disk
		if e := c.decode(&d); e != nil {
			return nil, e
		}
		if e := checkName("resource.name", d.Name); e != nil {
			return nil, e
		}
		if c.p.disks[z][d.Name] != nil {
			return nil, alreadyExists(relPath(c.project, "zones/"+z+"/disks/"+d.Name))
		}
		if e := c.diskFromImage(&d, "resource.sourceImage"); e != nil {
			return nil, e
		}
		d.Id, d.Users, d.Status, d.CreationTimestamp = 0, nil, "", ""
		c.s.fillDisk(c.p, z, &d)
		stored := clone(&d)
		put(c.p.disks, z, stored.Name, stored)
		return &opSpec{typ: "insert", scope: "zones/" + z, target: "zones/" + z + "/disks/" + d.Name, targetID: stored.Id}, nil
	})
}

// diskFromImage resolves d.SourceImage (if any) and sets sourceImage and sourceImageId.
func (c *req) diskFromImage(d *compute.Disk, field string) *apiError {
	if d.SourceImage == "" {
		return nil
	}
	img, proj, e := c.usableImage(field, d.SourceImage)
	if e != nil {
		return e
	}
	d.SourceImage, d.SourceImageId = c.s.link(proj, "global/images/"+img.Name), fmt.Sprint(img.Id)
	if d.SizeGb == 0 {
		d.SizeGb = img.DiskSizeGb
	}
	return nil
}

func getDisk(c *req) (any, *apiError) {
	z, name := c.args[0], c.args[1]
	if d := c.p.disks[z][name]; d != nil {
		return clone(d), nil
	}
	return nil, notFound(relPath(c.project, "zones/"+z+"/disks/"+name))
}

func deleteDisk(c *req) (any, *apiError) {
	z, name := c.args[0], c.args[1]
	return c.mutate(func() (*opSpec, *apiError) {
		d := c.p.disks[z][name]
		if d == nil {
			return nil, notFound(relPath(c.project, "zones/"+z+"/disks/"+name))
		}
		if len(d.Users) > 0 {
			return nil, errf(400, "resourceInUseByAnotherResource", "The disk resource '%s' is already being used by '%s'", relPath(c.project, "zones/"+z+"/disks/"+name), strings.TrimPrefix(d.Users[0], c.s.base+"compute/v1/"))
		}
		delete(c.p.disks[z], name)
		return &opSpec{typ: "delete", scope: "zones/" + z, target: "zones/" + z + "/disks/" + name, targetID: d.Id}, nil
	})
}

func aggregatedDisks(c *req) (any, *apiError) {
	var scopes []string
	for _, z := range c.s.zones {
		scopes = append(scopes, "zones/"+z)
	}
	out := &compute.DiskAggregatedList{Kind: "compute#diskAggregatedList", Items: map[string]compute.DisksScopedList{},
		SelfLink: c.s.link(c.project, "aggregated/disks")}
	next, unreachables, e := aggregate(c, scopes, func(scope string) []*compute.Disk {
		return cloneAll(c.p.disks[strings.TrimPrefix(scope, "zones/")])
	}, diskKeys, func(scope string, items []*compute.Disk, w *warning) {
		l := compute.DisksScopedList{Disks: items}
		if w != nil {
			l.Warning = &compute.DisksScopedListWarning{Code: w.code, Message: w.message, Data: []*compute.DisksScopedListWarningData{{Key: "scope", Value: scope}}}
		}
		out.Items[scope] = l
	})
	if e != nil {
		return nil, e
	}
	out.NextPageToken, out.Unreachables = next, unreachables
	return out, nil
}

// ---- instances

var instanceKeys = keys[compute.Instance]{func(i *compute.Instance) string { return i.Name }, func(i *compute.Instance) string { return i.CreationTimestamp }}

func listInstances(c *req) (any, *apiError) {
	z, e := c.zone()
	if e != nil {
		return nil, e
	}
	items, next, e := listIn(c, c.p.instances[z], instanceKeys)
	if e != nil {
		return nil, e
	}
	return &compute.InstanceList{Kind: "compute#instanceList", Items: items, NextPageToken: next, SelfLink: c.s.link(c.project, "zones/"+z+"/instances")}, nil
}

// insertInstance creates the instance and its disks at once: boot disks from
// initializeParams.sourceImage (refused when the image is OBSOLETE), attached disks
// by source. The instance is RUNNING with an internal and, when asked, an external IP.
func insertInstance(c *req) (any, *apiError) {
	z, e := c.zone()
	if e != nil {
		return nil, e
	}
	return c.mutate(func() (*opSpec, *apiError) {
		var in compute.Instance
		if e := c.decode(&in); e != nil {
			return nil, e
		}
		if e := checkName("resource.name", in.Name); e != nil {
			return nil, e
		}
		target := "zones/" + z + "/instances/" + in.Name
		if c.p.instances[z][in.Name] != nil {
			return nil, alreadyExists(relPath(c.project, target))
		}
		if len(in.Disks) == 0 {
			return nil, invalid("Invalid value for field 'resource.disks': ''. No disks are specified.")
		}
		self := c.s.link(c.project, target)
		var made []*compute.Disk
		var attach []*compute.Disk
		for i, ad := range in.Disks {
			field := fmt.Sprintf("resource.disks[%d].initializeParams.sourceImage", i)
			switch {
			case ad.InitializeParams != nil:
				name := ad.InitializeParams.DiskName
				if name == "" {
					name = in.Name
					if i > 0 {
						name = fmt.Sprintf("%s-%d", in.Name, i)
					}
				}
				if c.p.disks[z][name] != nil {
					return nil, alreadyExists(relPath(c.project, "zones/"+z+"/disks/"+name))
				}
				d := &compute.Disk{Name: name, SourceImage: ad.InitializeParams.SourceImage, SizeGb: ad.InitializeParams.DiskSizeGb,
					Labels: ad.InitializeParams.Labels}
				if d.SourceImage == "" && ad.Boot {
					return nil, invalid("Invalid value for field '%s': ''. A boot disk needs a source image.", field)
				}
				if e := c.diskFromImage(d, field); e != nil {
					return nil, e
				}
				made = append(made, d)
				ad.Source = c.s.link(c.project, "zones/"+z+"/disks/"+name)
				ad.InitializeParams = nil
			case ad.Source != "":
				_, rel := splitRef(c.project, ad.Source)
				parts := strings.Split(rel, "/")
				var d *compute.Disk
				if len(parts) == 4 && parts[0] == "zones" && parts[2] == "disks" {
					d = c.p.disks[parts[1]][parts[3]]
				}
				if d == nil {
					return nil, notFound(relPath(c.project, rel))
				}
				attach = append(attach, d)
				ad.Source = d.SelfLink
			default:
				return nil, invalid("Invalid value for field 'resource.disks[%d]': ''. Either source or initializeParams must be set.", i)
			}
			ad.Kind, ad.Index, ad.Type = "compute#attachedDisk", int64(i), "PERSISTENT"
			if ad.Mode == "" {
				ad.Mode = "READ_WRITE"
			}
		}
		for _, d := range made {
			d.Users = []string{self}
			c.s.fillDisk(c.p, z, d)
			put(c.p.disks, z, d.Name, d)
		}
		for _, d := range attach {
			d.Users = append(d.Users, self)
		}
		in.Kind, in.Id, in.Status = "compute#instance", c.s.newID(), "RUNNING"
		in.SelfLink, in.Zone, in.CreationTimestamp = self, c.s.link(c.project, "zones/"+z), Timestamp(c.now)
		if !strings.HasPrefix(in.MachineType, "http") {
			in.MachineType = c.s.fullLink(c.project, in.MachineType, "zones/"+z+"/machineTypes/")
		}
		for i, ni := range in.NetworkInterfaces {
			ni.Kind, ni.Name = "compute#networkInterface", fmt.Sprintf("nic%d", i)
			ni.NetworkIP = fmt.Sprintf("10.128.0.%d", 2+len(c.p.instances[z])%250)
			for _, ac := range ni.AccessConfigs {
				ac.Kind = "compute#accessConfig"
				if ac.NatIP == "" {
					ac.NatIP = fmt.Sprintf("203.0.113.%d", 2+len(c.p.instances[z])%250) // TEST-NET-3: never routed
				}
			}
		}
		if in.Metadata == nil {
			in.Metadata = &compute.Metadata{}
		}
		in.Metadata.Kind, in.Metadata.Fingerprint = "compute#metadata", c.p.relabel("metadata/"+target, nil)
		stored := clone(&in)
		put(c.p.instances, z, in.Name, stored)
		return &opSpec{typ: "insert", scope: "zones/" + z, target: target, targetID: stored.Id}, nil
	})
}

func (c *req) instance() (string, *compute.Instance, *apiError) {
	z, name := c.args[0], c.args[1]
	if in := c.p.instances[z][name]; in != nil {
		return z, in, nil
	}
	return z, nil, notFound(relPath(c.project, "zones/"+z+"/instances/"+name))
}

func getInstance(c *req) (any, *apiError) {
	_, in, e := c.instance()
	if e != nil {
		return nil, e
	}
	return clone(in), nil
}

// deleteInstance deletes the instance and its autoDelete disks; other disks lose it
// as a user.
func deleteInstance(c *req) (any, *apiError) {
	return c.mutate(func() (*opSpec, *apiError) {
		z, in, e := c.instance()
		if e != nil {
			return nil, e
		}
		for _, ad := range in.Disks {
			_, rel := splitRef(c.project, ad.Source)
			parts := strings.Split(rel, "/")
			if len(parts) != 4 {
				continue
			}
			d := c.p.disks[parts[1]][parts[3]]
			if d == nil {
				continue
			}
			users := d.Users[:0]
			for _, u := range d.Users {
				if u != in.SelfLink {
					users = append(users, u)
				}
			}
			d.Users = users
			if ad.AutoDelete && len(d.Users) == 0 {
				delete(c.p.disks[parts[1]], parts[3])
			}
		}
		delete(c.p.instances[z], in.Name)
		return &opSpec{typ: "delete", scope: "zones/" + z, target: "zones/" + z + "/instances/" + in.Name, targetID: in.Id}, nil
	})
}

func setInstanceStatus(verb, status string) handlerFunc {
	return func(c *req) (any, *apiError) {
		return c.mutate(func() (*opSpec, *apiError) {
			z, in, e := c.instance()
			if e != nil {
				return nil, e
			}
			in.Status = status
			return &opSpec{typ: verb, scope: "zones/" + z, target: "zones/" + z + "/instances/" + in.Name, targetID: in.Id}, nil
		})
	}
}

func setInstanceMetadata(c *req) (any, *apiError) {
	return c.mutate(func() (*opSpec, *apiError) {
		z, in, e := c.instance()
		if e != nil {
			return nil, e
		}
		var md compute.Metadata
		if e := c.decode(&md); e != nil {
			return nil, e
		}
		if md.Fingerprint != in.Metadata.Fingerprint {
			return nil, errf(412, "conditionNotMet", "Supplied fingerprint does not match current metadata fingerprint.")
		}
		target := "zones/" + z + "/instances/" + in.Name
		in.Metadata = &compute.Metadata{Kind: "compute#metadata", Items: md.Items, Fingerprint: c.p.relabel("metadata/"+target, nil)}
		return &opSpec{typ: "setMetadata", scope: "zones/" + z, target: target, targetID: in.Id}, nil
	})
}

// serialPort answers what a booted instance's serial port would show.
func serialPort(c *req) (any, *apiError) {
	_, in, e := c.instance()
	if e != nil {
		return nil, e
	}
	text := "gceemu: " + in.Name + " booted\n"
	return &compute.SerialPortOutput{Kind: "compute#serialPortOutput", Contents: text, Start: 0, Next: int64(len(text)),
		SelfLink: in.SelfLink + "/serialPort"}, nil
}

func aggregatedInstances(c *req) (any, *apiError) {
	var scopes []string
	for _, z := range c.s.zones {
		scopes = append(scopes, "zones/"+z)
	}
	out := &compute.InstanceAggregatedList{Kind: "compute#instanceAggregatedList", Items: map[string]compute.InstancesScopedList{},
		SelfLink: c.s.link(c.project, "aggregated/instances")}
	next, unreachables, e := aggregate(c, scopes, func(scope string) []*compute.Instance {
		return cloneAll(c.p.instances[strings.TrimPrefix(scope, "zones/")])
	}, instanceKeys, func(scope string, items []*compute.Instance, w *warning) {
		l := compute.InstancesScopedList{Instances: items}
		if w != nil {
			l.Warning = &compute.InstancesScopedListWarning{Code: w.code, Message: w.message, Data: []*compute.InstancesScopedListWarningData{{Key: "scope", Value: scope}}}
		}
		out.Items[scope] = l
	})
	if e != nil {
		return nil, e
	}
	out.NextPageToken, out.Unreachables = next, unreachables
	return out, nil
}

// ---- instance templates

var templateKeys = keys[compute.InstanceTemplate]{func(t *compute.InstanceTemplate) string { return t.Name }, func(t *compute.InstanceTemplate) string { return t.CreationTimestamp }}

// templateScope is "" (global) or the request's region.
func (c *req) templateScope(kind string) (string, *apiError) {
	if kind == "" {
		return "", nil
	}
	return c.region()
}

func templatePath(region, name string) string {
	if region == "" {
		return "global/instanceTemplates/" + name
	}
	return "regions/" + region + "/instanceTemplates/" + name
}

func listTemplates(kind string) handlerFunc {
	return func(c *req) (any, *apiError) {
		r, e := c.templateScope(kind)
		if e != nil {
			return nil, e
		}
		items, next, e := listIn(c, c.p.templates[r], templateKeys)
		if e != nil {
			return nil, e
		}
		return &compute.InstanceTemplateList{Kind: "compute#instanceTemplateList", Items: items, NextPageToken: next,
			SelfLink: c.s.link(c.project, strings.TrimSuffix(templatePath(r, ""), "/"))}, nil
	}
}

// insertTemplate checks that the boot images exist and are usable now, as GCE does;
// it does not stop anyone deleting them later.
func insertTemplate(kind string) handlerFunc {
	return func(c *req) (any, *apiError) {
		r, e := c.templateScope(kind)
		if e != nil {
			return nil, e
		}
		return c.mutate(func() (*opSpec, *apiError) {
			var t compute.InstanceTemplate
			if e := c.decode(&t); e != nil {
				return nil, e
			}
			if e := checkName("resource.name", t.Name); e != nil {
				return nil, e
			}
			target := templatePath(r, t.Name)
			if c.p.templates[r][t.Name] != nil {
				return nil, alreadyExists(relPath(c.project, target))
			}
			if t.Properties == nil {
				return nil, invalid("Invalid value for field 'resource.properties': ''. Properties are required.")
			}
			for i, d := range t.Properties.Disks {
				if d.InitializeParams != nil && d.InitializeParams.SourceImage != "" {
					if _, _, e := c.usableImage(fmt.Sprintf("resource.properties.disks[%d].initializeParams.sourceImage", i), d.InitializeParams.SourceImage); e != nil {
						return nil, e
					}
				}
			}
			t.Id, t.CreationTimestamp = 0, ""
			stored := clone(&t)
			c.s.fillTemplate(c.p, r, stored)
			put(c.p.templates, r, stored.Name, stored)
			scope := "global"
			if r != "" {
				scope = "regions/" + r
			}
			return &opSpec{typ: "insert", scope: scope, target: target, targetID: stored.Id}, nil
		})
	}
}

func getTemplate(kind string) handlerFunc {
	return func(c *req) (any, *apiError) {
		r, name := "", c.args[0]
		if kind != "" {
			r, name = c.args[0], c.args[1]
		}
		if t := c.p.templates[r][name]; t != nil {
			return clone(t), nil
		}
		return nil, notFound(relPath(c.project, templatePath(r, name)))
	}
}

func deleteTemplate(kind string) handlerFunc {
	return func(c *req) (any, *apiError) {
		r, name := "", c.args[0]
		if kind != "" {
			r, name = c.args[0], c.args[1]
		}
		return c.mutate(func() (*opSpec, *apiError) {
			t := c.p.templates[r][name]
			if t == nil {
				return nil, notFound(relPath(c.project, templatePath(r, name)))
			}
			for _, ms := range c.p.igms {
				for _, m := range ms {
					if m.InstanceTemplate == t.SelfLink {
						return nil, errf(400, "resourceInUseByAnotherResource", "The instance_template resource '%s' is already being used by '%s'", relPath(c.project, templatePath(r, name)), strings.TrimPrefix(m.SelfLink, c.s.base+"compute/v1/"))
					}
				}
			}
			delete(c.p.templates[r], name)
			scope := "global"
			if r != "" {
				scope = "regions/" + r
			}
			return &opSpec{typ: "delete", scope: scope, target: templatePath(r, name), targetID: t.Id}, nil
		})
	}
}

func aggregatedTemplates(c *req) (any, *apiError) {
	scopes := []string{"global"}
	for _, r := range c.s.Regions() {
		scopes = append(scopes, "regions/"+r)
	}
	out := &compute.InstanceTemplateAggregatedList{Kind: "compute#instanceTemplateAggregatedList", Items: map[string]compute.InstanceTemplatesScopedList{},
		SelfLink: c.s.link(c.project, "aggregated/instanceTemplates")}
	next, unreachables, e := aggregate(c, scopes, func(scope string) []*compute.InstanceTemplate {
		return cloneAll(c.p.templates[strings.TrimPrefix(strings.TrimPrefix(scope, "global"), "regions/")])
	}, templateKeys, func(scope string, items []*compute.InstanceTemplate, w *warning) {
		l := compute.InstanceTemplatesScopedList{InstanceTemplates: items}
		if w != nil {
			l.Warning = &compute.InstanceTemplatesScopedListWarning{Code: w.code, Message: w.message, Data: []*compute.InstanceTemplatesScopedListWarningData{{Key: "scope", Value: scope}}}
		}
		out.Items[scope] = l
	})
	if e != nil {
		return nil, e
	}
	out.NextPageToken = next // this list has no unreachables field; the warning says it
	_ = unreachables
	return out, nil
}

// ---- managed instance groups

var igmKeys = keys[compute.InstanceGroupManager]{func(m *compute.InstanceGroupManager) string { return m.Name }, func(m *compute.InstanceGroupManager) string { return m.CreationTimestamp }}

func (c *req) igmLocation(kind string) (string, *apiError) {
	if kind == "zones" {
		return c.zone()
	}
	return c.region()
}

func listIGMs(kind string) handlerFunc {
	return func(c *req) (any, *apiError) {
		loc, e := c.igmLocation(kind)
		if e != nil {
			return nil, e
		}
		items, next, e := listIn(c, c.p.igms[loc], igmKeys)
		if e != nil {
			return nil, e
		}
		if kind == "regions" {
			return &compute.RegionInstanceGroupManagerList{Kind: "compute#regionInstanceGroupManagerList", Items: items, NextPageToken: next}, nil
		}
		return &compute.InstanceGroupManagerList{Kind: "compute#instanceGroupManagerList", Items: items, NextPageToken: next}, nil
	}
}

func insertIGM(kind string) handlerFunc {
	return func(c *req) (any, *apiError) {
		loc, e := c.igmLocation(kind)
		if e != nil {
			return nil, e
		}
		return c.mutate(func() (*opSpec, *apiError) {
			var m compute.InstanceGroupManager
			if e := c.decode(&m); e != nil {
				return nil, e
			}
			if e := checkName("resource.name", m.Name); e != nil {
				return nil, e
			}
			target := kind + "/" + loc + "/instanceGroupManagers/" + m.Name
			if c.p.igms[loc][m.Name] != nil {
				return nil, alreadyExists(relPath(c.project, target))
			}
			if m.InstanceTemplate == "" && len(m.Versions) == 0 {
				return nil, invalid("Invalid value for field 'resource.instanceTemplate': ''. An instance template is required.")
			}
			m.Id, m.CreationTimestamp = 0, ""
			stored := clone(&m)
			c.s.fillIGM(c.p, loc, stored)
			put(c.p.igms, loc, stored.Name, stored)
			return &opSpec{typ: "insert", scope: kind + "/" + loc, target: target, targetID: stored.Id}, nil
		})
	}
}

func getIGM(kind string) handlerFunc {
	return func(c *req) (any, *apiError) {
		loc, name := c.args[0], c.args[1]
		if m := c.p.igms[loc][name]; m != nil {
			return clone(m), nil
		}
		return nil, notFound(relPath(c.project, kind+"/"+loc+"/instanceGroupManagers/"+name))
	}
}

func deleteIGM(kind string) handlerFunc {
	return func(c *req) (any, *apiError) {
		loc, name := c.args[0], c.args[1]
		return c.mutate(func() (*opSpec, *apiError) {
			m := c.p.igms[loc][name]
			if m == nil {
				return nil, notFound(relPath(c.project, kind+"/"+loc+"/instanceGroupManagers/"+name))
			}
			delete(c.p.igms[loc], name)
			return &opSpec{typ: "delete", scope: kind + "/" + loc, target: kind + "/" + loc + "/instanceGroupManagers/" + name, targetID: m.Id}, nil
		})
	}
}

func aggregatedIGMs(c *req) (any, *apiError) {
	var scopes []string
	for _, z := range c.s.zones {
		scopes = append(scopes, "zones/"+z)
	}
	for _, r := range c.s.Regions() {
		scopes = append(scopes, "regions/"+r)
	}
	out := &compute.InstanceGroupManagerAggregatedList{Kind: "compute#instanceGroupManagerAggregatedList", Items: map[string]compute.InstanceGroupManagersScopedList{},
		SelfLink: c.s.link(c.project, "aggregated/instanceGroupManagers")}
	next, unreachables, e := aggregate(c, scopes, func(scope string) []*compute.InstanceGroupManager {
		_, loc, _ := strings.Cut(scope, "/")
		return cloneAll(c.p.igms[loc])
	}, igmKeys, func(scope string, items []*compute.InstanceGroupManager, w *warning) {
		l := compute.InstanceGroupManagersScopedList{InstanceGroupManagers: items}
		if w != nil {
			l.Warning = &compute.InstanceGroupManagersScopedListWarning{Code: w.code, Message: w.message, Data: []*compute.InstanceGroupManagersScopedListWarningData{{Key: "scope", Value: scope}}}
		}
		out.Items[scope] = l
	})
	if e != nil {
		return nil, e
	}
	out.NextPageToken, out.Unreachables = next, unreachables
	return out, nil
}

// ---- lists and aggregated lists

type keys[T any] struct{ name, ts func(*T) string }

func cloneAll[T any](m map[string]*T) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, clone(v))
	}
	return out
}

func listIn[T any](c *req, m map[string]*T, k keys[T]) ([]*T, string, *apiError) {
	o, e := c.listOpts()
	if e != nil {
		return nil, "", e
	}
	items, next := page(o, cloneAll(m), k.name, k.ts)
	return items, next, nil
}

type warning struct{ code, message string }

// aggregate pages an aggregatedList across scopes, in the given order: the page
// token counts items over all scopes. A scope an Unreachable fault hides carries the
// UNREACHABLE warning (and is listed in unreachables with returnPartialSuccess); one
// with nothing on this page NO_RESULTS_ON_PAGE, as GCE answers.
func aggregate[T any](c *req, scopes []string, items func(scope string) []*T, k keys[T], emit func(scope string, items []*T, w *warning)) (string, []string, *apiError) {
	o, e := c.listOpts()
	if e != nil {
		return "", nil, e
	}
	type hit struct {
		scope string
		item  *T
	}
	var all []hit
	var unreachables []string
	hidden := map[string]bool{}
	for _, scope := range scopes {
		if c.s.unreachable(c.project, c.method, scope) {
			hidden[scope] = true
			if c.q.Get("returnPartialSuccess") == "true" {
				unreachables = append(unreachables, scope)
			}
			continue
		}
		kept, _ := page(&listOpts{filter: o.filter, desc: o.desc, max: 1 << 30}, items(scope), k.name, k.ts)
		for _, it := range kept {
			all = append(all, hit{scope, it})
		}
	}
	next := ""
	if o.offset > len(all) {
		all = nil
	} else {
		all = all[o.offset:]
	}
	if len(all) > o.max {
		all, next = all[:o.max], pageToken(o.offset+o.max)
	}
	byScope := map[string][]*T{}
	for _, h := range all {
		byScope[h.scope] = append(byScope[h.scope], h.item)
	}
	for _, scope := range scopes {
		switch {
		case hidden[scope]:
			emit(scope, nil, &warning{"UNREACHABLE", fmt.Sprintf("Scope '%s' is unreachable.", scope)})
		case len(byScope[scope]) == 0:
			emit(scope, nil, &warning{"NO_RESULTS_ON_PAGE", fmt.Sprintf("There are no results for scope '%s' on this page.", scope)})
		default:
			emit(scope, byScope[scope], nil)
		}
	}
	return next, unreachables, nil
}

// ---- places

func getProject(c *req) (any, *apiError) {
	return &compute.Project{Kind: "compute#project", Id: c.p.number, Name: c.project, SelfLink: c.s.link(c.project, ""),
		DefaultServiceAccount:  fmt.Sprintf("%d-compute@developer.gserviceaccount.com", c.p.number),
		CommonInstanceMetadata: &compute.Metadata{Kind: "compute#metadata", Fingerprint: "gceemu"},
		XpnProjectStatus:       "UNSPECIFIED_XPN_PROJECT_STATUS", CreationTimestamp: "2020-01-01T00:00:00.000-08:00"}, nil
}

func (s *Server) zoneRes(project, z string) *compute.Zone {
	return &compute.Zone{Kind: "compute#zone", Id: uint64(2000 + len(z)), Name: z, Status: "UP", Region: s.link(project, "regions/"+regionOf(z)),
		SelfLink: s.link(project, "zones/"+z), CreationTimestamp: "2014-05-30T18:35:16.575-07:00", AvailableCpuPlatforms: []string{"Intel Cascade Lake"}}
}

func listZones(c *req) (any, *apiError) {
	var items []*compute.Zone
	for _, z := range c.s.zones {
		items = append(items, c.s.zoneRes(c.project, z))
	}
	return &compute.ZoneList{Kind: "compute#zoneList", Items: items, SelfLink: c.s.link(c.project, "zones")}, nil
}

func getZone(c *req) (any, *apiError) {
	if !c.s.hasZone(c.args[0]) {
		return nil, notFound(relPath(c.project, "zones/"+c.args[0]))
	}
	return c.s.zoneRes(c.project, c.args[0]), nil
}

func (s *Server) regionRes(project, r string) *compute.Region {
	var zones []string
	for _, z := range s.zones {
		if regionOf(z) == r {
			zones = append(zones, s.link(project, "zones/"+z))
		}
	}
	return &compute.Region{Kind: "compute#region", Name: r, Status: "UP", Zones: zones, SelfLink: s.link(project, "regions/"+r)}
}

func listRegions(c *req) (any, *apiError) {
	var items []*compute.Region
	for _, r := range c.s.Regions() {
		items = append(items, c.s.regionRes(c.project, r))
	}
	return &compute.RegionList{Kind: "compute#regionList", Items: items, SelfLink: c.s.link(c.project, "regions")}, nil
}

func getRegion(c *req) (any, *apiError) {
	if !c.s.hasRegion(c.args[0]) {
		return nil, notFound(relPath(c.project, "regions/"+c.args[0]))
	}
	return c.s.regionRes(c.project, c.args[0]), nil
}

// machineTypes: the usual shapes; others are not found.
var machineTypes = map[string][2]int64{"e2-micro": {2, 1024}, "e2-small": {2, 2048}, "e2-medium": {2, 4096},
	"e2-standard-2": {2, 8192}, "e2-standard-4": {4, 16384}, "n1-standard-1": {1, 3840}, "n1-standard-2": {2, 7680},
	"n2-standard-2": {2, 8192}, "n2-standard-4": {4, 16384}, "f1-micro": {1, 614}, "g1-small": {1, 1740}}

func getMachineType(c *req) (any, *apiError) {
	z, name := c.args[0], c.args[1]
	mt, ok := machineTypes[name]
	if !c.s.hasZone(z) || !ok {
		return nil, errf(404, "notFound", "The resource '%s' was not found", relPath(c.project, "zones/"+z+"/machineTypes/"+name))
	}
	return &compute.MachineType{Kind: "compute#machineType", Name: name, GuestCpus: mt[0], MemoryMb: mt[1], Zone: z,
		SelfLink: c.s.link(c.project, "zones/"+z+"/machineTypes/"+name), IsSharedCpu: strings.HasPrefix(name, "e2-micro") || strings.HasPrefix(name, "f1") || strings.HasPrefix(name, "g1")}, nil
}

// Every project has the auto-mode "default" network with a subnetwork per region.
func getNetwork(c *req) (any, *apiError) {
	if c.args[0] != "default" {
		return nil, notFound(relPath(c.project, "global/networks/"+c.args[0]))
	}
	var subs []string
	for _, r := range c.s.Regions() {
		subs = append(subs, c.s.link(c.project, "regions/"+r+"/subnetworks/default"))
	}
	return &compute.Network{Kind: "compute#network", Name: "default", AutoCreateSubnetworks: true, Subnetworks: subs,
		SelfLink: c.s.link(c.project, "global/networks/default")}, nil
}

func getSubnetwork(c *req) (any, *apiError) {
	r, name := c.args[0], c.args[1]
	if !c.s.hasRegion(r) || name != "default" {
		return nil, notFound(relPath(c.project, "regions/"+r+"/subnetworks/"+name))
	}
	return &compute.Subnetwork{Kind: "compute#subnetwork", Name: name, Region: c.s.link(c.project, "regions/"+r),
		Network: c.s.link(c.project, "global/networks/default"), IpCidrRange: "10.128.0.0/20",
		SelfLink: c.s.link(c.project, "regions/"+r+"/subnetworks/"+name)}, nil
}
