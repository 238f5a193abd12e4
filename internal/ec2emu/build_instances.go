package ec2emu

// Build-only (see buildOps): RunInstances, Stop/Start/TerminateInstances and CreateImage
// from a stopped instance exist to carry an amazon-ebs build.

import (
	"fmt"
)

type runInstancesResp struct {
	base
	reservationXML
}

type launchSpec struct {
	imageID, instanceType, keyName string
	groups                         []string
	count                          int
}

func (c *call) readLaunchSpec() (launchSpec, error) {
	sp := launchSpec{imageID: c.str("ImageId"), instanceType: c.str("InstanceType"), keyName: c.str("KeyName")}
	if err := c.fromLaunchTemplate(&sp); err != nil {
		return sp, err
	}
	if sp.imageID == "" {
		return sp, errf(400, "MissingParameter", "The request must contain the parameter ImageId")
	}
	if sp.instanceType == "" {
		sp.instanceType = "m1.small"
	}
	minCount, err := c.integer("MinCount", 1)
	if err != nil {
		return sp, err
	}
	if sp.count, err = c.integer("MaxCount", minCount); err != nil {
		return sp, err
	}
	if minCount < 1 || sp.count < minCount {
		return sp, badParam("MinCount must be >= 1 and MaxCount >= MinCount")
	}
	sp.groups = c.list("SecurityGroupId")
	return sp, nil
}

// fromLaunchTemplate fills unset launch parameters from LaunchTemplate.* if given.
func (c *call) fromLaunchTemplate(sp *launchSpec) error {
	id, name := c.str("LaunchTemplate.LaunchTemplateId"), c.str("LaunchTemplate.LaunchTemplateName")
	if id == "" && name == "" {
		return nil
	}
	lt, err := c.findTemplate(id, name)
	if err != nil {
		return err
	}
	v, err := lt.version(c.str("LaunchTemplate.Version"))
	if err != nil {
		return err
	}
	if sp.imageID == "" {
		sp.imageID = v.ImageID
	}
	if sp.instanceType == "" {
		sp.instanceType = v.InstanceType
	}
	if sp.keyName == "" {
		sp.keyName = v.KeyName
	}
	return nil
}

