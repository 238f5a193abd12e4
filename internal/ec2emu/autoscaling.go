package ec2emu

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Auto Scaling speaks the Query protocol like EC2, but with PascalCase elements,
// <member> lists, an <ActionResult> wrapper and a different error envelope.
const (
	autoscalingVersion = "2011-01-01"
	autoscalingNS      = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
	// MaxRecords: default 50, at most 100 (DescribeAutoScalingGroups and
	// DescribeLaunchConfigurations API references).
	defaultRecords = 50
	maxRecords     = 100
)

// AutoScalingGroup uses a launch configuration, a launch template, or a launch
// template through a mixed-instances policy (whose overrides may name other templates).
type AutoScalingGroup struct {
	Name                    string          `json:"name"`
	OwnerID                 string          `json:"ownerId"`
	LaunchConfigurationName string          `json:"launchConfigurationName,omitempty"`
	LaunchTemplate          *TemplateRef    `json:"launchTemplate,omitempty"`
	MixedInstances          *MixedInstances `json:"mixedInstances,omitempty"`
	MinSize                 int             `json:"minSize"`
	MaxSize                 int             `json:"maxSize"`
	DesiredCapacity         int             `json:"desiredCapacity"`
	AvailabilityZones       []string        `json:"availabilityZones,omitempty"`
	CreatedTime             time.Time       `json:"createdTime"`
}

// TemplateRef names a launch template version: $Default, $Latest or a number.
type TemplateRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// MixedInstances is a mixed-instances policy's launch template and overrides.
type MixedInstances struct {
	LaunchTemplate TemplateRef        `json:"launchTemplate"`
	Overrides      []TemplateOverride `json:"overrides,omitempty"`
}

// TemplateOverride is one override; LaunchTemplate replaces the policy's template.
type TemplateOverride struct {
	InstanceType   string       `json:"instanceType,omitempty"`
	LaunchTemplate *TemplateRef `json:"launchTemplate,omitempty"`
}

// LaunchConfiguration is the legacy launch specification of Auto Scaling groups.
type LaunchConfiguration struct {
	Name         string    `json:"name"`
	OwnerID      string    `json:"ownerId"`
	ImageID      string    `json:"imageId"`
	InstanceType string    `json:"instanceType"`
	KeyName      string    `json:"keyName,omitempty"`
	CreatedTime  time.Time `json:"createdTime"`
}

func autoscalingService() *service {
	return &service{
		name: "autoscaling",
		handlers: map[string]handler{
			"CreateLaunchConfiguration":    createLaunchConfiguration,
			"DescribeLaunchConfigurations": describeLaunchConfigurations,
			"DeleteLaunchConfiguration":    deleteLaunchConfiguration,
			"CreateAutoScalingGroup":       createAutoScalingGroup,
			"DescribeAutoScalingGroups":    describeAutoScalingGroups,
			"DeleteAutoScalingGroup":       deleteAutoScalingGroup,
		},
		respond: writeQueryResponse,
		fail:    writeQueryError,
		denied: func(c *call) error {
			return errf(http.StatusForbidden, "AccessDenied", "User: arn:aws:iam::%s:user/ec2emu is not authorized to perform: autoscaling:%s with an explicit deny", c.account, c.action)
		},
	}
}

// noID is for bodies whose request id lives outside them (Query and JSON protocols).
type noID struct{}

func (noID) setRequestID(string) {}

type queryEnvelope struct {
	Result    wrapped
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func writeQueryResponse(w http.ResponseWriter, action, reqID string, body response) {
	result := wrapped{start: xml.StartElement{Name: xml.Name{Local: action + "Result"}}, body: body}
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: autoscalingNS}}}
	out, err := xml.Marshal(wrapped{start: start, body: queryEnvelope{result, reqID}})
	if err != nil {
		writeQueryError(w, reqID, errf(500, "InternalFailure", "marshal: %v", err))
		return
	}
	writeBody(w, http.StatusOK, out)
}

type queryErrorXML struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

func writeQueryError(w http.ResponseWriter, reqID string, err error) {
	ae := apiError(err)
	doc := queryErrorXML{Xmlns: autoscalingNS, RequestID: reqID}
	doc.Error.Type, doc.Error.Code, doc.Error.Message = "Sender", ae.Code, ae.Message
	if ae.Status >= 500 {
		doc.Error.Type = "Receiver"
	}
	out, _ := xml.Marshal(doc)
	writeBody(w, ae.Status, out)
}

func validationError(format string, args ...any) error {
	return errf(400, "ValidationError", format, args...)
}

type asgTemplateXML struct {
	LaunchTemplateID   string `xml:"LaunchTemplateId,omitempty"`
	LaunchTemplateName string `xml:"LaunchTemplateName,omitempty"`
	Version            string `xml:"Version,omitempty"`
}

type overrideXML struct {
	InstanceType                string          `xml:",omitempty"`
	LaunchTemplateSpecification *asgTemplateXML `xml:",omitempty"`
}

type mixedXML struct {
	LaunchTemplateSpecification asgTemplateXML `xml:"LaunchTemplate>LaunchTemplateSpecification"`
	Overrides                   []overrideXML  `xml:"LaunchTemplate>Overrides>member"`
}

