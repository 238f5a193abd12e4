package ec2emu

import "strconv"

// maxReferenceImages is EC2's limit of ImageId.N per DescribeImageReferences call.
const maxReferenceImages = 10

// version-depth: default 10, valid 1..10000 (service model, ResourceTypeOption).
const (
	defaultVersionDepth = 10
	maxVersionDepth     = 10000
)

type imageRefXML struct {
	Arn          string `xml:"arn"`
	ImageID      string `xml:"imageId"`
	ResourceType string `xml:"resourceType"`
}

type describeRefsResp struct {
	base
	Refs      set[imageRefXML] `xml:"imageReferenceSet"`
	NextToken string           `xml:"nextToken,omitempty"`
}

// refOptions is what to look at: instance states (default all, terminated included)
// and launch template version depth.
type refOptions struct {
	instances, templates, parameters bool
	states                           []string
	depth                            int
}

func (c *call) readRefOptions() (refOptions, error) {
	o := refOptions{states: []string{"pending", "running", "shutting-down", "terminated", "stopping", "stopped"}, depth: defaultVersionDepth}
	all, err := c.boolean("IncludeAllResourceTypes")
	if err != nil {
		return o, err
	}
	o.instances, o.templates, o.parameters = all, all, all
	types := c.indexes("ResourceType")
	if !all && len(types) == 0 {
		return o, errf(400, "MissingParameter", "Either IncludeAllResourceTypes or ResourceType must be specified")
	}
	for _, n := range types {
		prefix := key("ResourceType", n, "ResourceTypeOption")
		switch c.str(key("ResourceType", n, "ResourceType")) {
		case "ec2:Instance":
			o.instances = true
			if s := c.optionValues(prefix, "state-name"); len(s) > 0 {
				o.states = s
			}
		case "ssm:Parameter":
			o.parameters = true
		case "ec2:LaunchTemplate":
			o.templates = true
			if d := c.optionValues(prefix, "version-depth"); len(d) > 0 {
				depth, err := strconv.Atoi(d[0])
				if err != nil || depth < 1 || depth > maxVersionDepth {
					return o, badParam("Invalid version-depth %s", d[0])
				}
				o.depth = depth
			}
		}
	}
	return o, nil
}

func (c *call) optionValues(prefix, name string) []string {
	for _, n := range c.indexes(prefix) {
		if c.str(key(prefix, n, "OptionName")) == name {
			return c.list(key(prefix, n, "OptionValue"))
		}
	}
	return nil
}

// describeImageReferences finds the caller's instances and launch templates (the last
// version-depth versions) and aws:ec2:image SSM parameters that use the given images;
// Image Builder recipes are not modelled.
func describeImageReferences(c *call) (response, error) {
	ids := c.list("ImageId")
	if len(ids) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter ImageId")
	}
	if len(ids) > maxReferenceImages {
		return nil, badParam("You can specify at most %d image IDs", maxReferenceImages)
	}
	for _, id := range ids {
		if !validID(id, "ami") {
			return nil, errf(400, "InvalidAMIID.Malformed", "Invalid id: \"%s\"", id)
		}
	}
	o, err := c.readRefOptions()
	if err != nil {
		return nil, err
	}
	var found []imageRefXML
	for _, id := range ids {
		if o.instances {
			found = append(found, c.instanceRefs(id, o.states)...)
		}
		if o.templates {
			found = append(found, c.templateRefs(id, o.depth)...)
		}
		if o.parameters {
			found = append(found, c.parameterRefs(id)...)
		}
	}
	start, end, next, err := c.page(len(found), 5, 1000) // model: DescribeImageReferencesMaxResults min 5
	if err != nil {
		return nil, err
	}
	return &describeRefsResp{Refs: set[imageRefXML]{found[start:end]}, NextToken: next}, nil
}

func (c *call) arn(kind, id string) string {
	return "arn:aws:ec2:" + c.region + ":" + c.account + ":" + kind + "/" + id
}

func (c *call) instanceRefs(imageID string, states []string) []imageRefXML {
	var out []imageRefXML
	for _, id := range sortedKeys(c.reg.Instances) {
		inst := c.reg.Instances[id]
		if inst.OwnerID == c.account && inst.ImageID == imageID && contains(states, inst.State) {
			out = append(out, imageRefXML{c.arn("instance", id), imageID, "ec2:Instance"})
		}
	}
	return out
}

func (c *call) templateRefs(imageID string, depth int) []imageRefXML {
	var out []imageRefXML
	for _, lt := range c.ownTemplates() {
		if templateUses(lt, imageID, depth) {
			out = append(out, imageRefXML{c.arn("launch-template", lt.ID), imageID, "ec2:LaunchTemplate"})
		}
	}
	return out
}

// templateUses: one of the template's last depth versions launches imageID.
func templateUses(lt *LaunchTemplate, imageID string, depth int) bool {
	vs := lt.Versions
	if len(vs) > depth {
		vs = vs[len(vs)-depth:]
	}
	for _, v := range vs {
		if v.ImageID == imageID {
			return true
		}
	}
	return false
}

type regionXML struct {
	RegionName     string `xml:"regionName"`
	RegionEndpoint string `xml:"regionEndpoint"`
	OptInStatus    string `xml:"optInStatus"`
}

type describeRegionsResp struct {
	base
	Regions set[regionXML] `xml:"regionInfo"`
}

func describeRegions(c *call) (response, error) {
	names, fs := c.list("RegionName"), c.filters()
	resp := &describeRegionsResp{}
	for _, n := range names {
		if !contains(c.s.regions, n) {
			return nil, badParam("Invalid region: %s", n)
		}
	}
	for _, r := range c.s.regions {
		if len(names) > 0 && !contains(names, r) {
			continue
		}
		x := regionXML{r, "ec2." + r + ".amazonaws.com", "opt-in-not-required"}
		keep, err := c.matches(fs, "", func(name string) ([]string, bool) { return regionField(x, name) })
		if err != nil {
			return nil, err
		}
		if keep {
			resp.Regions.Items = append(resp.Regions.Items, x)
		}
	}
	return resp, nil
}

func regionField(x regionXML, name string) ([]string, bool) {
	switch name {
	case "region-name":
		return vals(x.RegionName), true
	case "endpoint":
		return vals(x.RegionEndpoint), true
	case "opt-in-status":
		return vals(x.OptInStatus), true
	}
	return nil, false
}
