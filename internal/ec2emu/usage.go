package ec2emu

import (
	"strconv"
	"time"
)

// Image usage reports say which other accounts use an AMI (instances, launch
// templates). EC2 builds them asynchronously: they stay pending for a while, then are
// available until they expire "30 days after the report was created" (ImageUsageReport
// in the service model).
const (
	DefaultUsageReportDelay = time.Hour
	usageReportLifetime     = 30 * 24 * time.Hour
	// reportVersionDepth is a report's version-depth unless asked (service model: 20).
	reportVersionDepth = 20
)

// WithUsageReportDelay sets how long image usage reports stay pending.
func WithUsageReportDelay(d time.Duration) Option { return func(s *Server) { s.usageDelay = d } }

// UsageReport is an image usage report; Entries are computed when it is created.
type UsageReport struct {
	ID            string       `json:"id"`
	OwnerID       string       `json:"ownerId"`
	ImageID       string       `json:"imageId"`
	ResourceTypes []string     `json:"resourceTypes"`
	AccountIDs    []string     `json:"accountIds,omitempty"`
	CreationTime  time.Time    `json:"creationTime"`
	VersionDepth  int          `json:"versionDepth,omitempty"` // launch template versions looked at
	Entries       []UsageEntry `json:"entries,omitempty"`
}

// UsageEntry counts one account's resources of one type that use the image.
type UsageEntry struct {
	ResourceType string `json:"resourceType"`
	AccountID    string `json:"accountId"`
	Count        int64  `json:"count"`
}

func (c *call) reportState(r *UsageReport) string {
	if c.now.Before(r.CreationTime.Add(c.s.usageDelay)) {
		return "pending"
	}
	return "available"
}

type reportIDResp struct {
	base
	ReportID string `xml:"reportId"`
}

func createImageUsageReport(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	r := &UsageReport{OwnerID: c.account, ImageID: img.ID, AccountIDs: c.list("AccountId"), CreationTime: c.now, VersionDepth: reportVersionDepth}
	for _, n := range c.indexes("ResourceType") {
		switch t := c.str(key("ResourceType", n, "ResourceType")); t {
		case "ec2:LaunchTemplate":
			if d := c.optionValues(key("ResourceType", n, "ResourceTypeOption"), "version-depth"); len(d) > 0 {
				depth, err := strconv.Atoi(d[0])
				if err != nil || depth < 1 || depth > maxVersionDepth {
					return nil, badParam("Invalid version-depth %s", d[0])
				}
				r.VersionDepth = depth
			}
			r.ResourceTypes = append(r.ResourceTypes, t)
		case "ec2:Instance":
			r.ResourceTypes = append(r.ResourceTypes, t)
		default:
			return nil, badParam("Invalid resource type %q (ec2:Instance or ec2:LaunchTemplate)", t)
		}
	}
	if len(r.ResourceTypes) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter ResourceType")
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	r.ID = c.newID("amiur")
	r.Entries = c.usage(r)
	c.reg.UsageReports[r.ID] = r
	c.applyTags(r.ID, specs["image-usage-report"])
	return &reportIDResp{ReportID: r.ID}, nil
}

// usage counts other accounts' instances (not terminated) and launch templates (any of
// their last VersionDepth versions) that use the report's image.
func (c *call) usage(r *UsageReport) []UsageEntry {
	counts := map[string]map[string]int64{}
	add := func(typ, account string) {
		if account == r.OwnerID || (len(r.AccountIDs) > 0 && !contains(r.AccountIDs, account)) {
			return
		}
		if counts[typ] == nil {
			counts[typ] = map[string]int64{}
		}
		counts[typ][account]++
	}
	for _, id := range sortedKeys(c.reg.Instances) {
		if inst := c.reg.Instances[id]; inst.ImageID == r.ImageID && inst.State != "terminated" && contains(r.ResourceTypes, "ec2:Instance") {
			add("ec2:Instance", inst.OwnerID)
		}
	}
	for _, id := range sortedKeys(c.reg.LaunchTemplates) {
		lt := c.reg.LaunchTemplates[id]
		if contains(r.ResourceTypes, "ec2:LaunchTemplate") && templateUses(lt, r.ImageID, r.VersionDepth) {
			add("ec2:LaunchTemplate", lt.OwnerID)
		}
	}
	var out []UsageEntry
	for _, typ := range sortedKeys(counts) {
		for _, account := range sortedKeys(counts[typ]) {
			out = append(out, UsageEntry{typ, account, counts[typ][account]})
		}
	}
	return out
}