type asgXML struct {
	AutoScalingGroupName    string
	AutoScalingGroupARN     string
	LaunchConfigurationName string          `xml:",omitempty"`
	LaunchTemplate          *asgTemplateXML `xml:",omitempty"`
	MixedInstancesPolicy    *mixedXML       `xml:",omitempty"`
	MinSize                 int
	MaxSize                 int
	DesiredCapacity         int
	DefaultCooldown         int
	AvailabilityZones       []string `xml:"AvailabilityZones>member"`
	HealthCheckType         string
	HealthCheckGracePeriod  int
	CreatedTime             string
	Instances               set[struct{}] `xml:"Instances"`
	Tags                    set[struct{}] `xml:"Tags"`
}

type describeASGResp struct {
	noID
	Groups    []asgXML `xml:"AutoScalingGroups>member"`
	NextToken string   `xml:",omitempty"`
}

type launchConfigXML struct {
	LaunchConfigurationName string
	LaunchConfigurationARN  string
	ImageID                 string `xml:"ImageId"`
	KeyName                 string `xml:",omitempty"`
	InstanceType            string
	CreatedTime             string
	SecurityGroups          set[struct{}]
	BlockDeviceMappings     set[struct{}]
}

type describeLCResp struct {
	noID
	Configs   []launchConfigXML `xml:"LaunchConfigurations>member"`
	NextToken string            `xml:",omitempty"`
}

type emptyQueryResp struct{ noID }

func (c *call) asgARN(kind, name string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:%s:00000000-0000-4000-8000-%012x:%sName/%s", c.region, c.account, kind, len(name), kind, name)
}

func createLaunchConfiguration(c *call) (response, error) {
	name := c.str("LaunchConfigurationName")
	if name == "" {
		return nil, validationError("LaunchConfigurationName is required")
	}
	if c.reg.LaunchConfigurations[name] != nil {
		return nil, errf(400, "AlreadyExists", "Launch Configuration by this name (%s) already exists", name)
	}
	img, err := c.findImage(c.str("ImageId"))
	if err != nil {
		return nil, validationError("Invalid image id %q: %v", c.str("ImageId"), err)
	}
	c.reg.LaunchConfigurations[name] = &LaunchConfiguration{Name: name, OwnerID: c.account, ImageID: img.ID,
		InstanceType: c.str("InstanceType"), KeyName: c.str("KeyName"), CreatedTime: c.now}
	return &emptyQueryResp{}, nil
}

func describeLaunchConfigurations(c *call) (response, error) {
	names := c.list("LaunchConfigurationNames.member")
	var found []launchConfigXML
	for _, name := range sortedKeys(c.reg.LaunchConfigurations) {
		lc := c.reg.LaunchConfigurations[name]
		if lc.OwnerID != c.account || (len(names) > 0 && !contains(names, name)) {
			continue
		}
		found = append(found, launchConfigXML{LaunchConfigurationName: name, LaunchConfigurationARN: c.asgARN("launchConfiguration", name),
			ImageID: lc.ImageID, KeyName: lc.KeyName, InstanceType: lc.InstanceType, CreatedTime: fmtTime(lc.CreatedTime)})
	}
	start, end, next, err := c.pageBy("MaxRecords", len(found), 1, maxRecords, defaultRecords)
	if err != nil {
		return nil, validationError("%s", apiError(err).Message)
	}
	return &describeLCResp{Configs: found[start:end], NextToken: next}, nil
}

func deleteLaunchConfiguration(c *call) (response, error) {
	name := c.str("LaunchConfigurationName")
	lc := c.reg.LaunchConfigurations[name]
	if lc == nil || lc.OwnerID != c.account {
		return nil, validationError("Launch configuration name not found - %s", name)
	}
	for _, g := range c.reg.AutoScalingGroups {
		if g.LaunchConfigurationName == name {
			return nil, errf(400, "ResourceInUse", "Cannot delete launch configuration %s because it is attached to AutoScalingGroup %s", name, g.Name)
		}
	}
	delete(c.reg.LaunchConfigurations, name)
	return &emptyQueryResp{}, nil
}

// templateRef reads prefix.LaunchTemplateId/Name/Version and checks the template and
// version exist; ok is false when the request has no such specification.
func (c *call) templateRef(prefix string) (ref *TemplateRef, err error) {
	id, name, version := c.str(prefix+".LaunchTemplateId"), c.str(prefix+".LaunchTemplateName"), c.str(prefix+".Version")
	if id == "" && name == "" {
		return nil, nil
	}
	lt, err := c.findTemplate(id, name)
	if err != nil {
		return nil, validationError("You must use a valid fully-formed launch template. %s", apiError(err).Message)
	}
	if version == "" {
		version = "$Default"
	}
	if _, err := lt.version(version); err != nil {
		return nil, validationError("You must use a valid fully-formed launch template. %s", apiError(err).Message)
	}
	return &TemplateRef{ID: lt.ID, Name: lt.Name, Version: version}, nil
}

