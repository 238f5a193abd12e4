package lifecycle

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Day is a convenience for policies written in code; HCL users write "7d"
// (see ParseDuration).
const Day = 24 * time.Hour

// DefaultManagedBy is the managed-by marker DefaultPolicy expects on images
// this plugin created.
const DefaultManagedBy = "packer-plugin-lifecycle"

// Policy says how many releases to keep and how fast superseded ones retire.
// The field comments name the HCL attribute each knob maps to.
type Policy struct {
	// keep_releases: distinct versions kept per (family, channel, region).
	// Copies of one release in several regions count once per region, so a
	// region never loses a release because another region has more copies.
	KeepReleases int
	// min_age: no image younger than this (by build time) is touched at all,
	// whatever else the policy says. It also applies again after a restore.
	MinAge time.Duration
	// expire_after: sets expires-at (and EC2 DeprecationTime) on new builds.
	// Zero means never.
	ExpireAfter time.Duration
	// never_expire: no expiry is set, and the planner ignores an expires-at
	// recorded earlier (before the channel became never_expire). Usually set
	// per channel (ChannelPolicy.NeverExpire); For carries it over.
	NeverExpire bool
	// deprecate_after: how long a superseded image stays active, counted from
	// the later of its release (or restore) and the moment it was superseded.
	DeprecateAfter time.Duration
	// disable_after: how long an image stays deprecated before it is disabled.
	DisableAfter time.Duration
	// deregister_after: how long an image stays disabled before deregistering.
	DeregisterAfter time.Duration
	// delete_snapshots: delete the snapshots (or local artifact files) along
	// with a deregistered image.
	DeleteSnapshots bool
	// deprecate_expired: deprecate an expired image even while it is among the
	// newest kept releases. Deprecation is only a soft signal (EC2 hides the
	// image from listings, launches by id still work); such an image is never
	// disabled or deregistered while it is among the newest releases.
	DeprecateExpired bool
	// channel "name" { … }: per release-class overrides.
	Channels map[string]ChannelPolicy
	// owners: the accounts whose images we may retire. Empty means the owner is
	// not checked (a local catalog has no owners).
	Owners []string
	// managed_by: the value of the lifecycle:managed-by tag that marks images
	// as ours. Backends compare it when they fill Image.Managed.
	ManagedBy string
	// forget_pending_after: a release still pending this long after it was
	// recorded was left by a run that stopped before it finished (a killed
	// packer): it is forgotten (ActionForget). Zero means never.
	ForgetPendingAfter time.Duration
}

// ChannelPolicy overrides Policy for one channel. Nil fields inherit, a
// non-nil one is an explicit value (so keep_releases = 0 is a value, which
// Validate rejects, not "inherit").
type ChannelPolicy struct {
	KeepReleases     *int
	MinAge           *time.Duration
	ExpireAfter      *time.Duration
	DeprecateAfter   *time.Duration
	DisableAfter     *time.Duration
	DeregisterAfter  *time.Duration
	DeleteSnapshots  *bool
	DeprecateExpired *bool
	// NeverExpire (never_expire) forces ExpireAfter to zero and sets
	// Policy.NeverExpire, e.g. for stable.
	NeverExpire bool
}

// DefaultPolicy is what a cautious user would pick: every step before the
// irreversible one is reversible and slow.
//
//   - keep_releases 3: one rollback target plus a spare.
//   - min_age 7d: a fresh image is never touched, however many builds follow
//     it (a burst of CI builds must not retire last week's release).
//   - expire_after 0 (never): expiry is opt-in, per channel.
//   - deprecate_after 0: deprecation is a soft, reversible signal, so a
//     superseded image (past min_age) is deprecated in the same run as the
//     build that supersedes it.
//   - disable_after 30d: disabling breaks launches; give consumers a month
//     of deprecation warnings first.
//   - deregister_after 30d: deregistration is the irreversible step; a
//     disabled image can still be re-enabled for a month.
//   - delete_snapshots true: deregistration is the delete stage the whole
//     path leads to, reached only after two months of warnings in which
//     everything could be restored; snapshots (or files) left behind would
//     keep costing storage with no image to show for them.
//   - deprecate_expired true: only matters once expire_after is set, and then
//     the user asked for expiry; it never disables or deregisters.
func DefaultPolicy() Policy {
	return Policy{
		KeepReleases:     3,
		MinAge:           7 * Day,
		ExpireAfter:      0,
		DeprecateAfter:   0,
		DisableAfter:     30 * Day,
		DeregisterAfter:  30 * Day,
		DeleteSnapshots:  true,
		DeprecateExpired: true,
		ManagedBy:        DefaultManagedBy,
		// A run records its build pending and releases it minutes later;
		// a day is far beyond any run, and forgetting deletes nothing.
		ForgetPendingAfter: Day,
	}
}

