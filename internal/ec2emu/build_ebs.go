package ec2emu

// Build-only (see buildOps): the key pair, security group and volumes of an amazon-ebs
// build.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
)

// keyMaterial returns one real RSA key, generated on first use because RSA-2048
// generation is slow; every CreateKeyPair hands out the same key.
func (s *Server) keyMaterial() (pemText, fingerprint string) {
	s.keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der := x509.MarshalPKCS1PrivateKey(k)
		s.keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}))
		pk8, _ := x509.MarshalPKCS8PrivateKey(k)
		sum := sha1.Sum(pk8)
		parts := make([]string, len(sum))
		for i, b := range sum {
			parts[i] = fmt.Sprintf("%02x", b)
		}
		s.keyFP = strings.Join(parts, ":")
	})
	return s.keyPEM, s.keyFP
}

type createKeyPairResp struct {
	base
	KeyName        string   `xml:"keyName"`
	KeyFingerprint string   `xml:"keyFingerprint"`
	KeyMaterial    string   `xml:"keyMaterial"`
	KeyPairID      string   `xml:"keyPairId"`
	TagSet         []tagXML `xml:"tagSet>item"`
}

func (c *call) findKeyPair(name string) *KeyPair {
	for _, k := range c.reg.KeyPairs {
		if k.Name == name && k.OwnerID == c.account {
			return k
		}
	}
	return nil
}