func createAutoScalingGroup(c *call) (response, error) {
	name := c.str("AutoScalingGroupName")
	if name == "" {
		return nil, validationError("AutoScalingGroupName is required")
	}
	if g := c.reg.AutoScalingGroups[name]; g != nil && g.OwnerID == c.account {
		return nil, errf(400, "AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name %s already exists", name)
	}
	g := &AutoScalingGroup{Name: name, OwnerID: c.account, LaunchConfigurationName: c.str("LaunchConfigurationName"),
		AvailabilityZones: c.list("AvailabilityZones.member"), CreatedTime: c.now}
	var err error
	if g.MinSize, err = c.integer("MinSize", 0); err != nil {
		return nil, err
	}
	if g.MaxSize, err = c.integer("MaxSize", 0); err != nil {
		return nil, err
	}
	if g.DesiredCapacity, err = c.integer("DesiredCapacity", g.MinSize); err != nil {
		return nil, err
	}
	if g.LaunchTemplate, err = c.templateRef("LaunchTemplate"); err != nil {
		return nil, err
	}
	if g.MixedInstances, err = c.mixedInstances(); err != nil {
		return nil, err
	}
	if g.LaunchConfigurationName != "" {
		if lc := c.reg.LaunchConfigurations[g.LaunchConfigurationName]; lc == nil || lc.OwnerID != c.account {
			return nil, validationError("Launch configuration name not found - %s", g.LaunchConfigurationName)
		}
	}
	specs := 0
	for _, set := range []bool{g.LaunchConfigurationName != "", g.LaunchTemplate != nil, g.MixedInstances != nil} {
		if set {
			specs++
		}
	}
	if specs != 1 {
		return nil, validationError("Valid requests must contain exactly one of LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy")
	}
	c.reg.AutoScalingGroups[name] = g
	return &emptyQueryResp{}, nil
}

func (c *call) mixedInstances() (*MixedInstances, error) {
	const prefix = "MixedInstancesPolicy.LaunchTemplate"
	ref, err := c.templateRef(prefix + ".LaunchTemplateSpecification")
	if err != nil || ref == nil {
		return nil, err
	}
	m := &MixedInstances{LaunchTemplate: *ref}
	for _, n := range c.indexes(prefix + ".Overrides.member") {
		p := prefix + ".Overrides.member." + strconv.Itoa(n)
		o := TemplateOverride{InstanceType: c.str(p + ".InstanceType")}
		if o.LaunchTemplate, err = c.templateRef(p + ".LaunchTemplateSpecification"); err != nil {
			return nil, err
		}
		m.Overrides = append(m.Overrides, o)
	}
	return m, nil
}

func refXML(r *TemplateRef) *asgTemplateXML {
	if r == nil {
		return nil
	}
	return &asgTemplateXML{r.ID, r.Name, r.Version}
}

func (c *call) asgXML(g *AutoScalingGroup) asgXML {
	x := asgXML{AutoScalingGroupName: g.Name, AutoScalingGroupARN: c.asgARN("autoScalingGroup", g.Name),
		LaunchConfigurationName: g.LaunchConfigurationName, LaunchTemplate: refXML(g.LaunchTemplate),
		MinSize: g.MinSize, MaxSize: g.MaxSize, DesiredCapacity: g.DesiredCapacity, DefaultCooldown: 300,
		AvailabilityZones: g.AvailabilityZones, HealthCheckType: "EC2", CreatedTime: fmtTime(g.CreatedTime)}
	if m := g.MixedInstances; m != nil {
		x.MixedInstancesPolicy = &mixedXML{LaunchTemplateSpecification: *refXML(&m.LaunchTemplate)}
		for _, o := range m.Overrides {
			x.MixedInstancesPolicy.Overrides = append(x.MixedInstancesPolicy.Overrides, overrideXML{o.InstanceType, refXML(o.LaunchTemplate)})
		}
	}
	return x
}

func describeAutoScalingGroups(c *call) (response, error) {
	// Group tags are not modelled: refuse Filters rather than ignore them.
	if len(c.indexes("Filters.member")) > 0 {
		return nil, validationError("Filters are not supported by ec2emu")
	}
	names := c.list("AutoScalingGroupNames.member")
	var found []asgXML
	for _, name := range sortedKeys(c.reg.AutoScalingGroups) {
		g := c.reg.AutoScalingGroups[name]
		if g.OwnerID == c.account && (len(names) == 0 || contains(names, name)) {
			found = append(found, c.asgXML(g))
		}
	}
	start, end, next, err := c.pageBy("MaxRecords", len(found), 1, maxRecords, defaultRecords)
	if err != nil {
		return nil, validationError("%s", apiError(err).Message)
	}
	return &describeASGResp{Groups: found[start:end], NextToken: next}, nil
}

func deleteAutoScalingGroup(c *call) (response, error) {
	name := c.str("AutoScalingGroupName")
	if g := c.reg.AutoScalingGroups[name]; g == nil || g.OwnerID != c.account {
		return nil, validationError("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
	}
	delete(c.reg.AutoScalingGroups, name)
	return &emptyQueryResp{}, nil
}
