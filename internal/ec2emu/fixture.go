package ec2emu

import (
	"fmt"
	"net/url"
	"time"
)

// Fixture describes a synthetic estate: Families × Versions images in every region,
// plus instances and launch templates that use some of them, and other accounts'
// images (private, shared with Owner, public).
type Fixture struct {
	Owner           string            `json:"owner,omitempty"`      // default DefaultAccount
	Regions         []string          `json:"regions,omitempty"`    // default us-east-1
	NamePrefix      string            `json:"namePrefix,omitempty"` // default "app"
	Families        int               `json:"families"`
	Versions        int               `json:"versions"`
	Start           time.Time         `json:"start,omitempty"` // creation date of version 0; default now - Versions days
	Instances       int               `json:"instances,omitempty"`
	LaunchTemplates int               `json:"launchTemplates,omitempty"`
	DeprecateOldest int               `json:"deprecateOldest,omitempty"` // per family, deprecated an hour ago
	ForeignOwner    string            `json:"foreignOwner,omitempty"`    // default 210987654321
	Foreign         int               `json:"foreign,omitempty"`         // private to ForeignOwner
	Shared          int               `json:"shared,omitempty"`          // ForeignOwner's, shared with Owner
	Public          int               `json:"public,omitempty"`          // ForeignOwner's, public
	Tags            map[string]string `json:"tags,omitempty"`            // added to every own image
}

// FixtureResult lists what Build created, per region.
type FixtureResult struct {
	Images          map[string][]string            `json:"images"`   // own images, family-major, oldest first
	Families        map[string]map[string][]string `json:"families"` // region -> family name -> ids, oldest first
	Instances       map[string][]string            `json:"instances"`
	LaunchTemplates map[string][]string            `json:"launchTemplates"`
	Foreign         map[string][]string            `json:"foreign"`
	Shared          map[string][]string            `json:"shared"`
	Public          map[string][]string            `json:"public"`
}

func (f *Fixture) defaults(now time.Time) {
	if f.Owner == "" {
		f.Owner = DefaultAccount
	}
	if len(f.Regions) == 0 {
		f.Regions = []string{"us-east-1"}
	}
	if f.NamePrefix == "" {
		f.NamePrefix = "app"
	}
	if f.ForeignOwner == "" {
		f.ForeignOwner = "210987654321"
	}
	if f.Start.IsZero() {
		f.Start = now.Add(-time.Duration(f.Versions+1) * 24 * time.Hour).Truncate(time.Second)
	}
}

// Build adds the fixture to the state and returns the ids it created.
func (s *Server) Build(f Fixture) FixtureResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now().UTC()
	f.defaults(now)
	res := FixtureResult{Images: map[string][]string{}, Families: map[string]map[string][]string{},
		Instances: map[string][]string{}, LaunchTemplates: map[string][]string{},
		Foreign: map[string][]string{}, Shared: map[string][]string{}, Public: map[string][]string{}}
	for _, region := range f.Regions {
		c := &call{s: s, form: url.Values{}, region: region, account: f.Owner, reg: s.st.region(region), now: now}
		c.buildFamilies(f, &res)
		c.buildUsers(f, &res)
		c.buildForeign(f, &res)
	}
	return res
}

// seedImage stores an available EBS image with one root snapshot.
func (c *call) seedImage(name string, created time.Time) *Image {
	img := &Image{
		ID: c.newID("ami"), Name: name, OwnerID: c.account, State: "available", CreationDate: created,
		Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs",
	}
	snap := c.newSnapshot(nil, "fixture snapshot for "+img.ID)
	snap.StartTime = created
	img.BlockDevices = []BlockDevice{{DeviceName: "/dev/xvda", SnapshotID: snap.ID, VolumeSize: 8, VolumeType: "gp3", DeleteOnTermination: true}}
	c.reg.Images[img.ID] = img
	return img
}

func (c *call) buildFamilies(f Fixture, res *FixtureResult) {
	fams := map[string][]string{}
	for fam := 0; fam < f.Families; fam++ {
		family := fmt.Sprintf("%s-%02d", f.NamePrefix, fam)
		for v := 0; v < f.Versions; v++ {
			created := f.Start.Add(time.Duration(v)*24*time.Hour + time.Duration(fam)*time.Minute)
			img := c.seedImage(fmt.Sprintf("%s-v%04d", family, v), created)
			c.applyTags(img.ID, []Tag{{"Family", family}, {"Version", fmt.Sprint(v)}})
			for k, val := range f.Tags {
				c.applyTags(img.ID, []Tag{{k, val}})
			}
			if v < f.DeprecateOldest {
				at := c.now.Add(-time.Hour).Truncate(time.Minute)
				img.DeprecationTime = &at
			}
			fams[family] = append(fams[family], img.ID)
			res.Images[c.region] = append(res.Images[c.region], img.ID)
		}
	}
	res.Families[c.region] = fams
}

// buildUsers launches instances from the newest version of families in turn and
// creates templates whose version 1 uses an older version and version 2 the newest.
func (c *call) buildUsers(f Fixture, res *FixtureResult) {
	fams := res.Families[c.region]
	family := func(i int) []string { return fams[fmt.Sprintf("%s-%02d", f.NamePrefix, i%f.Families)] }
	if f.Families == 0 || f.Versions == 0 {
		return
	}
	for i := 0; i < f.Instances; i++ {
		ids := family(i)
		img := c.reg.Images[ids[len(ids)-1]]
		inst := c.launch(img, launchSpec{instanceType: "t3.micro", count: 1}, c.newID("r"), nil)
		now := c.now
		img.LastLaunched = &now
		res.Instances[c.region] = append(res.Instances[c.region], inst.ID)
	}
	for i := 0; i < f.LaunchTemplates; i++ {
		ids := family(i)
		lt := &LaunchTemplate{ID: c.newID("lt"), Name: fmt.Sprintf("%s-lt-%02d", f.NamePrefix, i), OwnerID: c.account,
			CreateTime: c.now, DefaultVersion: 1, LatestVersion: 2}
		lt.Versions = []*TemplateVersion{
			{Number: 1, CreateTime: c.now, ImageID: ids[max(0, len(ids)-2)], InstanceType: "t3.micro"},
			{Number: 2, CreateTime: c.now, ImageID: ids[len(ids)-1], InstanceType: "t3.micro"},
		}
		c.reg.LaunchTemplates[lt.ID] = lt
		res.LaunchTemplates[c.region] = append(res.LaunchTemplates[c.region], lt.ID)
	}
}

func (c *call) buildForeign(f Fixture, res *FixtureResult) {
	other := *c
	other.account = f.ForeignOwner
	mk := func(kind string, n int, out map[string][]string, share func(*Image)) {
		for i := 0; i < n; i++ {
			img := other.seedImage(fmt.Sprintf("%s-%s-%02d", f.NamePrefix, kind, i), f.Start)
			share(img)
			out[c.region] = append(out[c.region], img.ID)
		}
	}
	mk("foreign", f.Foreign, res.Foreign, func(*Image) {})
	mk("shared", f.Shared, res.Shared, func(img *Image) { img.LaunchUsers = []string{f.Owner} })
	mk("public", f.Public, res.Public, func(img *Image) {
		limit := publicDeprecation(img) // as ModifyImageAttribute would set it
		img.Public, img.DeprecationTime = true, &limit
	})
}
