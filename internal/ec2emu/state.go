package ec2emu

import (
	"encoding/json"
	"io"
	"time"
)

// State is everything the emulator stores; it round-trips through JSON so tests can
// load fixtures and crash tests can reload what a previous process saved.
type State struct {
	Seq      uint64             `json:"seq"`
	Accounts map[string]string  `json:"accounts,omitempty"` // access key -> account id
	Regions  map[string]*Region `json:"regions"`
}

// Region holds the resources of one region (EC2 resources are regional).
type Region struct {
	Images          map[string]*Image            `json:"images,omitempty"`
	Snapshots       map[string]*Snapshot         `json:"snapshots,omitempty"`
	Instances       map[string]*Instance         `json:"instances,omitempty"`
	LaunchTemplates map[string]*LaunchTemplate   `json:"launchTemplates,omitempty"`
	KeyPairs        map[string]*KeyPair          `json:"keyPairs,omitempty"`
	SecurityGroups  map[string]*SecurityGroup    `json:"securityGroups,omitempty"`
	Volumes         map[string]*Volume           `json:"volumes,omitempty"`
	Tags            map[string]map[string]string `json:"tags,omitempty"` // resource id -> key -> value (the owner's)
	// AccountTags are tags other accounts wrote on resources shared with them:
	// account -> resource id -> key -> value. On EC2 tags belong to the account that
	// wrote them, so a sharee neither sees the owner's tags nor shows its own to others.
	AccountTags map[string]map[string]map[string]string `json:"accountTags,omitempty"`
	// Deregistered keeps deregistered images: EC2 still lists them for a while.
	Deregistered map[string]*Image `json:"deregistered,omitempty"`
	// Auto Scaling (service autoscaling), keyed by name.
	AutoScalingGroups    map[string]*AutoScalingGroup    `json:"autoScalingGroups,omitempty"`
	LaunchConfigurations map[string]*LaunchConfiguration `json:"launchConfigurations,omitempty"`
	UsageReports         map[string]*UsageReport         `json:"usageReports,omitempty"`
	AllowedImages        map[string]*AllowedImages       `json:"allowedImages,omitempty"` // account -> its Allowed AMIs settings
	RetentionRules       map[string]*RetentionRule       `json:"retentionRules,omitempty"`
	BinSnapshots         map[string]*Snapshot            `json:"binSnapshots,omitempty"` // deleted into the Recycle Bin
	// Parameters are SSM parameters: account -> name -> parameter.
	Parameters map[string]map[string]*Parameter `json:"parameters,omitempty"`
}

// Image is an AMI.
type Image struct {
	ID                 string        `json:"id"`
	Name               string        `json:"name"`
	Description        string        `json:"description,omitempty"`
	OwnerID            string        `json:"ownerId"`
	OwnerAlias         string        `json:"ownerAlias,omitempty"`
	State              string        `json:"state"`
	Public             bool          `json:"public,omitempty"`
	LaunchUsers        []string      `json:"launchUsers,omitempty"`
	CreationDate       time.Time     `json:"creationDate"`
	DeprecationTime    *time.Time    `json:"deprecationTime,omitempty"`
	Architecture       string        `json:"architecture,omitempty"`
	VirtualizationType string        `json:"virtualizationType,omitempty"`
	Platform           string        `json:"platform,omitempty"`
	RootDeviceName     string        `json:"rootDeviceName,omitempty"`
	RootDeviceType     string        `json:"rootDeviceType,omitempty"`
	BlockDevices       []BlockDevice `json:"blockDevices,omitempty"`
	Protected          bool          `json:"protected,omitempty"`
	ProtectCooldown    bool          `json:"protectCooldown,omitempty"`
	ProtectedUntil     *time.Time    `json:"protectedUntil,omitempty"`
	LastLaunched       *time.Time    `json:"lastLaunched,omitempty"` // as reported by EC2
	Launches           []time.Time   `json:"launches,omitempty"`     // launches not yet reported
	DeregisteredAt     *time.Time    `json:"deregisteredAt,omitempty"`
	BinUntil           *time.Time    `json:"binUntil,omitempty"` // in the Recycle Bin until
	SourceImageID      string        `json:"sourceImageId,omitempty"`
	SourceRegion       string        `json:"sourceRegion,omitempty"`
	SourceInstanceID   string        `json:"sourceInstanceId,omitempty"`
	PendingLooks       int           `json:"pendingLooks,omitempty"` // Describe calls left before pending -> available
}

