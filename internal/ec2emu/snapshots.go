package ec2emu

import "strconv"

type snapshotXML struct {
	SnapshotID  string   `xml:"snapshotId"`
	VolumeID    string   `xml:"volumeId"`
	Status      string   `xml:"status"`
	StartTime   string   `xml:"startTime"`
	Progress    string   `xml:"progress"`
	OwnerID     string   `xml:"ownerId"`
	VolumeSize  int      `xml:"volumeSize"`
	Description string   `xml:"description"`
	Encrypted   bool     `xml:"encrypted"`
	StorageTier string   `xml:"storageTier"`
	TagSet      []tagXML `xml:"tagSet>item"`
}

type describeSnapshotsResp struct {
	base
	Snapshots set[snapshotXML] `xml:"snapshotSet"`
	NextToken string           `xml:"nextToken,omitempty"`
}

// canSeeSnapshot: owners and accounts with create volume permission.
func (c *call) canSeeSnapshot(s *Snapshot) bool {
	return s.OwnerID == c.account || s.Public || contains(s.VolumeUsers, c.account)
}

// findSnapshot resolves an id the caller can see (own or shared with it).
func (c *call) findSnapshot(id string) (*Snapshot, error) {
	if !validID(id, "snap") {
		return nil, errf(400, "InvalidSnapshotID.Malformed", "Invalid id: \"%s\" (expecting \"snap-...\")", id)
	}
	s := c.reg.Snapshots[id]
	if s == nil || !c.canSeeSnapshot(s) {
		return nil, errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	return s, nil
}

// ownSnapshot resolves an id the caller owns: only owners change snapshots.
func (c *call) ownSnapshot(id string) (*Snapshot, error) {
	s, err := c.findSnapshot(id)
	if err == nil && s.OwnerID != c.account {
		err = errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	return s, err
}

// describeSnapshots lists the caller's snapshots and those explicitly shared with it
// (public snapshots only when named).
func describeSnapshots(c *call) (response, error) {
	ids, owners, fs := c.list("SnapshotId"), c.list("Owner"), c.filters()
	var candidates []*Snapshot
	if len(ids) > 0 {
		for _, id := range ids {
			s, err := c.findSnapshot(id)
			if err != nil {
				return nil, err
			}
			candidates = append(candidates, s)
		}
	} else {
		for _, id := range sortedKeys(c.reg.Snapshots) {
			if s := c.reg.Snapshots[id]; s.OwnerID == c.account || contains(s.VolumeUsers, c.account) {
				candidates = append(candidates, s)
			}
		}
	}
	var found []snapshotXML
	for _, s := range candidates {
		if len(owners) > 0 && !contains(owners, s.OwnerID) && !(contains(owners, "self") && s.OwnerID == c.account) {
			continue
		}
		keep, err := c.matches(fs, s.ID, func(name string) ([]string, bool) { return snapshotField(s, name) })
		if err != nil {
			return nil, err
		}
		if keep {
			found = append(found, c.snapshotXML(s))
		}
	}
	start, end, next, err := c.page(len(found), 5, 1000)
	if err != nil {
		return nil, err
	}
	return &describeSnapshotsResp{Snapshots: set[snapshotXML]{found[start:end]}, NextToken: next}, nil
}

func (c *call) snapshotXML(s *Snapshot) snapshotXML {
	return snapshotXML{
		SnapshotID: s.ID, VolumeID: s.VolumeID, Status: s.State, StartTime: fmtTime(s.StartTime),
		Progress: "100%", OwnerID: s.OwnerID, VolumeSize: s.VolumeSize, Description: s.Description,
		StorageTier: "standard", TagSet: c.tagsXML(s.ID),
	}
}

func snapshotField(s *Snapshot, name string) ([]string, bool) {
	switch name {
	case "snapshot-id":
		return vals(s.ID), true
	case "owner-id":
		return vals(s.OwnerID), true
	case "status":
		return vals(s.State), true
	case "volume-id":
		return vals(s.VolumeID), true
	case "volume-size":
		return vals(strconv.Itoa(s.VolumeSize)), true
	case "description":
		return vals(s.Description), true
	case "start-time":
		return vals(fmtTime(s.StartTime)), true
	case "progress":
		return vals("100%"), true
	}
	return nil, false
}

// deleteSnapshot refuses snapshots of registered (including disabled) images.
func deleteSnapshot(c *call) (response, error) {
	id, err := c.required("SnapshotId")
	if err != nil {
		return nil, err
	}
	if _, err := c.ownSnapshot(id); err != nil {
		return nil, err
	}
	if img := c.snapshotUser(id); img != "" {
		return nil, errf(400, "InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, img)
	}
	c.removeSnapshot(c.reg.Snapshots[id])
	return &emptyResp{}, nil
}

type createSnapshotResp struct {
	base
	snapshotXML
}

// createSnapshot snapshots one of the caller's volumes; it completes at once.
func createSnapshot(c *call) (response, error) {
	id, err := c.required("VolumeId")
	if err != nil {
		return nil, err
	}
	vol := c.reg.Volumes[id]
	if vol == nil || vol.OwnerID != c.account {
		return nil, errf(400, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
	}
	specs := c.tagSpecs()
	if err := c.checkTagSpecs(specs); err != nil {
		return nil, err
	}
	snap := c.newSnapshot(vol, c.str("Description"))
	c.applyTags(snap.ID, specs["snapshot"])
	return &createSnapshotResp{snapshotXML: c.snapshotXML(snap)}, nil
}

type volumePermXML struct {
	Group  string `xml:"group,omitempty"`
	UserID string `xml:"userId,omitempty"`
}

type snapshotAttrResp struct {
	base
	SnapshotID             string          `xml:"snapshotId"`
	CreateVolumePermission []volumePermXML `xml:"createVolumePermission>item"`
	ProductCodes           *struct{}       `xml:"productCodes,omitempty"`
}

func describeSnapshotAttribute(c *call) (response, error) {
	s, err := c.ownSnapshot(c.str("SnapshotId"))
	if err != nil {
		return nil, err
	}
	resp := &snapshotAttrResp{SnapshotID: s.ID}
	switch attr := c.str("Attribute"); attr {
	case "createVolumePermission":
		if s.Public {
			resp.CreateVolumePermission = append(resp.CreateVolumePermission, volumePermXML{Group: "all"})
		}
		for _, u := range s.VolumeUsers {
			resp.CreateVolumePermission = append(resp.CreateVolumePermission, volumePermXML{UserID: u})
		}
	case "productCodes":
		resp.ProductCodes = &struct{}{}
	default:
		return nil, badParam("Value (%s) for parameter attribute is invalid.", attr)
	}
	return resp, nil
}

// modifySnapshotAttribute shares snapshots in the structured
// (CreateVolumePermission.Add.N.UserId) and legacy (OperationType + UserId.N) forms.
func modifySnapshotAttribute(c *call) (response, error) {
	s, err := c.ownSnapshot(c.str("SnapshotId"))
	if err != nil {
		return nil, err
	}
	if img := c.snapshotUser(s.ID); img != "" && c.reg.Images[img].State == "disabled" {
		return nil, errf(400, "IncorrectState", "The snapshot %s belongs to disabled image %s and cannot be shared", s.ID, img)
	}
	read := func(prefix string) (users []string, all bool) {
		for _, n := range c.indexes(prefix) {
			if u := c.str(key(prefix, n, "UserId")); u != "" {
				users = append(users, u)
			}
			all = all || c.str(key(prefix, n, "Group")) == "all"
		}
		return users, all
	}
	addU, addAll := read("CreateVolumePermission.Add")
	remU, remAll := read("CreateVolumePermission.Remove")
	if c.str("Attribute") == "createVolumePermission" {
		users, all := c.list("UserId"), contains(c.list("UserGroup"), "all")
		if c.str("OperationType") == "remove" {
			remU, remAll = append(remU, users...), remAll || all
		} else {
			addU, addAll = append(addU, users...), addAll || all
		}
	}
	for _, u := range addU {
		if !contains(s.VolumeUsers, u) {
			s.VolumeUsers = append(s.VolumeUsers, u)
		}
	}
	var keep []string
	for _, u := range s.VolumeUsers {
		if !contains(remU, u) {
			keep = append(keep, u)
		}
	}
	s.VolumeUsers = keep
	s.Public = (s.Public || addAll) && !remAll
	return &emptyResp{}, nil
}