// For returns the effective policy of one channel: p with that channel's
// overrides applied. The result has no Channels, so For is idempotent.
func (p Policy) For(channel string) Policy {
	eff := p
	eff.Channels = nil
	c, ok := p.Channels[channel]
	if !ok {
		return eff
	}
	override(&eff.KeepReleases, c.KeepReleases)
	override(&eff.MinAge, c.MinAge)
	override(&eff.ExpireAfter, c.ExpireAfter)
	override(&eff.DeprecateAfter, c.DeprecateAfter)
	override(&eff.DisableAfter, c.DisableAfter)
	override(&eff.DeregisterAfter, c.DeregisterAfter)
	override(&eff.DeleteSnapshots, c.DeleteSnapshots)
	override(&eff.DeprecateExpired, c.DeprecateExpired)
	if c.ExpireAfter != nil && *c.ExpireAfter != 0 {
		eff.NeverExpire = false // the channel expires, whatever the default says
	}
	if c.NeverExpire {
		eff.ExpireAfter, eff.NeverExpire = 0, true
	}
	return eff
}

// override sets *dst to *v when the channel sets v (nil inherits).
func override[T any](dst, v *T) {
	if v != nil {
		*dst = *v
	}
}

// ExpiresAt is when a release of the channel released at releasedAt expires;
// zero when the channel never expires or the release time is unknown.
func (p Policy) ExpiresAt(channel string, releasedAt time.Time) time.Time {
	eff := p.For(channel)
	if eff.ExpireAfter <= 0 || eff.NeverExpire || releasedAt.IsZero() {
		return time.Time{}
	}
	return releasedAt.Add(eff.ExpireAfter)
}

// Validate reports every problem at once (errors.Join), each naming the HCL
// attribute so a user can find it: `channel "rc": keep_releases must be at
// least 1 (got 0)`. keep_releases must be at least 1 everywhere. The
// planner treats the two kinds differently: a problem outside the channels
// keeps every image, a problem in one channel's override keeps that
// channel's images only.
func (p Policy) Validate() error {
	errs := []error{p.validateTop()}
	for _, name := range slices.Sorted(maps.Keys(p.Channels)) {
		errs = append(errs, p.validateChannel(name))
	}
	return errors.Join(errs...)
}

// validateTop checks everything but the channel overrides.
func (p Policy) validateTop() error {
	errs := knobErrors("", &p.KeepReleases, &p.MinAge, &p.ExpireAfter,
		&p.DeprecateAfter, &p.DisableAfter, &p.DeregisterAfter)
	if p.NeverExpire && p.ExpireAfter != 0 {
		errs = append(errs, errors.New("never_expire conflicts with expire_after"))
	}
	if p.ManagedBy == "" {
		errs = append(errs, errors.New("managed_by must not be empty"))
	}
	if p.ForgetPendingAfter < 0 {
		errs = append(errs, fmt.Errorf("forget_pending_after must not be negative (got %s)", formatDuration(p.ForgetPendingAfter)))
	}
	for i, o := range p.Owners {
		if o == "" {
			errs = append(errs, fmt.Errorf("owners[%d] must not be empty", i))
		}
	}
	return errors.Join(errs...)
}

// validateChannel checks the override of one channel (nil when it has none).
func (p Policy) validateChannel(name string) error {
	c, ok := p.Channels[name]
	if !ok {
		return nil
	}
	var errs []error
	prefix := fmt.Sprintf("channel %q: ", name)
	if name == "" {
		errs = append(errs, errors.New(prefix+"name must not be empty"))
	}
	if c.NeverExpire && c.ExpireAfter != nil && *c.ExpireAfter != 0 {
		errs = append(errs, errors.New(prefix+"never_expire conflicts with expire_after"))
	}
	// Only what the override sets; inherited values are checked by validateTop.
	errs = append(errs, knobErrors(prefix, c.KeepReleases, c.MinAge, c.ExpireAfter,
		c.DeprecateAfter, c.DisableAfter, c.DeregisterAfter)...)
	return errors.Join(errs...)
}

// knobErrors checks the numeric knobs that are set (non-nil).
func knobErrors(prefix string, keep *int, minAge, expire, deprecate, disable, deregister *time.Duration) []error {
	var errs []error
	if keep != nil && *keep < 1 {
		// Zero would let a plan retire every release but the new build.
		errs = append(errs, fmt.Errorf("%skeep_releases must be at least 1 (got %d)", prefix, *keep))
	}
	for _, k := range []struct {
		name string
		d    *time.Duration
	}{
		{"min_age", minAge},
		{"expire_after", expire},
		{"deprecate_after", deprecate},
		{"disable_after", disable},
		{"deregister_after", deregister},
	} {
		if k.d != nil && *k.d < 0 {
			errs = append(errs, fmt.Errorf("%s%s must not be negative (got %s)", prefix, k.name, formatDuration(*k.d)))
		}
	}
	return errs
}