// BlockDevice is one EBS mapping of an image.
type BlockDevice struct {
	DeviceName          string `json:"deviceName"`
	SnapshotID          string `json:"snapshotId,omitempty"`
	VolumeSize          int    `json:"volumeSize,omitempty"`
	VolumeType          string `json:"volumeType,omitempty"`
	DeleteOnTermination bool   `json:"deleteOnTermination"`
}

// Snapshot is an EBS snapshot.
type Snapshot struct {
	ID          string     `json:"id"`
	OwnerID     string     `json:"ownerId"`
	VolumeID    string     `json:"volumeId,omitempty"`
	VolumeSize  int        `json:"volumeSize"`
	Description string     `json:"description,omitempty"`
	State       string     `json:"state"`
	StartTime   time.Time  `json:"startTime"`
	Public      bool       `json:"public,omitempty"`      // createVolumePermission group all
	VolumeUsers []string   `json:"volumeUsers,omitempty"` // createVolumePermission user ids
	BinEnter    *time.Time `json:"binEnter,omitempty"`    // in the Recycle Bin from
	BinUntil    *time.Time `json:"binUntil,omitempty"`    // in the Recycle Bin until
}

// Instance is an EC2 instance; ReservationID groups those launched together.
type Instance struct {
	ID             string           `json:"id"`
	ReservationID  string           `json:"reservationId"`
	OwnerID        string           `json:"ownerId"`
	ImageID        string           `json:"imageId"`
	InstanceType   string           `json:"instanceType"`
	KeyName        string           `json:"keyName,omitempty"`
	State          string           `json:"state"`
	LaunchTime     time.Time        `json:"launchTime"`
	AZ             string           `json:"az"`
	SubnetID       string           `json:"subnetId,omitempty"`
	VpcID          string           `json:"vpcId,omitempty"`
	PrivateIP      string           `json:"privateIp,omitempty"`
	ClientToken    string           `json:"clientToken,omitempty"`
	Groups         []string         `json:"groups,omitempty"`
	RootDeviceName string           `json:"rootDeviceName,omitempty"`
	Volumes        []InstanceVolume `json:"volumes,omitempty"`
}

// InstanceVolume attaches a volume to an instance device.
type InstanceVolume struct {
	DeviceName string `json:"deviceName"`
	VolumeID   string `json:"volumeId"`
}

// LaunchTemplate keeps every version: image references live in all of them.
type LaunchTemplate struct {
	ID             string             `json:"id"`
	Name           string             `json:"name"`
	OwnerID        string             `json:"ownerId"`
	CreateTime     time.Time          `json:"createTime"`
	DefaultVersion int64              `json:"defaultVersion"`
	LatestVersion  int64              `json:"latestVersion"`
	Versions       []*TemplateVersion `json:"versions"`
}

// TemplateVersion is one immutable launch template version.
type TemplateVersion struct {
	Number       int64     `json:"number"`
	Description  string    `json:"description,omitempty"`
	CreateTime   time.Time `json:"createTime"`
	ImageID      string    `json:"imageId,omitempty"`
	InstanceType string    `json:"instanceType,omitempty"`
	KeyName      string    `json:"keyName,omitempty"`
}

// KeyPair is an EC2 key pair (the private key is only returned on creation).
type KeyPair struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	OwnerID     string    `json:"ownerId"`
	Type        string    `json:"type"`
	Fingerprint string    `json:"fingerprint"`
	CreateTime  time.Time `json:"createTime"`
}

// SecurityGroup is a VPC security group.
type SecurityGroup struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	VpcID       string       `json:"vpcId"`
	OwnerID     string       `json:"ownerId"`
	Ingress     []Permission `json:"ingress,omitempty"`
}