func (c *call) checkLaunchable(sp launchSpec) (*Image, error) {
	img, err := c.findImage(sp.imageID)
	if err != nil {
		return nil, err
	}
	if img.State != "available" {
		return nil, errf(400, "InvalidAMIID.Unavailable", "Image %s is %s and cannot be launched", img.ID, img.State)
	}
	// EC2's answer for an image the caller may not use; that Allowed AMIs
	// gives the same is an assumption (the API reference names no error).
	if allowed, enforced, _ := c.imageAllowed(img); enforced && !allowed {
		return nil, errf(400, "AuthFailure", "Not authorized for images: [%s]", img.ID)
	}
	if sp.keyName != "" && c.findKeyPair(sp.keyName) == nil {
		return nil, errf(400, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist", sp.keyName)
	}
	for _, g := range sp.groups {
		if c.reg.SecurityGroups[g] == nil {
			return nil, errf(400, "InvalidGroup.NotFound", "The security group '%s' does not exist", g)
		}
	}
	return img, nil
}

// runInstances starts instances that are running at once, with one attached volume per
// image block device (Packer's cleanup reads deviceName and ebs/volumeId).
func runInstances(c *call) (response, error) {
	sp, err := c.readLaunchSpec()
	if err != nil {
		return nil, err
	}
	img, err := c.checkLaunchable(sp)
	if err != nil {
		return nil, err
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	resID := c.newID("r")
	var insts []*Instance
	for i := 0; i < sp.count; i++ {
		inst := c.launch(img, sp, resID, specs)
		insts = append(insts, inst)
	}
	c.recordLaunch(img)
	return &runInstancesResp{reservationXML: c.reservation(resID, insts)}, nil
}

func (c *call) launch(img *Image, sp launchSpec, resID string, specs map[string][]Tag) *Instance {
	inst := &Instance{
		ID: c.newID("i"), ReservationID: resID, OwnerID: c.account, ImageID: img.ID,
		InstanceType: sp.instanceType, KeyName: sp.keyName, State: "running", LaunchTime: c.now,
		AZ: c.str("Placement.AvailabilityZone"), SubnetID: c.str("SubnetId"), Groups: sp.groups,
		ClientToken: c.str("ClientToken"), RootDeviceName: img.RootDeviceName,
	}
	if inst.AZ == "" {
		inst.AZ = c.region + "a"
	}
	if inst.SubnetID == "" {
		inst.SubnetID, inst.VpcID = "subnet-00000000000000001", "vpc-00000000000000001"
	}
	inst.PrivateIP = fmt.Sprintf("10.0.%d.%d", (c.s.st.Seq/250)%250, c.s.st.Seq%250+1)
	bdms := img.BlockDevices
	if len(bdms) == 0 {
		bdms = []BlockDevice{{DeviceName: "/dev/xvda", VolumeSize: 8, VolumeType: "gp3", DeleteOnTermination: true}}
	}
	if inst.RootDeviceName == "" {
		inst.RootDeviceName = bdms[0].DeviceName
	}
	for _, b := range bdms {
		vol := c.newVolume(b, inst)
		c.applyTags(vol.ID, specs["volume"])
		inst.Volumes = append(inst.Volumes, InstanceVolume{b.DeviceName, vol.ID})
	}
	c.reg.Instances[inst.ID] = inst
	c.applyTags(inst.ID, specs["instance"])
	return inst
}

func (c *call) newVolume(b BlockDevice, inst *Instance) *Volume {
	vol := &Volume{
		ID: c.newID("vol"), OwnerID: c.account, Size: b.VolumeSize, SnapshotID: b.SnapshotID,
		AZ: inst.AZ, State: "in-use", VolumeType: b.VolumeType, InstanceID: inst.ID,
		Device: b.DeviceName, DeleteOnTermination: b.DeleteOnTermination, CreateTime: c.now,
	}
	if vol.Size == 0 {
		vol.Size = 8
	}
	if vol.VolumeType == "" {
		vol.VolumeType = "gp3"
	}
	c.reg.Volumes[vol.ID] = vol
	return vol
}

type stateChangeXML struct {
	InstanceID    string   `xml:"instanceId"`
	CurrentState  stateXML `xml:"currentState"`
	PreviousState stateXML `xml:"previousState"`
}

type stateChangesResp struct {
	base
	Instances set[stateChangeXML] `xml:"instancesSet"`
}

// transition moves InstanceId.N to state; from lists the states it may leave.
func (c *call) transition(to string, from ...string) (response, error) {
	ids := c.list("InstanceId")
	if len(ids) == 0 {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	var insts []*Instance
	for _, id := range ids {
		inst, err := c.findInstance(id)
		if err != nil {
			return nil, err
		}
		if inst.State != to && !contains(from, inst.State) {
			return nil, errf(400, "IncorrectInstanceState", "The instance '%s' is not in a state from which it can be %s.", id, to)
		}
		insts = append(insts, inst)
	}
	resp := &stateChangesResp{}
	for _, inst := range insts {
		prev := inst.State
		inst.State = to
		resp.Instances.Items = append(resp.Instances.Items, stateChangeXML{inst.ID, stateOf(to), stateOf(prev)})
	}
	return resp, nil
}

func stopInstances(c *call) (response, error) {
	return c.transition("stopped", "running", "pending", "stopping")
}

func startInstances(c *call) (response, error) {
	return c.transition("running", "stopped", "pending")
}

// terminateInstances deletes volumes marked DeleteOnTermination and detaches the others.
func terminateInstances(c *call) (response, error) {
	resp, err := c.transition("terminated", "running", "pending", "stopped", "stopping", "shutting-down")
	if err != nil {
		return nil, err
	}
	for _, id := range c.list("InstanceId") {
		for _, v := range c.reg.Instances[id].Volumes {
			vol := c.reg.Volumes[v.VolumeID]
			switch {
			case vol == nil:
			case vol.DeleteOnTermination:
				delete(c.reg.Volumes, vol.ID)
				delete(c.reg.Tags, vol.ID)
			default:
				vol.State, vol.InstanceID, vol.Device = "available", "", ""
			}
		}
	}
	return resp, nil
}

// createImage snapshots every volume of the instance; the image is available at once
// because the SDK's image waiter would otherwise wait at least 15 s.
func createImage(c *call) (response, error) {
	inst, err := c.findInstance(c.str("InstanceId"))
	if err != nil {
		return nil, err
	}
	if inst.State == "terminated" || inst.State == "shutting-down" {
		return nil, errf(400, "IncorrectInstanceState", "The instance '%s' is not in a state from which it can be imaged.", inst.ID)
	}
	name := c.str("Name")
	if err := c.checkNewImageName(name); err != nil {
		return nil, err
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	img := c.imageFromInstance(inst, name)
	for _, v := range inst.Volumes {
		vol := c.reg.Volumes[v.VolumeID]
		snap := c.newSnapshot(vol, "Created by CreateImage("+inst.ID+") for "+img.ID)
		c.applyTags(snap.ID, specs["snapshot"])
		img.BlockDevices = append(img.BlockDevices, BlockDevice{
			DeviceName: v.DeviceName, SnapshotID: snap.ID, VolumeSize: snap.VolumeSize,
			VolumeType: "gp3", DeleteOnTermination: true,
		})
	}
	c.reg.Images[img.ID] = img
	c.applyTags(img.ID, specs["image"])
	return &imageIDResp{ImageID: img.ID}, nil
}

func (c *call) imageFromInstance(inst *Instance, name string) *Image {
	img := &Image{
		ID: c.newID("ami"), Name: name, Description: c.str("Description"), OwnerID: c.account,
		CreationDate: c.now, Architecture: "x86_64", VirtualizationType: "hvm",
		RootDeviceType: "ebs", RootDeviceName: inst.RootDeviceName, SourceInstanceID: inst.ID,
		SourceImageID: inst.ImageID, SourceRegion: c.region, // the instance's AMI is the source
	}
	if src := c.reg.Images[inst.ImageID]; src != nil {
		img.Architecture, img.VirtualizationType, img.Platform = src.Architecture, src.VirtualizationType, src.Platform
	}
	img.State, img.PendingLooks = c.newImageState()
	return img
}
