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

func (c *call) findSnapshot(id string) (*Snapshot, error) {
	if !validID(id, "snap") {
		return nil, errf(400, "InvalidSnapshotID.Malformed", "Invalid id: \"%s\" (expecting \"snap-...\")", id)
	}
	s := c.reg.Snapshots[id]
	if s == nil || s.OwnerID != c.account {
		return nil, errf(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	return s, nil
}

// describeSnapshots lists the caller's snapshots (sharing snapshots is not emulated).
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
			if s := c.reg.Snapshots[id]; s.OwnerID == c.account {
				candidates = append(candidates, s)
			}
		}
	}
	var found []snapshotXML
	for _, s := range candidates {
		if len(owners) > 0 && !contains(owners, s.OwnerID) && !contains(owners, "self") {
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
	if _, err := c.findSnapshot(id); err != nil {
		return nil, err
	}
	if img := c.snapshotUser(id); img != "" {
		return nil, errf(400, "InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", id, img)
	}
	delete(c.reg.Snapshots, id)
	delete(c.reg.Tags, id)
	return &emptyResp{}, nil
}
