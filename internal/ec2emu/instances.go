package ec2emu

import (
	"fmt"
	"strconv"
)

var stateCodes = map[string]int{
	"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80,
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

func stateOf(name string) stateXML { return stateXML{stateCodes[name], name} }

type groupXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type instEbsXML struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type instBdmXML struct {
	DeviceName string     `xml:"deviceName"`
	Ebs        instEbsXML `xml:"ebs"`
}

type placementXML struct {
	AvailabilityZone string `xml:"availabilityZone"`
	Tenancy          string `xml:"tenancy"`
}

type instanceXML struct {
	InstanceID         string       `xml:"instanceId"`
	ImageID            string       `xml:"imageId"`
	InstanceState      stateXML     `xml:"instanceState"`
	PrivateDNSName     string       `xml:"privateDnsName"`
	DNSName            string       `xml:"dnsName"`
	KeyName            string       `xml:"keyName,omitempty"`
	AmiLaunchIndex     int          `xml:"amiLaunchIndex"`
	InstanceType       string       `xml:"instanceType"`
	LaunchTime         string       `xml:"launchTime"`
	Placement          placementXML `xml:"placement"`
	SubnetID           string       `xml:"subnetId,omitempty"`
	VpcID              string       `xml:"vpcId,omitempty"`
	PrivateIPAddress   string       `xml:"privateIpAddress,omitempty"`
	GroupSet           []groupXML   `xml:"groupSet>item"`
	Architecture       string       `xml:"architecture"`
	RootDeviceType     string       `xml:"rootDeviceType"`
	RootDeviceName     string       `xml:"rootDeviceName"`
	BlockDeviceMapping []instBdmXML `xml:"blockDeviceMapping>item"`
	VirtualizationType string       `xml:"virtualizationType"`
	ClientToken        string       `xml:"clientToken,omitempty"`
	TagSet             []tagXML     `xml:"tagSet>item"`
	Hypervisor         string       `xml:"hypervisor"`
	EbsOptimized       bool         `xml:"ebsOptimized"`
	EnaSupport         bool         `xml:"enaSupport"`
}

type reservationXML struct {
	ReservationID string           `xml:"reservationId"`
	OwnerID       string           `xml:"ownerId"`
	GroupSet      set[groupXML]    `xml:"groupSet"`
	Instances     set[instanceXML] `xml:"instancesSet"`
}

type runInstancesResp struct {
	base
	reservationXML
}

type describeInstancesResp struct {
	base
	Reservations set[reservationXML] `xml:"reservationSet"`
	NextToken    string              `xml:"nextToken,omitempty"`
}

func (c *call) findInstance(id string) (*Instance, error) {
	if id == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	if !validID(id, "i") {
		return nil, errf(400, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
	}
	inst := c.reg.Instances[id]
	if inst == nil || inst.OwnerID != c.account {
		return nil, errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	return inst, nil
}

func (c *call) instanceXML(inst *Instance) instanceXML {
	x := instanceXML{
		InstanceID: inst.ID, ImageID: inst.ImageID, InstanceState: stateOf(inst.State),
		PrivateDNSName: "ip-" + inst.PrivateIP + ".ec2.internal", KeyName: inst.KeyName,
		InstanceType: inst.InstanceType, LaunchTime: fmtTime(inst.LaunchTime),
		Placement: placementXML{inst.AZ, "default"}, SubnetID: inst.SubnetID, VpcID: inst.VpcID,
		PrivateIPAddress: inst.PrivateIP, Architecture: "x86_64", RootDeviceType: "ebs",
		RootDeviceName: inst.RootDeviceName, VirtualizationType: "hvm", ClientToken: inst.ClientToken,
		TagSet: c.tagsXML(inst.ID), Hypervisor: "xen", EnaSupport: true,
	}
	for _, g := range inst.Groups {
		name := ""
		if sg := c.reg.SecurityGroups[g]; sg != nil {
			name = sg.Name
		}
		x.GroupSet = append(x.GroupSet, groupXML{g, name})
	}
	for _, v := range inst.Volumes {
		b := instBdmXML{DeviceName: v.DeviceName, Ebs: instEbsXML{VolumeID: v.VolumeID, Status: "attached", AttachTime: fmtTime(inst.LaunchTime)}}
		if vol := c.reg.Volumes[v.VolumeID]; vol != nil {
			b.Ebs.DeleteOnTermination = vol.DeleteOnTermination
		}
		x.BlockDeviceMapping = append(x.BlockDeviceMapping, b)
	}
	return x
}

func (c *call) reservation(id string, insts []*Instance) reservationXML {
	r := reservationXML{ReservationID: id, OwnerID: c.account}
	for _, inst := range insts {
		r.Instances.Items = append(r.Instances.Items, c.instanceXML(inst))
	}
	return r
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

func describeInstances(c *call) (response, error) {
	ids, fs := c.list("InstanceId"), c.filters()
	if len(ids) > 0 && c.str("MaxResults") != "" {
		return nil, errf(400, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	candidates, err := c.instanceCandidates(ids)
	if err != nil {
		return nil, err
	}
	var found []*Instance
	for _, inst := range candidates {
		keep, err := c.matches(fs, inst.ID, func(name string) ([]string, bool) { return instanceField(inst, name) })
		if err != nil {
			return nil, err
		}
		if keep {
			found = append(found, inst)
		}
	}
	start, end, next, err := c.page(len(found), 5, 1000)
	if err != nil {
		return nil, err
	}
	return &describeInstancesResp{Reservations: set[reservationXML]{c.groupReservations(found[start:end])}, NextToken: next}, nil
}

func (c *call) instanceCandidates(ids []string) ([]*Instance, error) {
	var out []*Instance
	for _, id := range ids {
		inst, err := c.findInstance(id)
		if err != nil {
			return nil, err
		}
		out = append(out, inst)
	}
	if len(ids) > 0 {
		return out, nil
	}
	for _, id := range sortedKeys(c.reg.Instances) {
		if inst := c.reg.Instances[id]; inst.OwnerID == c.account {
			out = append(out, inst)
		}
	}
	return out, nil
}

// groupReservations keeps instances of one reservation together, in first-seen order.
func (c *call) groupReservations(insts []*Instance) []reservationXML {
	var order []string
	by := map[string][]*Instance{}
	for _, inst := range insts {
		if _, seen := by[inst.ReservationID]; !seen {
			order = append(order, inst.ReservationID)
		}
		by[inst.ReservationID] = append(by[inst.ReservationID], inst)
	}
	var out []reservationXML
	for _, id := range order {
		out = append(out, c.reservation(id, by[id]))
	}
	return out
}

func instanceField(inst *Instance, name string) ([]string, bool) {
	switch name {
	case "image-id":
		return vals(inst.ImageID), true
	case "instance-id":
		return vals(inst.ID), true
	case "instance-state-name":
		return vals(inst.State), true
	case "instance-state-code":
		return vals(strconv.Itoa(stateCodes[inst.State])), true
	case "instance-type":
		return vals(inst.InstanceType), true
	case "key-name":
		return vals(inst.KeyName), true
	case "reservation-id":
		return vals(inst.ReservationID), true
	case "availability-zone":
		return vals(inst.AZ), true
	case "owner-id":
		return vals(inst.OwnerID), true
	case "subnet-id":
		return vals(inst.SubnetID), true
	case "vpc-id":
		return vals(inst.VpcID), true
	}
	return nil, false
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
