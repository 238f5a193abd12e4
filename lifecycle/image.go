// Package lifecycle is the functional core of the plugin: it models released
// machine images and decides, without any I/O, what should happen to each one.
// Backends (local catalog, AWS) translate their world into Images and Usage,
// call Plan, and carry the returned Decisions out.
package lifecycle

import "time"

// Stage is where an image stands in its retirement. Images only move forward
// (active → deprecated → disabled → deregistered) unless explicitly restored.
type Stage string

const (
	StageActive       Stage = "active"
	StageDeprecated   Stage = "deprecated"
	StageDisabled     Stage = "disabled"
	StageDeregistered Stage = "deregistered"
)

// Image is one stored copy of a release in one region (or one local catalog).
// A release built once and copied to three regions is three Images sharing
// Family, Channel and Version.
type Image struct {
	ID      string // ami-…, or the local catalog entry id
	Region  string // EC2 region, or "local"
	Name    string
	Family  string
	Channel string // release class: stable, rc, nightly, …
	Version string // semantic version when it parses, free text otherwise

	BuildTime  time.Time // when the image was created
	ReleasedAt time.Time // when the plugin recorded it as released
	ExpiresAt  time.Time // zero: never expires

	Stage      Stage     // as recorded in the image's metadata
	StageSince time.Time // when Stage was entered; delays are measured from it

	DeprecationTime time.Time // EC2 DeprecationTime, zero when not set
	State           string    // backend state: available, disabled, pending, failed, …

	Pinned    bool // keep-forever: beats every rule
	Protected bool // deregistration protection (EC2) or a local lock
	Managed   bool // carries our managed-by marker
	Owner     string
	Parent    string // id of the image this one was built from
	// SupersededBy names the new build whose run deprecated or disabled
	// the image (written before the backend call): that stage stands only
	// if the build became a release (see Plan). A Ref without a Region
	// names the id in any region (GCP labels cannot hold a region).
	SupersededBy Ref

	Snapshots []string          // EC2 snapshot ids or local artifact files
	Size      int64             // bytes of storage held (files, snapshots); 0 when unknown
	Tags      map[string]string // every tag as read, for reports and custom rules
	// Description of the image as the backend shows it (AMIs): where a
	// release's metadata is published for other accounts (see Stamp).
	Description string

	// BadMetadata says which recorded time could not be read (FromTags),
	// "" when all could: the planner never retires such an image, whose
	// delays it cannot measure.
	BadMetadata string
}

// Consumer kinds. Backends report who uses an image with one of these; a
// lookup that failed is reported as ConsumerUnknown, never left out, so the
// planner fails closed (see Usage).
const (
	ConsumerInstance            = "instance"             // ID: i-…
	ConsumerLaunchTemplate      = "launch-template"      // ID: lt-…, Version: its version
	ConsumerASG                 = "asg"                  // ID: auto scaling group name
	ConsumerLaunchConfiguration = "launch-configuration" // ID: launch configuration name
	ConsumerSSMParameter        = "ssm-parameter"        // ID: parameter name
	ConsumerImageRecipe         = "image-recipe"         // ID: EC2 Image Builder recipe ARN
	ConsumerChildImage          = "child-image"          // ID: id of an image built from this one
	ConsumerAccount             = "account"              // ID: account the image is shared with
	// ConsumerUnknown: the backend could not find out (API error, missing
	// permission, region unreachable). ID says why ("DescribeInstances:
	// AccessDenied"). The planner keeps such an image: never disabled or
	// deregistered while its usage cannot be checked.
	ConsumerUnknown = "unknown"
)

// Consumer is something that still uses an image.
type Consumer struct {
	Kind    string // one of the Consumer* kinds
	ID      string // i-…, lt-…, asg name, parameter name, image id, account id; for ConsumerUnknown: why
	Version string // launch template version, when Kind is launch-template
	Account string // owning account when it is not ours (shared images)
}

// Usage maps an image to everything found using it. An image that is absent,
// or maps to an empty list, is not in use. A backend that could not check an
// image must say so with a ConsumerUnknown entry rather than leave it out.
type Usage map[Ref][]Consumer
