package ec2emu

import (
	"time"
)

// EnableImageDeprecation API reference: "The upper limit for DeprecateAt is 10 years
// from now, except for public AMIs, where the upper limit is 2 years from the creation
// date" (calendar years).
const (
	maxDeprecationYears       = 10
	maxPublicDeprecationYears = 2
	protectionCooldown        = 24 * time.Hour
)

// publicDeprecation is the latest deprecation time a public image may have.
func publicDeprecation(img *Image) time.Time {
	return img.CreationDate.AddDate(maxPublicDeprecationYears, 0, 0)
}

func parseTime(name, v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z", "2006-01-02T15:04Z", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badParam("Invalid value '%s' for %s: not a valid ISO 8601 timestamp", v, name)
}

type returnStrResp struct {
	base
	Return string `xml:"return"`
}

func enableImageDeprecation(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	raw, err := c.required("DeprecateAt")
	if err != nil {
		return nil, err
	}
	at, err := parseTime("DeprecateAt", raw)
	if err != nil {
		return nil, err
	}
	// "If you specify a value for seconds, Amazon EC2 rounds the seconds to the nearest
	// minute" (EnableImageDeprecation API reference).
	at = at.Round(time.Minute)
	if !at.After(c.now) {
		return nil, badParam("The deprecation time %s must be in the future.", raw)
	}
	if at.After(c.now.AddDate(maxDeprecationYears, 0, 0)) {
		return nil, badParam("The deprecation time can't be more than 10 years in the future.")
	}
	if img.Public && at.After(publicDeprecation(img)) {
		return nil, badParam("For public AMIs the deprecation time can't be more than 2 years after the creation date.")
	}
	img.DeprecationTime = &at
	return ok()
}

// disableImageDeprecation: a public image keeps its deprecation time until it is made
// private ("To cancel the deprecation date, or move the deprecation to a later date, you
// must make the AMI private", EC2 user guide, "Deprecate an AMI").
func disableImageDeprecation(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	if img.Public {
		return nil, errf(400, "OperationNotPermitted", "The deprecation of public image %s can't be cancelled; make the image private first.", img.ID)
	}
	img.DeprecationTime = nil
	return ok()
}

// disableImage makes an image private and unlaunchable until EnableImage.
func disableImage(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	if img.State != "available" && img.State != "disabled" {
		return nil, errf(400, "IncorrectState", "Image %s is in state %s and cannot be disabled", img.ID, img.State)
	}
	img.State, img.Public, img.LaunchUsers = "disabled", false, nil
	return ok()
}

func enableImage(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	if img.State != "disabled" && img.State != "available" {
		return nil, errf(400, "IncorrectState", "Image %s is in state %s and cannot be enabled", img.ID, img.State)
	}
	img.State = "available"
	return ok()
}

func protectionString(img *Image, now time.Time) string {
	switch {
	case img.Protected && img.ProtectCooldown:
		return "enabled-with-cooldown"
	case img.Protected:
		return "enabled-without-cooldown"
	case img.ProtectedUntil != nil && now.Before(*img.ProtectedUntil):
		return "disabled-until " + img.ProtectedUntil.UTC().Format("2006-01-02T15:04:05Z")
	}
	return "disabled"
}

func protected(img *Image, now time.Time) bool {
	return img.Protected || (img.ProtectedUntil != nil && now.Before(*img.ProtectedUntil))
}

func enableProtection(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	cool, err := c.boolean("WithCooldown")
	if err != nil {
		return nil, err
	}
	img.Protected, img.ProtectCooldown, img.ProtectedUntil = true, cool, nil
	return &returnStrResp{Return: protectionString(img, c.now)}, nil
}

// disableProtection keeps a cooldown-protected image protected for 24 h more.
func disableProtection(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	if img.Protected && img.ProtectCooldown {
		until := c.now.Add(protectionCooldown)
		img.ProtectedUntil = &until
	}
	img.Protected, img.ProtectCooldown = false, false
	return &returnStrResp{Return: protectionString(img, c.now)}, nil
}

type deleteSnapResult struct {
	SnapshotID string `xml:"snapshotId"`
	ReturnCode string `xml:"returnCode"`
}

type deregisterResp struct {
	base
	Return  bool               `xml:"return"`
	Results []deleteSnapResult `xml:"deleteSnapshotResultSet>item"`
}

func deregisterImage(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	if protected(img, c.now) {
		return nil, errf(400, "OperationNotPermitted", "Image %s has deregistration protection enabled (%s); disable it first.", img.ID, protectionString(img, c.now))
	}
	withSnaps, err := c.boolean("DeleteAssociatedSnapshots")
	if err != nil {
		return nil, err
	}
	delete(c.reg.Images, img.ID)
	now := c.now
	img.State, img.DeregisteredAt, img.BinUntil = "deregistered", &now, c.binUntil("EC2_IMAGE", img.ID)
	c.reg.Deregistered[img.ID] = img
	resp := &deregisterResp{Return: true}
	if withSnaps {
		for _, b := range img.BlockDevices {
			if b.SnapshotID != "" {
				resp.Results = append(resp.Results, deleteSnapResult{b.SnapshotID, c.deleteImageSnapshot(b.SnapshotID)})
			}
		}
	}
	return resp, nil
}

// deleteImageSnapshot returns DeregisterImage's per-snapshot code; a snapshot another
// registered image still uses is skipped, not an error.
func (c *call) deleteImageSnapshot(id string) string {
	snap := c.reg.Snapshots[id]
	switch {
	case snap == nil:
		return "client-error"
	case snap.OwnerID != c.account:
		return "missing-permissions"
	case c.snapshotUser(id) != "":
		return "skipped"
	}
	c.removeSnapshot(c.reg.Snapshots[id])
	return "success"
}

