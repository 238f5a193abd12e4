package ec2emu

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"
)

type imageXML struct {
	ImageID                  string   `xml:"imageId"`
	ImageLocation            string   `xml:"imageLocation"`
	ImageState               string   `xml:"imageState"`
	ImageOwnerID             string   `xml:"imageOwnerId"`
	CreationDate             string   `xml:"creationDate"`
	IsPublic                 bool     `xml:"isPublic"`
	Architecture             string   `xml:"architecture"`
	ImageType                string   `xml:"imageType"`
	Platform                 string   `xml:"platform,omitempty"`
	PlatformDetails          string   `xml:"platformDetails"`
	UsageOperation           string   `xml:"usageOperation"`
	ImageOwnerAlias          string   `xml:"imageOwnerAlias,omitempty"`
	Name                     string   `xml:"name"`
	Description              string   `xml:"description,omitempty"`
	RootDeviceType           string   `xml:"rootDeviceType"`
	RootDeviceName           string   `xml:"rootDeviceName,omitempty"`
	BlockDeviceMapping       []bdmXML `xml:"blockDeviceMapping>item"`
	VirtualizationType       string   `xml:"virtualizationType"`
	Hypervisor               string   `xml:"hypervisor"`
	EnaSupport               bool     `xml:"enaSupport"`
	SourceImageID            string   `xml:"sourceImageId,omitempty"`
	SourceImageRegion        string   `xml:"sourceImageRegion,omitempty"`
	SourceInstanceID         string   `xml:"sourceInstanceId,omitempty"`
	DeprecationTime          string   `xml:"deprecationTime,omitempty"`
	DeregistrationProtection string   `xml:"deregistrationProtection"`
	LastLaunchedTime         string   `xml:"lastLaunchedTime,omitempty"`
	ImageAllowed             *bool    `xml:"imageAllowed,omitempty"` // with Allowed AMIs enabled or in audit mode
	TagSet                   []tagXML `xml:"tagSet>item"`
}

type bdmXML struct {
	DeviceName string `xml:"deviceName"`
	Ebs        ebsXML `xml:"ebs"`
}

