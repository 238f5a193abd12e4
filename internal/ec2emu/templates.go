package ec2emu

import (
	"strconv"
)

type launchTemplateXML struct {
	LaunchTemplateID     string   `xml:"launchTemplateId"`
	LaunchTemplateName   string   `xml:"launchTemplateName"`
	CreateTime           string   `xml:"createTime"`
	CreatedBy            string   `xml:"createdBy"`
	DefaultVersionNumber int64    `xml:"defaultVersionNumber"`
	LatestVersionNumber  int64    `xml:"latestVersionNumber"`
	TagSet               []tagXML `xml:"tagSet>item"`
}

type templateDataXML struct {
	ImageID      string `xml:"imageId,omitempty"`
	InstanceType string `xml:"instanceType,omitempty"`
	KeyName      string `xml:"keyName,omitempty"`
}

type templateVersionXML struct {
	LaunchTemplateID   string          `xml:"launchTemplateId"`
	LaunchTemplateName string          `xml:"launchTemplateName"`
	VersionNumber      int64           `xml:"versionNumber"`
	VersionDescription string          `xml:"versionDescription,omitempty"`
	CreateTime         string          `xml:"createTime"`
	CreatedBy          string          `xml:"createdBy"`
	DefaultVersion     bool            `xml:"defaultVersion"`
	LaunchTemplateData templateDataXML `xml:"launchTemplateData"`
}

type launchTemplateResp struct {
	base
	LaunchTemplate launchTemplateXML `xml:"launchTemplate"`
}

type templateVersionResp struct {
	base
	Version templateVersionXML `xml:"launchTemplateVersion"`
}

type describeTemplatesResp struct {
	base
	Templates set[launchTemplateXML] `xml:"launchTemplates"`
	NextToken string                 `xml:"nextToken,omitempty"`
}

type describeVersionsResp struct {
	base
	Versions  set[templateVersionXML] `xml:"launchTemplateVersionSet"`
	NextToken string                  `xml:"nextToken,omitempty"`
}

func (c *call) createdBy() string { return "arn:aws:iam::" + c.account + ":root" }

func (c *call) templateXML(lt *LaunchTemplate) launchTemplateXML {
	return launchTemplateXML{lt.ID, lt.Name, fmtTime(lt.CreateTime), c.createdBy(), lt.DefaultVersion, lt.LatestVersion, c.tagsXML(lt.ID)}
}

func (c *call) versionXML(lt *LaunchTemplate, v *TemplateVersion) templateVersionXML {
	return templateVersionXML{
		LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, VersionNumber: v.Number,
		VersionDescription: v.Description, CreateTime: fmtTime(v.CreateTime), CreatedBy: c.createdBy(),
		DefaultVersion:     v.Number == lt.DefaultVersion,
		LaunchTemplateData: templateDataXML{v.ImageID, v.InstanceType, v.KeyName},
	}
}

