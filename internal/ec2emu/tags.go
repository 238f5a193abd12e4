package ec2emu

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// EC2 tag limits (key and value lengths are Unicode characters, not bytes).
const (
	maxTagsPerResource = 50
	maxTagKey          = 128
	maxTagValue        = 256
	maxTagResources    = 1000
)

// tagStore holds the caller's tags: the owner's in Tags, anyone else's in AccountTags
// ("You can tag public or shared resources, but the tags you assign are available only
// to your AWS account", EC2 user guide, "Tag your Amazon EC2 resources").
func (c *call) tagStore(id string, create bool) map[string]map[string]string {
	if c.ownerOf(id) == c.account {
		return c.reg.Tags
	}
	m := c.reg.AccountTags[c.account]
	if m == nil && create {
		m = map[string]map[string]string{}
		c.reg.AccountTags[c.account] = m
	}
	return m
}

// tagsOf is the caller's view of a resource's tags.
func (c *call) tagsOf(id string) map[string]string { return c.tagStore(id, false)[id] }

func (c *call) tagsXML(id string) []tagXML {
	tags := c.tagsOf(id)
	var out []tagXML
	for _, k := range sortedKeys(tags) {
		out = append(out, tagXML{k, tags[k]})
	}
	return out
}

// applyTags stores tags on a resource (already validated).
func (c *call) applyTags(id string, tags []Tag) {
	if len(tags) == 0 {
		return
	}
	store := c.tagStore(id, true)
	m := store[id]
	if m == nil {
		m = map[string]string{}
		store[id] = m
	}
	for _, t := range tags {
		m[t.Key] = t.Value
	}
}

func checkTag(t Tag) error {
	switch {
	case t.Key == "":
		return badParam("Tag keys must not be empty")
	case utf8.RuneCountInString(t.Key) > maxTagKey:
		return badParam("Tag key exceeds the maximum length of %d characters", maxTagKey)
	case utf8.RuneCountInString(t.Value) > maxTagValue:
		return badParam("Tag value exceeds the maximum length of %d characters", maxTagValue)
	case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
		return badParam("Tag keys starting with 'aws:' are reserved for internal use")
	}
	return nil
}

func checkTags(tags []Tag) error {
	if len(tags) > maxTagsPerResource {
		return errf(400, "TagLimitExceeded", "The maximum number of tags per resource (%d) was exceeded", maxTagsPerResource)
	}
	for _, t := range tags {
		if err := checkTag(t); err != nil {
			return err
		}
	}
	return nil
}

func (c *call) checkTagSpecs(specs map[string][]Tag) error {
	for _, tags := range specs {
		if err := checkTags(tags); err != nil {
			return err
		}
	}
	return nil
}

// resourceType maps an id prefix to DescribeTags' resource-type and its NotFound code.
func resourceType(id string) (typ, notFound string) {
	prefix, _, _ := strings.Cut(id, "-")
	switch prefix {
	case "ami":
		return "image", "InvalidAMIID.NotFound"
	case "snap":
		return "snapshot", "InvalidSnapshot.NotFound"
	case "i":
		return "instance", "InvalidInstanceID.NotFound"
	case "vol":
		return "volume", "InvalidVolume.NotFound"
	case "sg":
		return "security-group", "InvalidGroup.NotFound"
	case "key":
		return "key-pair", "InvalidKeyPair.NotFound"
	case "lt":
		return "launch-template", "InvalidLaunchTemplateId.NotFound"
	case "amiur":
		return "image-usage-report", "InvalidImageUsageReportId.NotFound"
	}
	return "", "InvalidID"
}

// ownerOf returns the owner of a resource in this region, "" when it does not exist.
func (c *call) ownerOf(id string) string {
	r := c.reg
	switch typ, _ := resourceType(id); typ {
	case "image":
		if img := r.Images[id]; img != nil {
			return img.OwnerID
		}
		if img := r.Deregistered[id]; img != nil {
			return img.OwnerID
		}
	case "snapshot":
		if s := r.Snapshots[id]; s != nil {
			return s.OwnerID
		}
	case "instance":
		if i := r.Instances[id]; i != nil {
			return i.OwnerID
		}
	case "volume":
		if v := r.Volumes[id]; v != nil {
			return v.OwnerID
		}
	case "security-group":
		if g := r.SecurityGroups[id]; g != nil {
			return g.OwnerID
		}
	case "key-pair":
		if k := r.KeyPairs[id]; k != nil {
			return k.OwnerID
		}
	case "launch-template":
		if lt := r.LaunchTemplates[id]; lt != nil {
			return lt.OwnerID
		}
	case "image-usage-report":
		if u := r.UsageReports[id]; u != nil {
			return u.OwnerID
		}
	}
	return ""
}