type ebsXML struct {
	SnapshotID          string `xml:"snapshotId,omitempty"`
	VolumeSize          int    `xml:"volumeSize"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	VolumeType          string `xml:"volumeType"`
	Encrypted           bool   `xml:"encrypted"`
}

type describeImagesResp struct {
	base
	Images    set[imageXML] `xml:"imagesSet"`
	NextToken string        `xml:"nextToken,omitempty"`
}

func (c *call) imageXML(img *Image) imageXML {
	x := imageXML{
		ImageID: img.ID, ImageLocation: img.OwnerID + "/" + img.Name, ImageState: img.State,
		ImageOwnerID: img.OwnerID, CreationDate: fmtTime(img.CreationDate), IsPublic: img.Public,
		Architecture: img.Architecture, ImageType: "machine", Platform: img.Platform,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances", ImageOwnerAlias: img.OwnerAlias,
		Name: img.Name, Description: img.Description, RootDeviceType: img.RootDeviceType,
		RootDeviceName: img.RootDeviceName, VirtualizationType: img.VirtualizationType,
		Hypervisor: "xen", EnaSupport: true, SourceImageID: img.SourceImageID,
		SourceImageRegion: img.SourceRegion, SourceInstanceID: img.SourceInstanceID,
		DeregistrationProtection: protectionString(img, c.now), TagSet: c.tagsXML(img.ID),
	}
	if img.Platform == "windows" {
		x.PlatformDetails = "Windows"
	}
	if img.DeprecationTime != nil {
		x.DeprecationTime = fmtTime(*img.DeprecationTime)
	}
	if allowed, _, audited := c.imageAllowed(img); audited {
		x.ImageAllowed = &allowed
	}
	if t := c.lastLaunched(img); t != nil {
		x.LastLaunchedTime = fmtTime(*t)
	}
	for _, b := range img.BlockDevices {
		x.BlockDeviceMapping = append(x.BlockDeviceMapping, bdmXML{DeviceName: b.DeviceName, Ebs: ebsXML{
			SnapshotID: b.SnapshotID, VolumeSize: b.VolumeSize,
			DeleteOnTermination: b.DeleteOnTermination, VolumeType: b.VolumeType,
		}})
	}
	return x
}

// canSee: owners, public images and accounts the image is shared with.
func (c *call) canSee(img *Image) bool {
	return img.OwnerID == c.account || img.Public || contains(img.LaunchUsers, c.account)
}

func deprecated(img *Image, now time.Time) bool {
	return img.DeprecationTime != nil && !img.DeprecationTime.After(now)
}

// lastLaunched is what EC2 reports: a launch shows only after the report delay.
func (c *call) lastLaunched(img *Image) *time.Time {
	last := img.LastLaunched
	for _, t := range img.Launches {
		if !t.Add(c.s.launchDelay).After(c.now) && (last == nil || t.After(*last)) {
			last = &t
		}
	}
	return last
}

// recordLaunch queues a launch for lastLaunchedTime, folding in those already reported.
func (c *call) recordLaunch(img *Image) {
	img.LastLaunched = c.lastLaunched(img)
	var pending []time.Time
	for _, t := range img.Launches {
		if t.Add(c.s.launchDelay).After(c.now) {
			pending = append(pending, t)
		}
	}
	img.Launches = append(pending, c.now)
}

// deregistered returns a deregistered image EC2 still knows by id: listed (state
// deregistered) during the visibility window, and afterwards answered with an empty
// result rather than NotFound while instances still use it (DescribeImages API
// reference: "After all instances that reference a deregistered AMI are terminated,
// specifying the ID of the image will eventually return an error").
func (c *call) deregistered(id string) (img *Image, listed bool) {
	img = c.reg.Deregistered[id]
	if img == nil || c.reg.Images[id] != nil || !c.canSee(img) {
		return nil, false
	}
	listed = img.DeregisteredAt != nil && c.now.Before(img.DeregisteredAt.Add(c.s.deregVisible))
	if !listed && !c.imageInUse(id) {
		return nil, false
	}
	return img, listed
}

func (c *call) imageInUse(id string) bool {
	for _, inst := range c.reg.Instances {
		if inst.ImageID == id && inst.State != "terminated" {
			return true
		}
	}
	return false
}

// findImage resolves an id the caller can see, with EC2's malformed/not-found codes.
func (c *call) findImage(id string) (*Image, error) {
	if !validID(id, "ami") {
		return nil, errf(400, "InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	}
	if d, _ := c.deregistered(id); d != nil {
		return nil, errf(400, "InvalidAMIID.Unavailable", "The image id '[%s]' is no longer available", id)
	}
	img := c.reg.Images[id]
	if img == nil || !c.canSee(img) {
		return nil, errf(400, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	}
	return img, nil
}

// ownImage resolves an id the caller owns: only owners change images.
func (c *call) ownImage(id string) (*Image, error) {
	if id == "" {
		return nil, errf(400, "MissingParameter", "The request must contain the parameter ImageId")
	}
	img, err := c.findImage(id)
	if err != nil {
		return nil, err
	}
	if img.OwnerID != c.account {
		return nil, errf(400, "AuthFailure", "Not authorized for image:%s", id)
	}
	return img, nil
}

type imageQuery struct {
	ids, owners, execBy          []string
	inclDeprecated, inclDisabled bool
	filters                      []filter
}

func (c *call) readImageQuery() (q imageQuery, err error) {
	q.ids, q.owners, q.execBy = c.list("ImageId"), c.list("Owner"), c.list("ExecutableBy")
	q.filters = c.filters()
	if q.inclDeprecated, err = c.boolean("IncludeDeprecated"); err != nil {
		return q, err
	}
	if q.inclDisabled, err = c.boolean("IncludeDisabled"); err != nil {
		return q, err
	}
	if len(q.ids) > 0 && c.str("MaxResults") != "" {
		return q, errf(400, "InvalidParameterCombination", "The parameter imageIdsSet cannot be used with the parameter maxResults")
	}
	return q, nil
}

func describeImages(c *call) (response, error) {
	q, err := c.readImageQuery()
	if err != nil {
		return nil, err
	}
	candidates, err := c.imageCandidates(q.ids)
	if err != nil {
		return nil, err
	}
	var found []*Image
	for _, img := range candidates {
		keep, err := c.imageSelected(img, q)
		if err != nil {
			return nil, err
		}
		if keep {
			found = append(found, img)
		}
	}
	c.shuffle(found)
	start, end, next, err := c.page(len(found), 5, 1000)
	if err != nil {
		return nil, err
	}
	resp := &describeImagesResp{NextToken: next}
	for _, img := range found[start:end] {
		c.look(img)
		resp.Images.Items = append(resp.Images.Items, c.imageXML(img))
	}
	return resp, nil
}

// look makes pending images (WithPendingLooks) become available after n looks.
func (c *call) look(img *Image) {
	if img.State != "pending" {
		return
	}
	if img.PendingLooks > 0 {
		img.PendingLooks--
		return
	}
	img.State = "available"
}

// shuffle orders images by a seeded hash of their ids: EC2 does not guarantee an order
// (DescribeImages API reference), so code that depends on one must fail here too. The
// order is stable for a seed, so pages of one query neither overlap nor skip.
func (c *call) shuffle(imgs []*Image) {
	key := func(id string) uint64 {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s", c.s.seed, id)
		return h.Sum64()
	}
	sort.Slice(imgs, func(i, j int) bool { return key(imgs[i].ID) < key(imgs[j].ID) })
}

// imageCandidates: the named ids (each must exist and be visible), or every visible
// image, recently deregistered ones included.
func (c *call) imageCandidates(ids []string) ([]*Image, error) {
	var out []*Image
	if len(ids) > 0 {
		for _, id := range ids {
			if d, listed := c.deregistered(id); d != nil {
				if listed {
					out = append(out, d)
				}
				continue
			}
			img, err := c.findImage(id)
			if err != nil {
				return nil, err
			}
			out = append(out, img)
		}
		return out, nil
	}
	for _, id := range sortedKeys(c.reg.Images) {
		if img := c.reg.Images[id]; c.canSee(img) {
			out = append(out, img)
		}
	}
	for _, id := range sortedKeys(c.reg.Deregistered) {
		if d, listed := c.deregistered(id); listed {
			out = append(out, d)
		}
	}
	return out, nil
}

// imageSelected applies owners, executable-by, deprecation and disabled visibility, filters.
func (c *call) imageSelected(img *Image, q imageQuery) (bool, error) {
	if len(q.owners) > 0 && !c.ownerMatches(img, q.owners) {
		return false, nil
	}
	if allowed, enforced, _ := c.imageAllowed(img); enforced && !allowed {
		return false, nil // Allowed AMIs: not discoverable
	}
	if len(q.execBy) > 0 && !c.executableBy(img, q.execBy) {
		return false, nil
	}
	// Non-owners only see deprecated images when they ask for them or name them.
	if deprecated(img, c.now) && !q.inclDeprecated && len(q.ids) == 0 && img.OwnerID != c.account {
		return false, nil
	}
	if img.State == "disabled" && !q.inclDisabled {
		return false, nil
	}
	return c.matches(q.filters, img.ID, func(name string) ([]string, bool) { return imageField(img, name) })
}

func (c *call) ownerMatches(img *Image, owners []string) bool {
	for _, o := range owners {
		switch {
		case o == "self" && img.OwnerID == c.account,
			o == img.OwnerID,
			img.OwnerAlias != "" && o == img.OwnerAlias:
			return true
		}
	}
	return false
}

// executableBy: "self" (or the caller's own id) means images explicitly shared with
// the caller, not its own nor public ones (DescribeImages API reference, ExecutableBy).
func (c *call) executableBy(img *Image, who []string) bool {
	for _, w := range who {
		if w == "self" {
			w = c.account
		}
		switch {
		case w == "all" && img.Public,
			contains(img.LaunchUsers, w):
			return true
		}
	}
	return false
}

func imageField(img *Image, name string) ([]string, bool) {
	switch name {
	case "image-id":
		return vals(img.ID), true
	case "name":
		return vals(img.Name), true
	case "state":
		return vals(img.State), true
	case "owner-id":
		return vals(img.OwnerID), true
	case "owner-alias":
		return vals(img.OwnerAlias), true
	case "is-public":
		return vals(boolStr(img.Public)), true
	case "description":
		return vals(img.Description), true
	case "architecture":
		return vals(img.Architecture), true
	case "virtualization-type":
		return vals(img.VirtualizationType), true
	case "root-device-type":
		return vals(img.RootDeviceType), true
	case "root-device-name":
		return vals(img.RootDeviceName), true
	case "image-type":
		return vals("machine"), true
	case "platform":
		return vals(img.Platform), true
	case "hypervisor":
		return vals("xen"), true
	case "creation-date":
		return vals(fmtTime(img.CreationDate)), true
	case "source-image-id":
		return vals(img.SourceImageID), true
	}
	return blockDeviceField(img, name)
}

func blockDeviceField(img *Image, name string) ([]string, bool) {
	var out []string
	for _, b := range img.BlockDevices {
		switch name {
		case "block-device-mapping.snapshot-id":
			out = append(out, b.SnapshotID)
		case "block-device-mapping.device-name":
			out = append(out, b.DeviceName)
		case "block-device-mapping.volume-size":
			out = append(out, strconv.Itoa(b.VolumeSize))
		case "block-device-mapping.volume-type":
			out = append(out, b.VolumeType)
		default:
			return nil, false
		}
	}
	switch name {
	case "block-device-mapping.snapshot-id", "block-device-mapping.device-name",
		"block-device-mapping.volume-size", "block-device-mapping.volume-type":
		return out, true
	}
	return nil, false
}
