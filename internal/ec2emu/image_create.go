package ec2emu

import (
	"regexp"
)

// amiNameRE: 3-128 characters of letters, digits and ()[] ./-'@_ (EC2's rule).
var amiNameRE = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$`)

type imageIDResp struct {
	base
	ImageID string `xml:"imageId"`
}

func (c *call) checkNewImageName(name string) error {
	if name == "" {
		return errf(400, "MissingParameter", "The request must contain the parameter Name")
	}
	if !amiNameRE.MatchString(name) {
		return errf(400, "InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'")
	}
	for _, img := range c.reg.Images {
		if img.OwnerID == c.account && img.Name == name {
			return errf(400, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", name, img.ID)
		}
	}
	return nil
}

// newImageState is pending only when WithPendingLooks asks for it.
func (c *call) newImageState() (string, int) {
	if c.s.pendingLooks > 0 {
		return "pending", c.s.pendingLooks
	}
	return "available", 0
}

func (c *call) newSnapshot(vol *Volume, desc string) *Snapshot {
	snap := &Snapshot{ID: c.newID("snap"), OwnerID: c.account, VolumeSize: 8, Description: desc,
		State: "completed", StartTime: c.now}
	if vol != nil {
		snap.VolumeID, snap.VolumeSize = vol.ID, vol.Size
	}
	c.reg.Snapshots[snap.ID] = snap
	return snap
}

// copyImage copies an image (and its snapshots) from SourceRegion into the request's
// region; tags follow only with CopyImageTags=true.
func copyImage(c *call) (response, error) {
	srcRegionName, err := c.required("SourceRegion")
	if err != nil {
		return nil, err
	}
	srcID, err := c.required("SourceImageId")
	if err != nil {
		return nil, err
	}
	srcRegion := c.s.st.region(srcRegionName)
	src, err := c.inRegion(srcRegion).findImage(srcID)
	if err != nil {
		return nil, err
	}
	if src.State != "available" {
		return nil, errf(400, "IncorrectState", "Image %s is in state %s and cannot be copied", src.ID, src.State)
	}
	if err := c.checkNewImageName(c.str("Name")); err != nil {
		return nil, err
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	copyTags, err := c.boolean("CopyImageTags")
	if err != nil {
		return nil, err
	}
	img := c.copyOf(src, srcRegionName)
	if copyTags { // the caller's own tags on the source (tags are per account)
		for k, v := range c.inRegion(srcRegion).tagsOf(src.ID) {
			c.applyTags(img.ID, []Tag{{k, v}})
		}
	}
	c.applyTags(img.ID, specs["image"])
	return &imageIDResp{ImageID: img.ID}, nil
}

func (c *call) copyOf(src *Image, srcRegion string) *Image {
	img := *src
	img.ID, img.Name, img.OwnerID, img.OwnerAlias = c.newID("ami"), c.str("Name"), c.account, ""
	img.Description = c.str("Description")
	img.CreationDate, img.Public, img.LaunchUsers, img.DeprecationTime = c.now, false, nil, nil
	img.Protected, img.ProtectCooldown, img.ProtectedUntil, img.LastLaunched, img.Launches = false, false, nil, nil, nil
	img.SourceImageID, img.SourceRegion, img.SourceInstanceID = src.ID, srcRegion, ""
	img.State, img.PendingLooks = c.newImageState()
	img.BlockDevices = nil
	for _, b := range src.BlockDevices {
		snap := c.newSnapshot(nil, "Copied for DestinationAmi "+img.ID+" from SourceAmi "+src.ID)
		snap.VolumeSize = b.VolumeSize
		b.SnapshotID = snap.ID
		img.BlockDevices = append(img.BlockDevices, b)
	}
	c.reg.Images[img.ID] = &img
	return &img
}

// inRegion returns a copy of the call that looks at another region (CopyImage source).
func (c *call) inRegion(r *Region) *call {
	cp := *c
	cp.reg = r
	return &cp
}

// registerImage makes an image of existing snapshots (BlockDeviceMapping.N.Ebs.*).
func registerImage(c *call) (response, error) {
	name := c.str("Name")
	if err := c.checkNewImageName(name); err != nil {
		return nil, err
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	img := &Image{ID: c.newID("ami"), Name: name, Description: c.str("Description"), OwnerID: c.account,
		CreationDate: c.now, Architecture: c.str("Architecture"), VirtualizationType: c.str("VirtualizationType"),
		RootDeviceType: "ebs", RootDeviceName: c.str("RootDeviceName")}
	if img.Architecture == "" {
		img.Architecture = "x86_64"
	}
	if img.VirtualizationType == "" {
		img.VirtualizationType = "paravirtual" // RegisterImage API reference: "Default: paravirtual"
	}
	for _, n := range c.indexes("BlockDeviceMapping") {
		b := BlockDevice{DeviceName: c.str(key("BlockDeviceMapping", n, "DeviceName")), VolumeType: c.str(key("BlockDeviceMapping", n, "Ebs.VolumeType")),
			SnapshotID: c.str(key("BlockDeviceMapping", n, "Ebs.SnapshotId")), DeleteOnTermination: true}
		if v := c.str(key("BlockDeviceMapping", n, "Ebs.DeleteOnTermination")); v != "" {
			b.DeleteOnTermination = v == "true"
		}
		if b.SnapshotID != "" {
			snap, err := c.findSnapshot(b.SnapshotID)
			if err != nil {
				return nil, err
			}
			b.VolumeSize = snap.VolumeSize
		}
		size, err := c.integer(key("BlockDeviceMapping", n, "Ebs.VolumeSize"), b.VolumeSize)
		if err != nil {
			return nil, err
		}
		b.VolumeSize = size
		if b.VolumeType == "" {
			b.VolumeType = "gp2"
		}
		img.BlockDevices = append(img.BlockDevices, b)
	}
	if img.RootDeviceName == "" || !c.hasDevice(img, img.RootDeviceName) {
		return nil, badParam("The root device name %q must be one of the block device mappings with an EBS snapshot", img.RootDeviceName)
	}
	img.State, img.PendingLooks = c.newImageState()
	c.reg.Images[img.ID] = img
	c.applyTags(img.ID, specs["image"])
	return &imageIDResp{ImageID: img.ID}, nil
}

func (c *call) hasDevice(img *Image, name string) bool {
	for _, b := range img.BlockDevices {
		if b.DeviceName == name && b.SnapshotID != "" {
			return true
		}
	}
	return false
}