func createKeyPair(c *call) (response, error) {
	name, err := c.required("KeyName")
	if err != nil {
		return nil, err
	}
	if c.findKeyPair(name) != nil {
		return nil, errf(400, "InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name)
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	typ := c.str("KeyType")
	if typ == "" {
		typ = "rsa"
	}
	pemText, fp := c.s.keyMaterial()
	k := &KeyPair{ID: c.newID("key"), Name: name, OwnerID: c.account, Type: typ, Fingerprint: fp, CreateTime: c.now}
	c.reg.KeyPairs[k.ID] = k
	c.applyTags(k.ID, specs["key-pair"])
	return &createKeyPairResp{KeyName: name, KeyFingerprint: fp, KeyMaterial: pemText, KeyPairID: k.ID, TagSet: c.tagsXML(k.ID)}, nil
}

type deleteKeyPairResp struct {
	base
	Return    bool   `xml:"return"`
	KeyPairID string `xml:"keyPairId,omitempty"`
}

// deleteKeyPair is idempotent by name, as EC2 is.
func deleteKeyPair(c *call) (response, error) {
	var k *KeyPair
	if id := c.str("KeyPairId"); id != "" {
		if k = c.reg.KeyPairs[id]; k == nil || k.OwnerID != c.account {
			return nil, errf(400, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist", id)
		}
	} else {
		k = c.findKeyPair(c.str("KeyName"))
	}
	resp := &deleteKeyPairResp{Return: true}
	if k != nil {
		delete(c.reg.KeyPairs, k.ID)
		delete(c.reg.Tags, k.ID)
		resp.KeyPairID = k.ID
	}
	return resp, nil
}

type keyPairXML struct {
	KeyPairID      string   `xml:"keyPairId"`
	KeyName        string   `xml:"keyName"`
	KeyFingerprint string   `xml:"keyFingerprint"`
	KeyType        string   `xml:"keyType"`
	CreateTime     string   `xml:"createTime"`
	TagSet         []tagXML `xml:"tagSet>item"`
}

type describeKeyPairsResp struct {
	base
	Keys set[keyPairXML] `xml:"keySet"`
}

func describeKeyPairs(c *call) (response, error) {
	names, ids := c.list("KeyName"), c.list("KeyPairId")
	resp := &describeKeyPairsResp{}
	for _, id := range sortedKeys(c.reg.KeyPairs) {
		k := c.reg.KeyPairs[id]
		if k.OwnerID != c.account || (len(names) > 0 && !contains(names, k.Name)) || (len(ids) > 0 && !contains(ids, k.ID)) {
			continue
		}
		resp.Keys.Items = append(resp.Keys.Items, keyPairXML{k.ID, k.Name, k.Fingerprint, k.Type, fmtTime(k.CreateTime), c.tagsXML(k.ID)})
	}
	if len(resp.Keys.Items) < len(names)+len(ids) {
		return nil, errf(400, "InvalidKeyPair.NotFound", "The key pair does not exist")
	}
	return resp, nil
}

type createGroupResp struct {
	base
	GroupID  string   `xml:"groupId"`
	GroupArn string   `xml:"securityGroupArn"`
	TagSet   []tagXML `xml:"tagSet>item"`
}

func createSecurityGroup(c *call) (response, error) {
	name, err := c.required("GroupName")
	if err != nil {
		return nil, err
	}
	desc, err := c.required("GroupDescription")
	if err != nil {
		return nil, err
	}
	vpc := c.str("VpcId")
	if vpc == "" {
		vpc = "vpc-00000000000000001"
	}
	for _, g := range c.reg.SecurityGroups {
		if g.Name == name && g.VpcID == vpc && g.OwnerID == c.account {
			return nil, errf(400, "InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpc)
		}
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	g := &SecurityGroup{ID: c.newID("sg"), Name: name, Description: desc, VpcID: vpc, OwnerID: c.account}
	c.reg.SecurityGroups[g.ID] = g
	c.applyTags(g.ID, specs["security-group"])
	return &createGroupResp{GroupID: g.ID, GroupArn: c.arn("security-group", g.ID), TagSet: c.tagsXML(g.ID)}, nil
}

func (c *call) findGroup(id, name string) (*SecurityGroup, error) {
	for _, g := range c.reg.SecurityGroups {
		if g.OwnerID == c.account && ((id != "" && g.ID == id) || (id == "" && name != "" && g.Name == name)) {
			return g, nil
		}
	}
	if id == "" {
		id = name
	}
	return nil, errf(400, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
}

type ipRangeXML struct {
	CidrIP string `xml:"cidrIp"`
}

type ipPermXML struct {
	IPProtocol string       `xml:"ipProtocol"`
	FromPort   int          `xml:"fromPort"`
	ToPort     int          `xml:"toPort"`
	IPRanges   []ipRangeXML `xml:"ipRanges>item"`
}

type groupInfoXML struct {
	OwnerID          string      `xml:"ownerId"`
	GroupID          string      `xml:"groupId"`
	GroupName        string      `xml:"groupName"`
	GroupDescription string      `xml:"groupDescription"`
	VpcID            string      `xml:"vpcId"`
	IPPermissions    []ipPermXML `xml:"ipPermissions>item"`
	TagSet           []tagXML    `xml:"tagSet>item"`
}

type describeGroupsResp struct {
	base
	Groups set[groupInfoXML] `xml:"securityGroupInfo"`
}

func describeSecurityGroups(c *call) (response, error) {
	var groups []*SecurityGroup
	for _, id := range c.list("GroupId") {
		g, err := c.findGroup(id, "")
		if err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	for _, n := range c.list("GroupName") {
		g, err := c.findGroup("", n)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	if len(groups) == 0 && len(c.list("GroupId"))+len(c.list("GroupName")) == 0 {
		for _, id := range sortedKeys(c.reg.SecurityGroups) {
			if g := c.reg.SecurityGroups[id]; g.OwnerID == c.account {
				groups = append(groups, g)
			}
		}
	}
	resp := &describeGroupsResp{}
	for _, g := range groups {
		x := groupInfoXML{g.OwnerID, g.ID, g.Name, g.Description, g.VpcID, nil, c.tagsXML(g.ID)}
		for _, p := range g.Ingress {
			px := ipPermXML{IPProtocol: p.Protocol, FromPort: p.FromPort, ToPort: p.ToPort}
			for _, cidr := range p.CIDRs {
				px.IPRanges = append(px.IPRanges, ipRangeXML{cidr})
			}
			x.IPPermissions = append(x.IPPermissions, px)
		}
		resp.Groups.Items = append(resp.Groups.Items, x)
	}
	return resp, nil
}

func authorizeIngress(c *call) (response, error) {
	g, err := c.findGroup(c.str("GroupId"), c.str("GroupName"))
	if err != nil {
		return nil, err
	}
	for _, n := range c.indexes("IpPermissions") {
		p := Permission{Protocol: c.str(key("IpPermissions", n, "IpProtocol"))}
		p.FromPort, _ = strconv.Atoi(c.str(key("IpPermissions", n, "FromPort")))
		p.ToPort, _ = strconv.Atoi(c.str(key("IpPermissions", n, "ToPort")))
		for _, r := range c.indexes(key("IpPermissions", n, "IpRanges")) {
			p.CIDRs = append(p.CIDRs, c.str(key(key("IpPermissions", n, "IpRanges"), r, "CidrIp")))
		}
		g.Ingress = append(g.Ingress, p)
	}
	if cidr := c.str("CidrIp"); cidr != "" {
		from, _ := c.integer("FromPort", 0)
		to, _ := c.integer("ToPort", 0)
		g.Ingress = append(g.Ingress, Permission{Protocol: c.str("IpProtocol"), FromPort: from, ToPort: to, CIDRs: []string{cidr}})
	}
	return ok()
}

type deleteGroupResp struct {
	base
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

// deleteSecurityGroup refuses groups still used by a non-terminated instance.
func deleteSecurityGroup(c *call) (response, error) {
	g, err := c.findGroup(c.str("GroupId"), c.str("GroupName"))
	if err != nil {
		return nil, err
	}
	for _, inst := range c.reg.Instances {
		if inst.State != "terminated" && contains(inst.Groups, g.ID) {
			return nil, errf(400, "DependencyViolation", "resource %s has a dependent object", g.ID)
		}
	}
	delete(c.reg.SecurityGroups, g.ID)
	delete(c.reg.Tags, g.ID)
	return &deleteGroupResp{Return: true, GroupID: g.ID}, nil
}

type attachmentXML struct {
	VolumeID            string `xml:"volumeId"`
	InstanceID          string `xml:"instanceId"`
	Device              string `xml:"device"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type volumeXML struct {
	VolumeID         string          `xml:"volumeId"`
	Size             int             `xml:"size"`
	SnapshotID       string          `xml:"snapshotId"`
	AvailabilityZone string          `xml:"availabilityZone"`
	Status           string          `xml:"status"`
	CreateTime       string          `xml:"createTime"`
	Attachments      []attachmentXML `xml:"attachmentSet>item"`
	VolumeType       string          `xml:"volumeType"`
	Encrypted        bool            `xml:"encrypted"`
	TagSet           []tagXML        `xml:"tagSet>item"`
}

type describeVolumesResp struct {
	base
	Volumes   set[volumeXML] `xml:"volumeSet"`
	NextToken string         `xml:"nextToken,omitempty"`
}

func describeVolumes(c *call) (response, error) {
	ids, fs := c.list("VolumeId"), c.filters()
	for _, id := range ids {
		if v := c.reg.Volumes[id]; v == nil || v.OwnerID != c.account {
			return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
		}
	}
	var found []volumeXML
	for _, id := range sortedKeys(c.reg.Volumes) {
		v := c.reg.Volumes[id]
		if v.OwnerID != c.account || (len(ids) > 0 && !contains(ids, id)) {
			continue
		}
		keep, err := c.matches(fs, id, func(name string) ([]string, bool) { return volumeField(v, name) })
		if err != nil {
			return nil, err
		}
		if keep {
			found = append(found, c.volumeXML(v))
		}
	}
	start, end, next, err := c.page(len(found), 5, 500)
	if err != nil {
		return nil, err
	}
	return &describeVolumesResp{Volumes: set[volumeXML]{found[start:end]}, NextToken: next}, nil
}

func (c *call) volumeXML(v *Volume) volumeXML {
	x := volumeXML{VolumeID: v.ID, Size: v.Size, SnapshotID: v.SnapshotID, AvailabilityZone: v.AZ,
		Status: v.State, CreateTime: fmtTime(v.CreateTime), VolumeType: v.VolumeType, TagSet: c.tagsXML(v.ID)}
	if v.InstanceID != "" {
		x.Attachments = []attachmentXML{{v.ID, v.InstanceID, v.Device, "attached", fmtTime(v.CreateTime), v.DeleteOnTermination}}
	}
	return x
}

func volumeField(v *Volume, name string) ([]string, bool) {
	switch name {
	case "volume-id":
		return vals(v.ID), true
	case "status":
		return vals(v.State), true
	case "snapshot-id":
		return vals(v.SnapshotID), true
	case "attachment.instance-id":
		return vals(v.InstanceID), true
	case "availability-zone":
		return vals(v.AZ), true
	case "volume-type":
		return vals(v.VolumeType), true
	}
	return nil, false
}

func deleteVolume(c *call) (response, error) {
	id, err := c.required("VolumeId")
	if err != nil {
		return nil, err
	}
	v := c.reg.Volumes[id]
	if v == nil || v.OwnerID != c.account {
		return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}
	if v.State == "in-use" {
		return nil, errf(400, "VolumeInUse", "Volume %s is currently attached to %s", id, v.InstanceID)
	}
	delete(c.reg.Volumes, id)
	delete(c.reg.Tags, id)
	return ok()
}