// snapshotUser returns an image (any state but deregistered) that uses the snapshot.
func (c *call) snapshotUser(snapID string) string {
	for _, id := range sortedKeys(c.reg.Images) {
		for _, b := range c.reg.Images[id].BlockDevices {
			if b.SnapshotID == snapID {
				return id
			}
		}
	}
	return ""
}

type valueXML struct {
	Value string `xml:"value"`
}

type launchPermXML struct {
	Group  string `xml:"group,omitempty"`
	UserID string `xml:"userId,omitempty"`
}

type imageAttrResp struct {
	base
	ImageID                  string          `xml:"imageId"`
	Description              *valueXML       `xml:"description,omitempty"`
	LaunchPermission         []launchPermXML `xml:"launchPermission>item"`
	LastLaunchedTime         *valueXML       `xml:"lastLaunchedTime,omitempty"`
	DeregistrationProtection *valueXML       `xml:"deregistrationProtection,omitempty"`
}

func describeImageAttribute(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	resp := &imageAttrResp{ImageID: img.ID}
	switch attr := c.str("Attribute"); attr {
	case "description":
		resp.Description = &valueXML{img.Description}
	case "launchPermission":
		resp.LaunchPermission = launchPerms(img)
	case "lastLaunchedTime":
		resp.LastLaunchedTime = &valueXML{}
		if t := c.lastLaunched(img); t != nil {
			resp.LastLaunchedTime.Value = fmtTime(*t)
		}
	case "deregistrationProtection":
		resp.DeregistrationProtection = &valueXML{protectionString(img, c.now)}
	case "blockDeviceMapping":
		// "The blockDeviceMapping attribute is deprecated. Using this attribute returns
		// the Client.AuthFailure error" (DescribeImageAttribute API reference).
		return nil, errf(400, "AuthFailure", "Unauthorized attempt to access restricted resource")
	default:
		return nil, badParam("Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	return resp, nil
}

func launchPerms(img *Image) []launchPermXML {
	var out []launchPermXML
	if img.Public {
		out = append(out, launchPermXML{Group: "all"})
	}
	for _, u := range img.LaunchUsers {
		out = append(out, launchPermXML{UserID: u})
	}
	return out
}

// modifyImageAttribute supports descriptions and launch permissions in both the
// structured (LaunchPermission.Add.N.UserId) and legacy (Attribute/OperationType) forms.
func modifyImageAttribute(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	if _, ok := c.form["Description.Value"]; ok {
		img.Description = c.str("Description.Value")
	}
	if c.str("Attribute") == "description" {
		img.Description = c.str("Value")
	}
	adds, removes := c.launchPermissionChanges()
	if len(adds)+len(removes) > 0 && img.State == "disabled" {
		return nil, errf(400, "IncorrectState", "Image %s is disabled and cannot be shared", img.ID)
	}
	for _, p := range adds {
		applyPerm(img, p, true)
	}
	for _, p := range removes {
		applyPerm(img, p, false)
	}
	// "By default, the deprecation date of all public AMIs is set to two years from the
	// AMI creation date" (EC2 user guide, "Deprecate an AMI"); an earlier one stays.
	if limit := publicDeprecation(img); img.Public && (img.DeprecationTime == nil || img.DeprecationTime.After(limit)) {
		img.DeprecationTime = &limit
	}
	return &emptyResp{}, nil
}

func (c *call) launchPermissionChanges() (adds, removes []launchPermXML) {
	read := func(prefix string) []launchPermXML {
		var out []launchPermXML
		for _, n := range c.indexes(prefix) {
			out = append(out, launchPermXML{Group: c.str(key(prefix, n, "Group")), UserID: c.str(key(prefix, n, "UserId"))})
		}
		return out
	}
	adds, removes = read("LaunchPermission.Add"), read("LaunchPermission.Remove")
	if c.str("Attribute") == "launchPermission" {
		var legacy []launchPermXML
		for _, u := range c.list("UserId") {
			legacy = append(legacy, launchPermXML{UserID: u})
		}
		for _, g := range c.list("UserGroup") {
			legacy = append(legacy, launchPermXML{Group: g})
		}
		if c.str("OperationType") == "remove" {
			removes = append(removes, legacy...)
		} else {
			adds = append(adds, legacy...)
		}
	}
	return adds, removes
}

func applyPerm(img *Image, p launchPermXML, add bool) {
	if p.Group == "all" {
		img.Public = add
	}
	if p.UserID == "" {
		return
	}
	var users []string
	for _, u := range img.LaunchUsers {
		if u != p.UserID {
			users = append(users, u)
		}
	}
	if add {
		users = append(users, p.UserID)
	}
	img.LaunchUsers = users
}

// resetImageAttribute resets launch permissions, the only attribute it supports
// (ResetImageAttribute API reference): the image becomes private and unshared.
func resetImageAttribute(c *call) (response, error) {
	img, err := c.ownImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	if attr := c.str("Attribute"); attr != "launchPermission" {
		return nil, badParam("Value (%s) for parameter attribute is invalid. Only launchPermission can be reset.", attr)
	}
	img.Public, img.LaunchUsers = false, nil
	return &emptyResp{}, nil
}

// cancelImageLaunchPermission removes the caller from an image shared with it.
func cancelImageLaunchPermission(c *call) (response, error) {
	img, err := c.findImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	if !contains(img.LaunchUsers, c.account) {
		return nil, badParam("Image %s is not shared with account %s", img.ID, c.account)
	}
	applyPerm(img, launchPermXML{UserID: c.account}, false)
	return ok()
}
