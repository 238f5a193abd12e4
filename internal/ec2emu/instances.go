package ec2emu

import (
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