// Permission is one ingress rule.
type Permission struct {
	Protocol string   `json:"protocol"`
	FromPort int      `json:"fromPort"`
	ToPort   int      `json:"toPort"`
	CIDRs    []string `json:"cidrs,omitempty"`
}

// Volume is an EBS volume.
type Volume struct {
	ID                  string    `json:"id"`
	OwnerID             string    `json:"ownerId"`
	Size                int       `json:"size"`
	SnapshotID          string    `json:"snapshotId,omitempty"`
	AZ                  string    `json:"az"`
	State               string    `json:"state"`
	VolumeType          string    `json:"volumeType"`
	InstanceID          string    `json:"instanceId,omitempty"`
	Device              string    `json:"device,omitempty"`
	DeleteOnTermination bool      `json:"deleteOnTermination"`
	CreateTime          time.Time `json:"createTime"`
}

func newState() *State {
	return &State{Accounts: map[string]string{}, Regions: map[string]*Region{}}
}

func newRegion() *Region {
	r := &Region{}
	r.init()
	return r
}

// init fills nil maps, which JSON leaves nil for empty regions.
func (r *Region) init() {
	if r.Images == nil {
		r.Images = map[string]*Image{}
	}
	if r.Snapshots == nil {
		r.Snapshots = map[string]*Snapshot{}
	}
	if r.Instances == nil {
		r.Instances = map[string]*Instance{}
	}
	if r.LaunchTemplates == nil {
		r.LaunchTemplates = map[string]*LaunchTemplate{}
	}
	if r.KeyPairs == nil {
		r.KeyPairs = map[string]*KeyPair{}
	}
	if r.SecurityGroups == nil {
		r.SecurityGroups = map[string]*SecurityGroup{}
	}
	if r.Volumes == nil {
		r.Volumes = map[string]*Volume{}
	}
	if r.Tags == nil {
		r.Tags = map[string]map[string]string{}
	}
	if r.AccountTags == nil {
		r.AccountTags = map[string]map[string]map[string]string{}
	}
	if r.Deregistered == nil {
		r.Deregistered = map[string]*Image{}
	}
	if r.AutoScalingGroups == nil {
		r.AutoScalingGroups = map[string]*AutoScalingGroup{}
	}
	if r.LaunchConfigurations == nil {
		r.LaunchConfigurations = map[string]*LaunchConfiguration{}
	}
	if r.RetentionRules == nil {
		r.RetentionRules = map[string]*RetentionRule{}
	}
	if r.BinSnapshots == nil {
		r.BinSnapshots = map[string]*Snapshot{}
	}
	if r.UsageReports == nil {
		r.UsageReports = map[string]*UsageReport{}
	}
	if r.Parameters == nil {
		r.Parameters = map[string]map[string]*Parameter{}
	}
}

// region returns (creating on first use) the state of one region.
func (st *State) region(name string) *Region {
	r := st.Regions[name]
	if r == nil {
		r = newRegion()
		st.Regions[name] = r
	}
	return r
}

// SaveState writes the whole state as JSON.
func (s *Server) SaveState(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(s.st)
}

// LoadState replaces the whole state with JSON produced by SaveState (or hand-written).
func (s *Server) LoadState(r io.Reader) error {
	st := newState()
	if err := json.NewDecoder(r).Decode(st); err != nil {
		return err
	}
	if st.Accounts == nil {
		st.Accounts = map[string]string{}
	}
	if st.Regions == nil {
		st.Regions = map[string]*Region{}
	}
	for _, r := range st.Regions {
		r.init()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	return nil
}

// Update runs fn with exclusive access to the state, for tests and fixtures that seed
// resources directly.
func (s *Server) Update(fn func(st *State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.st)
}

// Region returns the named region's state, creating it; call it inside Update.
func (st *State) Region(name string) *Region { return st.region(name) }

// NewID allocates a deterministic id such as ami-0000000000abc0001; call it inside Update.
func (st *State) NewID(prefix string) string {
	st.Seq++
	return formatID(prefix, st.Seq)
}