type usageTypeXML struct {
	ResourceType string `xml:"resourceType"`
}

type usageReportXML struct {
	ImageID        string         `xml:"imageId"`
	ReportID       string         `xml:"reportId"`
	ResourceTypes  []usageTypeXML `xml:"resourceTypeSet>item"`
	AccountIDs     []string       `xml:"accountIdSet>item"`
	State          string         `xml:"state"`
	CreationTime   string         `xml:"creationTime"`
	ExpirationTime string         `xml:"expirationTime"`
	TagSet         []tagXML       `xml:"tagSet>item"`
}

type usageReportsResp struct {
	base
	Reports   set[usageReportXML] `xml:"imageUsageReportSet"`
	NextToken string              `xml:"nextToken,omitempty"`
}

// selectReports applies ImageId.N and ReportId.N to the caller's unexpired reports.
func (c *call) selectReports() ([]*UsageReport, error) {
	images, ids := c.list("ImageId"), c.list("ReportId")
	for _, id := range ids {
		if r := c.reg.UsageReports[id]; r == nil || r.OwnerID != c.account || c.expired(r) {
			return nil, errf(400, "InvalidImageUsageReportId.NotFound", "The image usage report '%s' does not exist", id)
		}
	}
	var out []*UsageReport
	for _, id := range sortedKeys(c.reg.UsageReports) {
		r := c.reg.UsageReports[id]
		if r.OwnerID == c.account && !c.expired(r) && (len(images) == 0 || contains(images, r.ImageID)) && (len(ids) == 0 || contains(ids, id)) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (c *call) expired(r *UsageReport) bool {
	return !c.now.Before(r.CreationTime.Add(usageReportLifetime))
}

func describeImageUsageReports(c *call) (response, error) {
	reports, err := c.selectReports()
	if err != nil {
		return nil, err
	}
	fs := c.filters()
	var found []usageReportXML
	for _, r := range reports {
		x := usageReportXML{ImageID: r.ImageID, ReportID: r.ID, AccountIDs: r.AccountIDs, State: c.reportState(r),
			CreationTime: fmtTime(r.CreationTime), ExpirationTime: fmtTime(r.CreationTime.Add(usageReportLifetime)), TagSet: c.tagsXML(r.ID)}
		for _, t := range r.ResourceTypes {
			x.ResourceTypes = append(x.ResourceTypes, usageTypeXML{t})
		}
		keep, err := c.matches(fs, r.ID, func(name string) ([]string, bool) {
			switch name {
			case "state":
				return vals(x.State), true
			case "creation-time":
				return vals(x.CreationTime), true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if keep {
			found = append(found, x)
		}
	}
	start, end, next, err := c.page(len(found), 1, 1000)
	if err != nil {
		return nil, err
	}
	return &usageReportsResp{Reports: set[usageReportXML]{found[start:end]}, NextToken: next}, nil
}

type usageEntryXML struct {
	ResourceType       string `xml:"resourceType"`
	ReportID           string `xml:"reportId"`
	UsageCount         int64  `xml:"usageCount"`
	AccountID          string `xml:"accountId"`
	ImageID            string `xml:"imageId"`
	ReportCreationTime string `xml:"reportCreationTime"`
}

type usageEntriesResp struct {
	base
	Entries   set[usageEntryXML] `xml:"imageUsageReportEntrySet"`
	NextToken string             `xml:"nextToken,omitempty"`
}

// describeImageUsageReportEntries lists the entries of available reports only.
func describeImageUsageReportEntries(c *call) (response, error) {
	reports, err := c.selectReports()
	if err != nil {
		return nil, err
	}
	fs := c.filters()
	var found []usageEntryXML
	for _, r := range reports {
		if c.reportState(r) != "available" {
			continue
		}
		for _, e := range r.Entries {
			x := usageEntryXML{e.ResourceType, r.ID, e.Count, e.AccountID, r.ImageID, fmtTime(r.CreationTime)}
			keep, err := c.matches(fs, "", func(name string) ([]string, bool) {
				switch name {
				case "account-id":
					return vals(x.AccountID), true
				case "resource-type":
					return vals(x.ResourceType), true
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if keep {
				found = append(found, x)
			}
		}
	}
	start, end, next, err := c.page(len(found), 1, 1000)
	if err != nil {
		return nil, err
	}
	return &usageEntriesResp{Entries: set[usageEntryXML]{found[start:end]}, NextToken: next}, nil
}