// findTemplate resolves by id or name with the two different NotFound codes EC2 uses.
func (c *call) findTemplate(id, name string) (*LaunchTemplate, error) {
	if id != "" {
		if !validID(id, "lt") {
			return nil, errf(400, "InvalidLaunchTemplateId.Malformed", "The specified launch template ID %s is malformed", id)
		}
		if lt := c.reg.LaunchTemplates[id]; lt != nil && lt.OwnerID == c.account {
			return lt, nil
		}
		return nil, errf(400, "InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
	}
	for _, lt := range c.reg.LaunchTemplates {
		if lt.Name == name && lt.OwnerID == c.account {
			return lt, nil
		}
	}
	return nil, errf(400, "InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
}

// version resolves "", $Latest, $Default or a number.
func (lt *LaunchTemplate) version(v string) (*TemplateVersion, error) {
	n := lt.DefaultVersion
	switch v {
	case "", "$Default":
	case "$Latest":
		n = lt.LatestVersion
	default:
		parsed, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badParam("Invalid launch template version %s", v)
		}
		n = parsed
	}
	for _, tv := range lt.Versions {
		if tv.Number == n {
			return tv, nil
		}
	}
	return nil, errf(400, "InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for template %s", v, lt.ID)
}

func (c *call) templateData(v *TemplateVersion) {
	if s := c.str("LaunchTemplateData.ImageId"); s != "" {
		v.ImageID = s
	}
	if s := c.str("LaunchTemplateData.InstanceType"); s != "" {
		v.InstanceType = s
	}
	if s := c.str("LaunchTemplateData.KeyName"); s != "" {
		v.KeyName = s
	}
}

func createLaunchTemplate(c *call) (response, error) {
	name, err := c.required("LaunchTemplateName")
	if err != nil {
		return nil, err
	}
	if _, err := c.findTemplate("", name); err == nil {
		return nil, errf(400, "InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	lt := &LaunchTemplate{ID: c.newID("lt"), Name: name, OwnerID: c.account, CreateTime: c.now, DefaultVersion: 1, LatestVersion: 1}
	v := &TemplateVersion{Number: 1, Description: c.str("VersionDescription"), CreateTime: c.now}
	c.templateData(v)
	lt.Versions = []*TemplateVersion{v}
	c.reg.LaunchTemplates[lt.ID] = lt
	c.applyTags(lt.ID, specs["launch-template"])
	return &launchTemplateResp{LaunchTemplate: c.templateXML(lt)}, nil
}

// createLaunchTemplateVersion copies SourceVersion (if any) and overlays the new data.
func createLaunchTemplateVersion(c *call) (response, error) {
	lt, err := c.findTemplate(c.str("LaunchTemplateId"), c.str("LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	v := &TemplateVersion{}
	if src := c.str("SourceVersion"); src != "" {
		sv, err := lt.version(src)
		if err != nil {
			return nil, err
		}
		*v = *sv
	}
	lt.LatestVersion++
	v.Number, v.Description, v.CreateTime = lt.LatestVersion, c.str("VersionDescription"), c.now
	c.templateData(v)
	lt.Versions = append(lt.Versions, v)
	return &templateVersionResp{Version: c.versionXML(lt, v)}, nil
}

func deleteLaunchTemplate(c *call) (response, error) {
	lt, err := c.findTemplate(c.str("LaunchTemplateId"), c.str("LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	delete(c.reg.LaunchTemplates, lt.ID)
	delete(c.reg.Tags, lt.ID)
	return &launchTemplateResp{LaunchTemplate: c.templateXML(lt)}, nil
}

func describeLaunchTemplates(c *call) (response, error) {
	ids, names, fs := c.list("LaunchTemplateId"), c.list("LaunchTemplateName"), c.filters()
	var lts []*LaunchTemplate
	for _, id := range ids {
		lt, err := c.findTemplate(id, "")
		if err != nil {
			return nil, err
		}
		lts = append(lts, lt)
	}
	for _, n := range names {
		lt, err := c.findTemplate("", n)
		if err != nil {
			return nil, err
		}
		lts = append(lts, lt)
	}
	if len(ids)+len(names) == 0 {
		lts = c.ownTemplates()
	}
	var found []launchTemplateXML
	for _, lt := range lts {
		keep, err := c.matches(fs, lt.ID, func(name string) ([]string, bool) {
			if name == "launch-template-name" {
				return vals(lt.Name), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if keep {
			found = append(found, c.templateXML(lt))
		}
	}
	start, end, next, err := c.page(len(found), 1, 200)
	if err != nil {
		return nil, err
	}
	return &describeTemplatesResp{Templates: set[launchTemplateXML]{found[start:end]}, NextToken: next}, nil
}

func (c *call) ownTemplates() []*LaunchTemplate {
	var out []*LaunchTemplate
	for _, id := range sortedKeys(c.reg.LaunchTemplates) {
		if lt := c.reg.LaunchTemplates[id]; lt.OwnerID == c.account {
			out = append(out, lt)
		}
	}
	return out
}

// describeLaunchTemplateVersions lists every version of one template (or, without a
// template, the $Latest/$Default versions of all of them, as EC2 allows).
func describeLaunchTemplateVersions(c *call) (response, error) {
	id, name, wanted := c.str("LaunchTemplateId"), c.str("LaunchTemplateName"), c.list("LaunchTemplateVersion")
	var lts []*LaunchTemplate
	if id == "" && name == "" {
		for _, w := range wanted {
			if w != "$Latest" && w != "$Default" {
				return nil, errf(400, "MissingParameter", "A launch template ID or name is required unless only $Latest or $Default versions are requested")
			}
		}
		if len(wanted) == 0 {
			return nil, errf(400, "MissingParameter", "The request must contain the parameter LaunchTemplateId or LaunchTemplateName")
		}
		lts = c.ownTemplates()
	} else {
		lt, err := c.findTemplate(id, name)
		if err != nil {
			return nil, err
		}
		lts = []*LaunchTemplate{lt}
	}
	found, err := c.selectVersions(lts, wanted)
	if err != nil {
		return nil, err
	}
	start, end, next, err := c.page(len(found), 1, 200)
	if err != nil {
		return nil, err
	}
	return &describeVersionsResp{Versions: set[templateVersionXML]{found[start:end]}, NextToken: next}, nil
}

func (c *call) selectVersions(lts []*LaunchTemplate, wanted []string) ([]templateVersionXML, error) {
	minV, err := c.integer("MinVersion", 0)
	if err != nil {
		return nil, err
	}
	maxV, err := c.integer("MaxVersion", 1<<31)
	if err != nil {
		return nil, err
	}
	fs := c.filters()
	var out []templateVersionXML
	for _, lt := range lts {
		versions, err := pickVersions(lt, wanted)
		if err != nil {
			return nil, err
		}
		for _, v := range versions {
			if v.Number < int64(minV) || v.Number > int64(maxV) {
				continue
			}
			keep, err := c.matches(fs, "", func(n string) ([]string, bool) { return versionField(lt, v, n) })
			if err != nil {
				return nil, err
			}
			if keep {
				out = append(out, c.versionXML(lt, v))
			}
		}
	}
	return out, nil
}

func pickVersions(lt *LaunchTemplate, wanted []string) ([]*TemplateVersion, error) {
	if len(wanted) == 0 {
		return lt.Versions, nil
	}
	var out []*TemplateVersion
	for _, w := range wanted {
		v, err := lt.version(w)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func versionField(lt *LaunchTemplate, v *TemplateVersion, name string) ([]string, bool) {
	switch name {
	case "image-id":
		return vals(v.ImageID), true
	case "instance-type":
		return vals(v.InstanceType), true
	case "is-default-version":
		return vals(boolStr(v.Number == lt.DefaultVersion)), true
	}
	return nil, false
}
