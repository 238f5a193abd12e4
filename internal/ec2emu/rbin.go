package ec2emu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Recycle Bin: retention rules (service rbin, REST-JSON) decide whether a deregistered
// AMI or a deleted snapshot goes to the bin, where EC2's List*InRecycleBin and
// Restore*FromRecycleBin find it until its retention ends.

// RetentionRule is an rbin rule. Without ResourceTags it is a Region-level rule that
// matches every resource of its type except those with ExcludeResourceTags.
type RetentionRule struct {
	ID           string            `json:"id"`
	OwnerID      string            `json:"ownerId"`
	ResourceType string            `json:"resourceType"` // EC2_IMAGE or EBS_SNAPSHOT
	RetainDays   int               `json:"retainDays"`
	Description  string            `json:"description,omitempty"`
	ResourceTags []RuleTag         `json:"resourceTags,omitempty"`
	ExcludeTags  []RuleTag         `json:"excludeTags,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
}

// RuleTag matches a resource tag; an empty Value matches any value.
type RuleTag struct {
	Key   string `json:"ResourceTagKey"`
	Value string `json:"ResourceTagValue,omitempty"`
}

func rbinService() *service {
	return &service{
		name: "rbin",
		handlers: map[string]handler{
			"CreateRule": createRule,
			"ListRules":  listRules,
			"GetRule":    getRule,
			"DeleteRule": deleteRule,
		},
		respond: writeRestJSON,
		fail:    writeRestJSONError,
		denied: func(c *call) error {
			return errf(http.StatusForbidden, "AccessDeniedException", "User: arn:aws:iam::%s:user/ec2emu is not authorized to perform: rbin:%s with an explicit deny", c.account, c.action)
		},
	}
}

// rbinRoute maps a REST request to an rbin operation and its {Identifier}.
func rbinRoute(r *http.Request) (action, id string) {
	p := r.URL.Path
	switch {
	case p == "/rules" && r.Method == http.MethodPost:
		return "CreateRule", ""
	case p == "/list-rules" && r.Method == http.MethodPost:
		return "ListRules", ""
	case strings.HasPrefix(p, "/rules/") && r.Method == http.MethodGet:
		return "GetRule", strings.TrimPrefix(p, "/rules/")
	case strings.HasPrefix(p, "/rules/") && r.Method == http.MethodDelete:
		return "DeleteRule", strings.TrimPrefix(p, "/rules/")
	}
	return "", ""
}

func isRbin(r *http.Request) bool {
	return r.URL.Path == "/rules" || r.URL.Path == "/list-rules" || strings.HasPrefix(r.URL.Path, "/rules/")
}

func (s *Server) serveRbin(w http.ResponseWriter, r *http.Request, reqID string) {
	action, id := rbinRoute(r)
	if action == "" {
		writeRestJSONError(w, reqID, errf(404, "ValidationException", "ec2emu does not serve %s %s", r.Method, r.URL.Path))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeRestJSONError(w, reqID, errf(400, "ValidationException", "%v", err))
		return
	}
	c := s.newCall(r, url.Values{"Identifier": {id}})
	c.svc, c.action, c.body = s.rbin, action, body
	resp, err := s.serve(c)
	if err != nil {
		writeRestJSONError(w, reqID, err)
		return
	}
	writeRestJSON(w, action, reqID, resp)
}

func writeRestJSON(w http.ResponseWriter, _, reqID string, body response) {
	out, _ := json.Marshal(body.(*jsonResp).v)
	w.Header().Set("Content-Type", "application/json")
	writeJSONBody(w, reqID, http.StatusOK, out)
}

func writeRestJSONError(w http.ResponseWriter, reqID string, err error) {
	ae := apiError(err)
	out, _ := json.Marshal(map[string]string{"message": ae.Message})
	w.Header().Set("X-Amzn-ErrorType", ae.Code)
	writeJSONBody(w, reqID, ae.Status, out)
}

type retentionJSON struct {
	RetentionPeriodValue int
	RetentionPeriodUnit  string
}

func (c *call) ruleARN(id string) string {
	return "arn:aws:rbin:" + c.region + ":" + c.account + ":rule/" + id
}

func (c *call) ruleJSON(r *RetentionRule) map[string]any {
	out := map[string]any{
		"Identifier": r.ID, "Description": r.Description, "ResourceType": r.ResourceType, "Status": "available",
		"RetentionPeriod": retentionJSON{r.RetainDays, "DAYS"}, "LockState": "unlocked", "RuleArn": c.ruleARN(r.ID),
	}
	if len(r.ResourceTags) > 0 {
		out["ResourceTags"] = r.ResourceTags
	}
	if len(r.ExcludeTags) > 0 {
		out["ExcludeResourceTags"] = r.ExcludeTags
	}
	return out
}

func createRule(c *call) (response, error) {
	var in struct {
		ResourceType, Description         string
		RetentionPeriod                   retentionJSON
		ResourceTags, ExcludeResourceTags []RuleTag
		Tags                              []struct{ Key, Value string }
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	// rbin API reference, RetentionPeriod: a number of DAYS, 1 to 3650.
	if in.ResourceType != "EC2_IMAGE" && in.ResourceType != "EBS_SNAPSHOT" {
		return nil, errf(400, "ValidationException", "ResourceType must be EC2_IMAGE or EBS_SNAPSHOT")
	}
	if in.RetentionPeriod.RetentionPeriodUnit != "DAYS" || in.RetentionPeriod.RetentionPeriodValue < 1 || in.RetentionPeriod.RetentionPeriodValue > 3650 {
		return nil, errf(400, "ValidationException", "RetentionPeriod must be 1 to 3650 DAYS")
	}
	if len(in.ResourceTags) > 0 && len(in.ExcludeResourceTags) > 0 {
		return nil, errf(400, "ValidationException", "ExcludeResourceTags can be used only with Region-level rules")
	}
	r := &RetentionRule{ID: strings.TrimPrefix(c.newID("rule"), "rule-"), OwnerID: c.account, ResourceType: in.ResourceType,
		RetainDays: in.RetentionPeriod.RetentionPeriodValue, Description: in.Description, ResourceTags: in.ResourceTags,
		ExcludeTags: in.ExcludeResourceTags, Tags: map[string]string{}}
	for _, t := range in.Tags {
		r.Tags[t.Key] = t.Value
	}
	c.reg.RetentionRules[r.ID] = r
	return &jsonResp{v: c.ruleJSON(r)}, nil
}

func listRules(c *call) (response, error) {
	var in struct {
		ResourceType string
		MaxResults   int
		NextToken    string
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.ResourceType == "" {
		return nil, errf(400, "ValidationException", "ResourceType is required")
	}
	var rules []map[string]any
	for _, id := range sortedKeys(c.reg.RetentionRules) {
		if r := c.reg.RetentionRules[id]; r.OwnerID == c.account && r.ResourceType == in.ResourceType {
			j := c.ruleJSON(r)
			rules = append(rules, map[string]any{"Identifier": j["Identifier"], "Description": j["Description"],
				"RetentionPeriod": j["RetentionPeriod"], "LockState": j["LockState"], "RuleArn": j["RuleArn"]})
		}
	}
	if in.MaxResults > 0 {
		c.form.Set("MaxResults", strconv.Itoa(in.MaxResults))
	}
	c.form.Set("NextToken", in.NextToken)
	start, end, next, err := c.pageBy("MaxResults", len(rules), 1, 100, 0) // ListRules API reference: 1-100
	if err != nil {
		return nil, errf(400, "ValidationException", "%s", apiError(err).Message)
	}
	out := map[string]any{"Rules": append([]map[string]any{}, rules[start:end]...)}
	if next != "" {
		out["NextToken"] = next
	}
	return &jsonResp{v: out}, nil
}

func (c *call) findRule() (*RetentionRule, error) {
	id := c.str("Identifier")
	if r := c.reg.RetentionRules[id]; r != nil && r.OwnerID == c.account {
		return r, nil
	}
	return nil, errf(404, "ResourceNotFoundException", "Rule %s does not exist", id)
}

func getRule(c *call) (response, error) {
	r, err := c.findRule()
	if err != nil {
		return nil, err
	}
	return &jsonResp{v: c.ruleJSON(r)}, nil
}

func deleteRule(c *call) (response, error) {
	r, err := c.findRule()
	if err != nil {
		return nil, err
	}
	delete(c.reg.RetentionRules, r.ID)
	return &jsonResp{v: map[string]any{}}, nil
}

// retention is how long a resource the caller deletes stays in the bin: the longest
// retention of the matching rules ("If a resource matches more than one retention rule,
// the rule with the longest retention period takes precedence", EC2 user guide,
// Recycle Bin), zero when none matches.
func (c *call) retention(resourceType, id string) time.Duration {
	tags := c.reg.Tags[id]
	has := func(ts []RuleTag) bool {
		for _, t := range ts {
			if v, ok := tags[t.Key]; ok && (t.Value == "" || t.Value == v) {
				return true
			}
		}
		return false
	}
	days := 0
	for _, r := range c.reg.RetentionRules {
		if r.OwnerID != c.account || r.ResourceType != resourceType {
			continue
		}
		if (len(r.ResourceTags) > 0 && has(r.ResourceTags)) || (len(r.ResourceTags) == 0 && !has(r.ExcludeTags)) {
			days = max(days, r.RetainDays)
		}
	}
	return time.Duration(days) * 24 * time.Hour
}

// inBin: the resource is in the Recycle Bin now.
func (c *call) inBin(until *time.Time) bool { return until != nil && c.now.Before(*until) }

// binUntil returns the end of retention, nil when no rule keeps the resource.
func (c *call) binUntil(resourceType, id string) *time.Time {
	d := c.retention(resourceType, id)
	if d == 0 {
		return nil
	}
	t := c.now.Add(d)
	return &t
}

type imageBinXML struct {
	ImageID             string `xml:"imageId"`
	Name                string `xml:"name"`
	Description         string `xml:"description,omitempty"`
	RecycleBinEnterTime string `xml:"recycleBinEnterTime"`
	RecycleBinExitTime  string `xml:"recycleBinExitTime"`
}

type imageBinResp struct {
	base
	Images    set[imageBinXML] `xml:"imageSet"`
	NextToken string           `xml:"nextToken,omitempty"`
}

func listImagesInRecycleBin(c *call) (response, error) {
	ids := c.list("ImageId")
	var found []imageBinXML
	for _, id := range sortedKeys(c.reg.Deregistered) {
		img := c.reg.Deregistered[id]
		if img.OwnerID == c.account && c.inBin(img.BinUntil) && (len(ids) == 0 || contains(ids, id)) {
			found = append(found, imageBinXML{id, img.Name, img.Description, fmtTime(*img.DeregisteredAt), fmtTime(*img.BinUntil)})
		}
	}
	start, end, next, err := c.page(len(found), 1, 1000)
	if err != nil {
		return nil, err
	}
	return &imageBinResp{Images: set[imageBinXML]{found[start:end]}, NextToken: next}, nil
}

// restoreImageFromRecycleBin needs the image's snapshots: those in the bin must be
// restored first, and one whose shorter retention ended makes the AMI unrecoverable.
func restoreImageFromRecycleBin(c *call) (response, error) {
	id := c.str("ImageId")
	img := c.reg.Deregistered[id]
	if img == nil || img.OwnerID != c.account || !c.inBin(img.BinUntil) {
		return nil, errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' is not in the Recycle Bin", id)
	}
	for _, b := range img.BlockDevices {
		if b.SnapshotID == "" || c.reg.Snapshots[b.SnapshotID] != nil {
			continue
		}
		if s := c.reg.BinSnapshots[b.SnapshotID]; s != nil && c.inBin(s.BinUntil) {
			return nil, errf(400, "IncorrectState", "Snapshot %s of image %s is in the Recycle Bin; restore it first", b.SnapshotID, id)
		}
		return nil, errf(400, "InvalidSnapshot.NotFound", "Snapshot %s of image %s no longer exists; the image cannot be restored", b.SnapshotID, id)
	}
	delete(c.reg.Deregistered, id)
	img.State, img.DeregisteredAt, img.BinUntil = "available", nil, nil
	c.reg.Images[id] = img
	return ok()
}

type snapshotBinXML struct {
	SnapshotID          string `xml:"snapshotId"`
	RecycleBinEnterTime string `xml:"recycleBinEnterTime"`
	RecycleBinExitTime  string `xml:"recycleBinExitTime"`
	Description         string `xml:"description,omitempty"`
	VolumeID            string `xml:"volumeId,omitempty"`
}

type snapshotBinResp struct {
	base
	Snapshots set[snapshotBinXML] `xml:"snapshotSet"`
	NextToken string              `xml:"nextToken,omitempty"`
}

func listSnapshotsInRecycleBin(c *call) (response, error) {
	ids := c.list("SnapshotId")
	var found []snapshotBinXML
	for _, id := range sortedKeys(c.reg.BinSnapshots) {
		s := c.reg.BinSnapshots[id]
		if s.OwnerID == c.account && c.inBin(s.BinUntil) && (len(ids) == 0 || contains(ids, id)) {
			found = append(found, snapshotBinXML{id, fmtTime(*s.BinEnter), fmtTime(*s.BinUntil), s.Description, s.VolumeID})
		}
	}
	start, end, next, err := c.page(len(found), 5, 1000)
	if err != nil {
		return nil, err
	}
	return &snapshotBinResp{Snapshots: set[snapshotBinXML]{found[start:end]}, NextToken: next}, nil
}

type restoreSnapshotResp struct {
	base
	SnapshotID  string `xml:"snapshotId"`
	Description string `xml:"description,omitempty"`
	Encrypted   bool   `xml:"encrypted"`
	OwnerID     string `xml:"ownerId"`
	Progress    string `xml:"progress"`
	StartTime   string `xml:"startTime"`
	Status      string `xml:"status"`
	VolumeID    string `xml:"volumeId,omitempty"`
	VolumeSize  int    `xml:"volumeSize"`
}

func restoreSnapshotFromRecycleBin(c *call) (response, error) {
	id := c.str("SnapshotId")
	s := c.reg.BinSnapshots[id]
	if s == nil || s.OwnerID != c.account || !c.inBin(s.BinUntil) {
		return nil, errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' is not in the Recycle Bin", id)
	}
	delete(c.reg.BinSnapshots, id)
	s.BinEnter, s.BinUntil = nil, nil
	c.reg.Snapshots[id] = s
	return &restoreSnapshotResp{SnapshotID: id, Description: s.Description, OwnerID: s.OwnerID, Progress: "100%",
		StartTime: fmtTime(s.StartTime), Status: s.State, VolumeID: s.VolumeID, VolumeSize: s.VolumeSize}, nil
}

// removeSnapshot deletes a snapshot, into the Recycle Bin when a rule retains it.
func (c *call) removeSnapshot(s *Snapshot) {
	delete(c.reg.Snapshots, s.ID)
	if until := c.binUntil("EBS_SNAPSHOT", s.ID); until != nil {
		now := c.now
		s.BinEnter, s.BinUntil = &now, until
		c.reg.BinSnapshots[s.ID] = s
		return
	}
	delete(c.reg.Tags, s.ID)
}
