package ec2emu

// Where images come from and what runs them: GetImageAncestry follows SourceImageId /
// SourceImageRegion (set by CreateImage and CopyImage); DescribeInstanceImageMetadata
// describes an instance's AMI even when it is deprecated, deregistered or private.

type ancestryXML struct {
	CreationDate      string `xml:"creationDate"`
	ImageID           string `xml:"imageId"`
	ImageOwnerAlias   string `xml:"imageOwnerAlias,omitempty"`
	SourceImageID     string `xml:"sourceImageId,omitempty"`
	SourceImageRegion string `xml:"sourceImageRegion,omitempty"`
}

type ancestryResp struct {
	base
	Entries set[ancestryXML] `xml:"imageAncestryEntrySet"`
}

// anyImage finds an image by id in a region, registered or deregistered.
func anyImage(r *Region, id string) *Image {
	if img := r.Images[id]; img != nil {
		return img
	}
	return r.Deregistered[id]
}

// getImageAncestry lists the image and then each source in turn, across regions, up to
// the root or to a source that no longer exists (GetImageAncestry API reference).
func getImageAncestry(c *call) (response, error) {
	img, err := c.findImage(c.str("ImageId"))
	if err != nil {
		return nil, err
	}
	resp := &ancestryResp{}
	for seen := map[string]bool{}; img != nil && !seen[img.ID]; {
		seen[img.ID] = true
		resp.Entries.Items = append(resp.Entries.Items, ancestryXML{fmtTime(img.CreationDate), img.ID, img.OwnerAlias, img.SourceImageID, img.SourceRegion})
		if img.SourceImageID == "" {
			break
		}
		img = anyImage(c.s.st.region(img.SourceRegion), img.SourceImageID)
	}
	return resp, nil
}

type imageMetadataXML struct {
	ImageID         string `xml:"imageId"`
	Name            string `xml:"name,omitempty"`
	ImageOwnerID    string `xml:"imageOwnerId,omitempty"`
	ImageState      string `xml:"imageState,omitempty"`
	ImageOwnerAlias string `xml:"imageOwnerAlias,omitempty"`
	CreationDate    string `xml:"creationDate,omitempty"`
	DeprecationTime string `xml:"deprecationTime,omitempty"`
	IsPublic        *bool  `xml:"isPublic,omitempty"`
	ImageAllowed    *bool  `xml:"imageAllowed,omitempty"`
}

type instanceImageMetadataXML struct {
	InstanceID       string           `xml:"instanceId"`
	InstanceType     string           `xml:"instanceType"`
	LaunchTime       string           `xml:"launchTime"`
	AvailabilityZone string           `xml:"availabilityZone"`
	InstanceState    stateXML         `xml:"instanceState"`
	InstanceOwnerID  string           `xml:"instanceOwnerId"`
	TagSet           []tagXML         `xml:"tagSet>item"`
	ImageMetadata    imageMetadataXML `xml:"imageMetadata"`
}

type instanceImageMetadataResp struct {
	base
	Items     set[instanceImageMetadataXML] `xml:"instanceImageMetadataSet"`
	NextToken string                        `xml:"nextToken,omitempty"`
}

func describeInstanceImageMetadata(c *call) (response, error) {
	candidates, err := c.instanceCandidates(c.list("InstanceId"))
	if err != nil {
		return nil, err
	}
	fs := c.filters()
	var found []instanceImageMetadataXML
	for _, inst := range candidates {
		keep, err := c.matches(fs, inst.ID, func(name string) ([]string, bool) { return instanceField(inst, name) })
		if err != nil {
			return nil, err
		}
		if keep {
			found = append(found, instanceImageMetadataXML{
				InstanceID: inst.ID, InstanceType: inst.InstanceType, LaunchTime: fmtTime(inst.LaunchTime),
				AvailabilityZone: inst.AZ, InstanceState: stateOf(inst.State), InstanceOwnerID: inst.OwnerID,
				TagSet: c.tagsXML(inst.ID), ImageMetadata: c.imageMetadata(inst.ImageID),
			})
		}
	}
	start, end, next, err := c.page(len(found), 5, 1000)
	if err != nil {
		return nil, err
	}
	return &instanceImageMetadataResp{Items: set[instanceImageMetadataXML]{found[start:end]}, NextToken: next}, nil
}

// imageMetadata has only the id once the image is gone for good.
func (c *call) imageMetadata(id string) imageMetadataXML {
	img := anyImage(c.reg, id)
	if img == nil {
		return imageMetadataXML{ImageID: id}
	}
	x := imageMetadataXML{ImageID: id, Name: img.Name, ImageOwnerID: img.OwnerID, ImageState: img.State,
		ImageOwnerAlias: img.OwnerAlias, CreationDate: fmtTime(img.CreationDate), IsPublic: ptrTo(img.Public), ImageAllowed: ptrTo(true)}
	if img.DeprecationTime != nil {
		x.DeprecationTime = fmtTime(*img.DeprecationTime)
	}
	return x
}

func ptrTo[T any](v T) *T { return &v }