// checkResources validates ResourceId.N: the ids must exist and belong to the caller.
func (c *call) checkResources() ([]string, error) {
	ids := c.list("ResourceId")
	if len(ids) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter ResourceId")
	}
	if len(ids) > maxTagResources {
		return nil, badParam("Too many resource ids: at most %d per request", maxTagResources)
	}
	for _, id := range ids {
		typ, notFound := resourceType(id)
		if typ == "" {
			return nil, errf(400, "InvalidID", "The ID '%s' is not valid", id)
		}
		if !c.mayTag(id) {
			return nil, errf(400, notFound, "The %s ID '%s' does not exist", typ, id)
		}
	}
	return ids, nil
}

// mayTag: owners tag their resources, other accounts the images and snapshots shared
// with them.
func (c *call) mayTag(id string) bool {
	if img := c.reg.Images[id]; img != nil {
		return c.canSee(img)
	}
	if s := c.reg.Snapshots[id]; s != nil {
		return c.canSeeSnapshot(s)
	}
	return c.ownerOf(id) == c.account
}

func createTags(c *call) (response, error) {
	ids, err := c.checkResources()
	if err != nil {
		return nil, err
	}
	tags, _ := c.tagList("Tag")
	if len(tags) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter Tag")
	}
	if err := checkTags(tags); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if merged(c.tagsOf(id), tags) > maxTagsPerResource {
			return nil, errf(400, "TagLimitExceeded", "The maximum number of tags per resource (%d) was exceeded for %s", maxTagsPerResource, id)
		}
	}
	for _, id := range ids {
		c.applyTags(id, tags)
	}
	return &emptyResp{}, nil
}

func merged(existing map[string]string, tags []Tag) int {
	n := len(existing)
	seen := map[string]bool{}
	for _, t := range tags {
		if _, ok := existing[t.Key]; !ok && !seen[t.Key] {
			n++
			seen[t.Key] = true
		}
	}
	return n
}

// deleteTags removes keys; a tag with a Value only goes if the value matches, and no
// Tag.N at all removes every tag.
func deleteTags(c *call) (response, error) {
	ids, err := c.checkResources()
	if err != nil {
		return nil, err
	}
	tags, hasValue := c.tagList("Tag")
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, badParam("Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	for _, id := range ids {
		store := c.tagStore(id, false)
		m := store[id]
		if len(tags) == 0 {
			delete(store, id)
			continue
		}
		for i, t := range tags {
			if v, ok := m[t.Key]; ok && (!hasValue[i] || v == t.Value) {
				delete(m, t.Key)
			}
		}
	}
	return &emptyResp{}, nil
}

type tagDescXML struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type describeTagsResp struct {
	base
	Tags      set[tagDescXML] `xml:"tagSet"`
	NextToken string          `xml:"nextToken,omitempty"`
}

func describeTags(c *call) (response, error) {
	fs := c.filters()
	var found []tagDescXML
	ids := sortedKeys(c.reg.AccountTags[c.account]) // tags the caller wrote on shared resources
	for _, id := range sortedKeys(c.reg.Tags) {
		if c.ownerOf(id) == c.account {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		typ, _ := resourceType(id)
		tags := c.tagsOf(id)
		for _, k := range sortedKeys(tags) {
			td := tagDescXML{id, typ, k, tags[k]}
			keep, err := c.matches(fs, "", func(name string) ([]string, bool) { return tagField(td, name) })
			if err != nil {
				return nil, err
			}
			if keep {
				found = append(found, td)
			}
		}
	}
	start, end, next, err := c.page(len(found), 5, 1000)
	if err != nil {
		return nil, err
	}
	return &describeTagsResp{Tags: set[tagDescXML]{found[start:end]}, NextToken: next}, nil
}

func tagField(td tagDescXML, name string) ([]string, bool) {
	switch name {
	case "key":
		return vals(td.Key), true
	case "value":
		return vals(td.Value), true
	case "resource-id":
		return vals(td.ResourceID), true
	case "resource-type":
		return vals(td.ResourceType), true
	}
	return nil, false
}
