//go:generate packer-sdc mapstructure-to-hcl2 -type Config,ChannelPolicy
//go:generate packer-sdc struct-markdown

package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	awsbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/aws"
	gcpbackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/gcp"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/store"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Limits on names: ids and tags are built from them (local ids are at most
// 200 characters, EC2 tag values 256).
const (
	maxFamily  = lifecycle.MaxFamily
	maxVersion = lifecycle.MaxVersion
	maxChannel = lifecycle.MaxChannel
	maxParent  = 256
)

// checkName refuses names that cannot be ids, file names or tag values:
// too long, or with control characters (a newline in a tag, a report line).
func checkName(s string, max int) error {
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("at most %d characters, got %d", max, n)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%q contains a control character at byte %d", s, i)
	}
	return nil
}

// Config is the post-processor's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`
	store.Config        `mapstructure:",squash"`

	// The image family this build belongs to, e.g. `web-base`. Releases of one
	// family supersede each other. Required; at most 100 characters.
	Family string `mapstructure:"family" required:"true"`
	// The version of this build, e.g. `1.4.2`. Semantic versions are ordered
	// as such; anything else is ordered by build time. Required unless
	// `sweep`; at most 64 characters.
	Version string `mapstructure:"version"`
	// The release channel (release class), e.g. `stable`, `rc`, `nightly`.
	// Retention counts releases per channel. Defaults to `stable`.
	Channel string `mapstructure:"channel"`
	// The id of the image this build was built from, recorded as its parent
	// (for example the `id` output of `data "lifecycle-image"`).
	Parent string `mapstructure:"parent"`

	// How many of the newest releases of the family and channel are always
	// kept, in each region, counting the new build. At least 1. Defaults to 3.
	KeepReleases *int `mapstructure:"keep_releases"`
	// No image younger than this is retired, whatever else applies, e.g.
	// `7d`, `1d12h`, `36h`. Defaults to `7d`.
	MinAge string `mapstructure:"min_age"`
	// Sets expires-at on the new build: it is no longer handed out as a
	// parent after that, e.g. `90d`. Defaults to never.
	ExpireAfter string `mapstructure:"expire_after"`
	// How long a superseded release stays active before it is deprecated,
	// counted from when it was superseded. Defaults to `0s` (as soon as it is
	// superseded and older than `min_age`).
	DeprecateAfter string `mapstructure:"deprecate_after"`
	// How long a release stays deprecated before it is disabled. Defaults to
	// `30d`.
	DisableAfter string `mapstructure:"disable_after"`
	// How long a release stays disabled before it is deregistered (deleted).
	// Defaults to `30d`.
	DeregisterAfter string `mapstructure:"deregister_after"`
	// Delete the snapshots (AWS) or files (local) of deregistered images.
	// Defaults to true: deregistration is the final stage, reached after the
	// deprecation and disable delays; set false to keep snapshots, or to keep
	// local files in quarantine.
	DeleteSnapshots *bool `mapstructure:"delete_snapshots"`
	// In a sweep, also delete the family's orphaned snapshots (AWS): those
	// this plugin tagged for the family that no AMI refers to any more. A
	// snapshot an AMI in the Recycle Bin may need is kept: one whose release
	// a binned AMI's stamp names, and every one of a region whose Recycle
	// Bin holds an AMI without a stamp. Needs `sweep = true` and
	// `delete_snapshots` left true.
	DeleteOrphanedSnapshots bool `mapstructure:"delete_orphaned_snapshots"`
	// Deprecate releases past their expires-at even when not superseded. This
	// is a soft signal: they are never disabled or deleted while they are
	// among the newest kept releases. Defaults to true.
	DeprecateExpired *bool `mapstructure:"deprecate_expired"`
	// A release still pending this long after it was recorded was left by a
	// run that stopped before it finished, for example a killed Packer. The
	// next run forgets it: the plugin's metadata goes, so it is no longer
	// managed; the image itself stays, and the report names it for you to
	// delete. `0s` never forgets; otherwise at least `1h`. Defaults to `1d`.
	ForgetPendingAfter string `mapstructure:"forget_pending_after"`
	// Rules for one channel that override the settings above, e.g. keep 2 rc
	// releases that expire after 30 days. May be repeated.
	ChannelPolicies []ChannelPolicy `mapstructure:"channel_policy"`

	// Pin the new build: it is kept forever, whatever the rules say.
	Pin bool `mapstructure:"pin"`
	// Plan and report, but change nothing: every mutating call runs as its
	// dry-run twin.
	DryRun bool `mapstructure:"dry_run"`
	// Act at the time in the `PACKER_LIFECYCLE_NOW` environment variable
	// (RFC 3339) instead of the wall clock, in a run that changes images:
	// for rehearsing a policy over simulated weeks. Without it that variable
	// is honoured only with `dry_run = true`, and a real run with it set
	// fails at validate, so a stray value can never time-travel a run that
	// retires images. A simulated time is always announced.
	AllowSimulatedTime bool `mapstructure:"allow_simulated_time"`
	// Retire per policy without recording the build's artifact (for a
	// scheduled clean-up build that uses the `null` builder).
	Sweep bool `mapstructure:"sweep"`
	// Bring these releases (ids, or `region:id`: AMI ids on AWS, catalog ids
	// locally; checked at validate) back from deprecated or disabled to
	// active, instead of retiring anything; needs `sweep = true`. Pin a restored
	// release to keep it from being retired again.
	Restore []string `mapstructure:"restore"`
	// Revoke these releases now (ids, or `region:id`, as `restore` takes
	// them; needs `sweep = true` and `revoke_reason`): each is deprecated in
	// every region it was copied to, outside every retention rule, so the
	// data source hands it out no more; with `revoke_descendants`, so is
	// every release built from it, in any family. A pinned release is kept
	// and reported. Running instances are not touched; the stages that
	// follow deprecation apply as usual. `restore` undoes it.
	Revoke []string `mapstructure:"revoke"`
	// Also revoke every release built from a revoked one (its `parent`,
	// the id the data source handed out), and those built from them, in
	// every family the backend covers.
	RevokeDescendants bool `mapstructure:"revoke_descendants"`
	// Why the releases are revoked, e.g. `CVE-2026-1234 in openssl`, for
	// every decision in the report; required with `revoke`; at most 256
	// characters.
	RevokeReason string `mapstructure:"revoke_reason"`
	// Pin these existing releases (ids, or `region:id`): they are kept
	// forever, whatever the rules say; needs `sweep = true`. The local
	// catalog records it in the entry, AWS in the `lifecycle:pin` tag.
	PinReleases []string `mapstructure:"pin_releases"`
	// Unpin these releases (ids, or `region:id`), so the rules apply to
	// them again; needs `sweep = true`.
	UnpinReleases []string `mapstructure:"unpin_releases"`
	// Where the JSON report is written: a `.json` file outside `catalog_dir`
	// (or inside its `reports/` directory), not a symlink. Defaults to a new
	// file `<catalog_dir>/reports/<family>-<time>.json` per run.
	ReportPath string `mapstructure:"report_path"`
	// Write here (a `.json` file, as `report_path` may be, and not the
	// report) the Allowed AMIs image criteria of the family's AWS account,
	// for the accounts it shares releases with: they then discover and
	// launch its AMIs only until they have been deprecated
	// `allowed_images_max_days_deprecated` days. Apply them in each such
	// account and region with `aws ec2
	// replace-image-criteria-in-allowed-images-settings --image-criteria
	// file://PATH` and `aws ec2 enable-allowed-images-settings
	// --allowed-images-settings-state audit-mode` (then `enabled`). AWS
	// backend only.
	AllowedImagesPath string `mapstructure:"allowed_images_path"`
	// How many days after its deprecation an AMI stays allowed by the
	// criteria of `allowed_images_path`, 0 (a deprecated AMI is refused at
	// once) to 3650. Defaults to `disable_after` in whole days: a consumer
	// then refuses what the policy would have disabled, also the releases
	// kept deprecated because something still uses them.
	AllowedImagesMaxDaysDeprecated *int `mapstructure:"allowed_images_max_days_deprecated"`
	// An organisation-wide sweep (AWS, `sweep = true`): one `accounts`
	// block per member account, each naming the role to assume in it. Every
	// account is swept in parallel (8 at a time), each region of it in
	// parallel, each with its own rate limits, into one report; an account
	// that cannot be assumed is reported and fails the run once the others
	// are swept. Each account retires only the AMIs it owns, so `owners`
	// is refused, and so are `restore`, `pin_releases` and
	// `unpin_releases` (run them in the account that owns the AMI). The
	// caller's own account is swept only when it is listed too.
	Accounts []awsbackend.AccountConfig `mapstructure:"accounts"`

	ctx interpolate.Context
}

// ChannelPolicy overrides retention settings for one channel.
type ChannelPolicy struct {
	// The channel these rules apply to. Required.
	Name string `mapstructure:"name" required:"true"`
	// How many releases of this channel are kept (at least 1). Unset: the
	// top-level `keep_releases`.
	KeepReleases *int `mapstructure:"keep_releases"`
	// Expiry of new builds of this channel. Unset: the top-level
	// `expire_after`.
	ExpireAfter string `mapstructure:"expire_after"`
	// Releases of this channel never expire, even those recorded with an
	// expiry earlier.
	NeverExpire bool `mapstructure:"never_expire"`
	// Overrides `min_age` for this channel. Unset: inherited.
	MinAge string `mapstructure:"min_age"`
	// Overrides `deprecate_after` for this channel. Unset: inherited.
	DeprecateAfter string `mapstructure:"deprecate_after"`
	// Overrides `disable_after` for this channel. Unset: inherited.
	DisableAfter string `mapstructure:"disable_after"`
	// Overrides `deregister_after` for this channel. Unset: inherited.
	DeregisterAfter string `mapstructure:"deregister_after"`
}

// validate checks the configuration before anything is touched and names the
// offending field in every error.
func (c *Config) validate() error {
	errs := c.Config.Prepare(c.PackerBuilderType)
	if c.Family == "" {
		errs = append(errs, errors.New("family: must be set"))
	}
	if c.Version == "" && !c.Sweep {
		errs = append(errs, errors.New("version: must be set (or set sweep = true to retire without recording a build)"))
	}
	for field, v := range map[string]struct {
		s   string
		max int
	}{"family": {c.Family, maxFamily}, "version": {c.Version, maxVersion}, "channel": {c.Channel, maxChannel}, "parent": {c.Parent, maxParent}} {
		if err := checkName(v.s, v.max); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	for field, ids := range map[string][]string{"restore": c.Restore, "revoke": c.Revoke, "pin_releases": c.PinReleases, "unpin_releases": c.UnpinReleases} {
		for i, id := range ids {
			if strings.TrimSpace(id) == "" {
				errs = append(errs, fmt.Errorf("%s[%d]: must be a release id (or region:id), got %q", field, i, id))
			} else if err := c.Config.CheckRef(id); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
			} else {
				ids[i] = c.Config.NormalizeRef(id)
			}
		}
	}
	if now, err := clock.Now(); err != nil {
		errs = append(errs, err)
	} else if clock.Simulated() && !c.DryRun && !c.AllowSimulatedTime {
		errs = append(errs, fmt.Errorf("allow_simulated_time: %s is set (%s) and this run changes images; "+
			"set dry_run = true to rehearse, or allow_simulated_time = true to act at that time, or unset %[1]s",
			clock.Env, now.Format(time.RFC3339)))
	}
	if c.Backend == store.AWS && !c.Sweep && c.Family != "" && c.Version != "" {
		// Worst case: an expiry and the longest AMI id; a parent that does
		// not fit is left out of the stamp.
		probe := lifecycle.Image{ID: "ami-" + strings.Repeat("0", 17), Family: c.Family, Version: c.Version, Channel: c.Channel,
			ReleasedAt: time.Unix(0, 0), ExpiresAt: time.Unix(0, 0)}
		if _, fits := lifecycle.Stamp(probe, c.ManagedBy); !fits {
			errs = append(errs, fmt.Errorf("family, version, channel, managed_by: together too long to publish in an AMI description (%d characters, where the accounts an AMI is shared with read its release metadata): shorten them", lifecycle.MaxDescription))
		}
	}
	if c.Backend == store.GCP {
		errs = append(errs, c.checkGCPLabels()...)
	}
	if c.PackerBuilderType == "null" && !c.Sweep {
		errs = append(errs, errors.New("sweep: the null builder produces no image to record; set sweep = true to retire without recording a build"))
	}
	if c.Pin && c.Sweep {
		errs = append(errs, errors.New("pin: pins the new build, but sweep = true records none"))
	}
	if c.KeepReleases != nil && *c.KeepReleases < 1 {
		errs = append(errs, fmt.Errorf("keep_releases: must be at least 1 (the newest release is always kept), got %d", *c.KeepReleases))
	}
	for field, v := range map[string]string{
		"min_age": c.MinAge, "expire_after": c.ExpireAfter, "deprecate_after": c.DeprecateAfter,
		"disable_after": c.DisableAfter, "deregister_after": c.DeregisterAfter,
	} {
		if _, err := parseOptionalDuration(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	if d, err := parseOptionalDuration(c.ForgetPendingAfter); err != nil {
		errs = append(errs, fmt.Errorf("forget_pending_after: %w", err))
	} else if d != 0 && d < time.Hour {
		errs = append(errs, fmt.Errorf("forget_pending_after: %q is shorter than 1h: a run's own build is pending while it runs, and must not be forgotten by another run; use 0s for never", c.ForgetPendingAfter))
	}
	seen := map[string]bool{}
	for i, cp := range c.ChannelPolicies {
		where := fmt.Sprintf("channel_policy[%d]", i)
		if cp.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: must be set", where))
		} else if err := checkName(cp.Name, maxChannel); err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %w", where, err))
		} else if seen[cp.Name] {
			errs = append(errs, fmt.Errorf("%s.name: channel %q has more than one channel_policy", where, cp.Name))
		}
		seen[cp.Name] = true
		if cp.KeepReleases != nil && *cp.KeepReleases < 1 {
			errs = append(errs, fmt.Errorf("%s.keep_releases: must be at least 1, got %d", where, *cp.KeepReleases))
		}
		for field, v := range map[string]string{
			"expire_after": cp.ExpireAfter, "min_age": cp.MinAge, "deprecate_after": cp.DeprecateAfter,
			"disable_after": cp.DisableAfter, "deregister_after": cp.DeregisterAfter,
		} {
			if _, err := parseOptionalDuration(v); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %w", where, field, err))
			}
		}
		if cp.NeverExpire && cp.ExpireAfter != "" {
			errs = append(errs, fmt.Errorf("%s: never_expire and expire_after contradict each other", where))
		}
	}
	if len(c.Restore) > 0 && !c.Sweep {
		errs = append(errs, errors.New("restore: needs sweep = true (a restore records no build)"))
	}
	errs = append(errs, c.checkRevoke()...)
	if len(c.PinReleases) > 0 && !c.Sweep {
		errs = append(errs, errors.New("pin_releases: needs sweep = true"))
	}
	if len(c.UnpinReleases) > 0 && !c.Sweep {
		errs = append(errs, errors.New("unpin_releases: needs sweep = true"))
	}
	for _, id := range c.PinReleases {
		if slices.Contains(c.UnpinReleases, id) {
			errs = append(errs, fmt.Errorf("pin_releases, unpin_releases: %s is in both", id))
		}
	}
	if c.DeleteOrphanedSnapshots {
		switch {
		case c.Backend != store.AWS:
			errs = append(errs, fmt.Errorf("delete_orphaned_snapshots: orphaned snapshots are AMIs'; the backend is %s", c.Backend))
		case !c.Sweep:
			errs = append(errs, errors.New("delete_orphaned_snapshots: orphaned snapshots are looked for in sweeps only; set sweep = true"))
		case c.DeleteSnapshots != nil && !*c.DeleteSnapshots:
			errs = append(errs, errors.New("delete_orphaned_snapshots: delete_snapshots = false keeps the snapshots of deregistered AMIs, which this would then delete; choose one"))
		}
	}
	if len(c.Accounts) > 0 {
		errs = append(errs, c.checkAccounts()...)
	}
	if c.AllowedImagesPath != "" || c.AllowedImagesMaxDaysDeprecated != nil {
		errs = append(errs, c.checkAllowedImages()...)
	}
	if err := c.checkReportPath(); err != nil {
		errs = append(errs, fmt.Errorf("report_path: %w", err))
	}
	return errors.Join(errs...)
}

// checkRevoke checks revoke and its options.
func (c *Config) checkRevoke() []error {
	var errs []error
	if len(c.Revoke) == 0 {
		if c.RevokeDescendants {
			errs = append(errs, errors.New("revoke_descendants: goes with revoke, which is not set"))
		}
		if c.RevokeReason != "" {
			errs = append(errs, errors.New("revoke_reason: goes with revoke, which is not set"))
		}
		return errs
	}
	if !c.Sweep {
		errs = append(errs, errors.New("revoke: needs sweep = true (a revocation records no build)"))
	}
	if strings.TrimSpace(c.RevokeReason) == "" {
		errs = append(errs, errors.New("revoke_reason: must be set with revoke: it is said in every decision and the report"))
	} else if err := checkName(c.RevokeReason, 256); err != nil {
		errs = append(errs, fmt.Errorf("revoke_reason: %w", err))
	}
	if len(c.Restore) > 0 {
		errs = append(errs, errors.New("revoke, restore: one undoes the other; run them apart"))
	}
	if len(c.Accounts) > 0 {
		errs = append(errs, errors.New("revoke: not with accounts: revoke in the account that owns the release"))
	}
	for _, id := range c.Revoke {
		if slices.Contains(c.PinReleases, id) {
			errs = append(errs, fmt.Errorf("revoke, pin_releases: %s is in both", id))
		}
	}
	return errs
}

// maxAccounts bounds accounts: an organisation holds at most a few
// thousand (AWS's quota can be raised to 10,000).
const maxAccounts = 10000

// checkAccounts checks an organisation-wide sweep's accounts.
func (c *Config) checkAccounts() []error {
	var errs []error
	if c.Backend != store.AWS {
		errs = append(errs, fmt.Errorf("accounts: an organisation-wide sweep is AWS's; the backend is %s", c.Backend))
	}
	if !c.Sweep {
		errs = append(errs, errors.New("accounts: sweeps other accounts, but a build records its image in its own; set sweep = true"))
	}
	if len(c.Accounts) > maxAccounts {
		errs = append(errs, fmt.Errorf("accounts: %d blocks, at most %d", len(c.Accounts), maxAccounts))
	}
	for _, f := range []struct {
		field string
		set   bool
	}{{"owners", len(c.Owners) > 0}, {"restore", len(c.Restore) > 0}, {"pin_releases", len(c.PinReleases) > 0}, {"unpin_releases", len(c.UnpinReleases) > 0}} {
		if f.set {
			errs = append(errs, fmt.Errorf("%s: not with accounts: each account sweeps the AMIs it owns; run %[1]s in the account that owns them", f.field))
		}
	}
	first := map[string]int{}
	for i, a := range c.Accounts {
		field := fmt.Sprintf("accounts[%d]", i)
		errs = append(errs, a.Check(field)...)
		if id := a.Account(); id != "" {
			if j, dup := first[id]; dup {
				errs = append(errs, fmt.Errorf("%s.assume_role.role_arn: account %s is accounts[%d] already: it would be swept twice at once", field, id, j))
			} else {
				first[id] = i
			}
		}
	}
	return errs
}

// checkGCPLabels refuses what Compute Engine labels cannot carry: the
// family must be a Compute Engine family name (the backend puts images in
// it), and every other value must encode in 63 characters.
func (c *Config) checkGCPLabels() []error {
	var errs []error
	if c.Family != "" {
		if err := gcpbackend.CheckFamily(c.Family); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range []struct{ field, tag, v string }{
		{"version", lifecycle.TagVersion, c.Version}, {"channel", lifecycle.TagChannel, c.Channel}, {"parent", lifecycle.TagParent, c.Parent},
	} {
		if err := gcpbackend.CheckLabelValue(f.field, f.tag, f.v); err != nil {
			errs = append(errs, err)
		}
	}
	for i, cp := range c.ChannelPolicies {
		if err := gcpbackend.CheckLabelValue(fmt.Sprintf("channel_policy[%d].name", i), lifecycle.TagChannel, cp.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// checkReportPath refuses a report that could replace what the plugin
// keeps: the catalog, its backup or lock, the quarantine (anything in
// catalog_dir but reports/), or whatever a symlink points at.
func (c *Config) checkReportPath() error { return c.checkOutputPath(c.ReportPath) }

// checkOutputPath is checkReportPath for any file the plugin writes.
func (c *Config) checkOutputPath(path string) error {
	if path == "" {
		return nil
	}
	if filepath.Ext(path) != ".json" {
		return fmt.Errorf("%q should end in .json", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%q is a symlink; name the file itself", path)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%q exists and is not a regular file", path)
		}
	}
	abs, err := realAbs(path)
	if err != nil {
		return err
	}
	catalog, err := realAbs(c.CatalogDir)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(catalog, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		if dir, _ := filepath.Split(rel); filepath.Clean(dir) != "reports" {
			return fmt.Errorf("%q lies inside catalog_dir %q, where only its reports/ directory may hold reports", path, c.CatalogDir)
		}
	}
	return nil
}

// maxAllowedDays bounds allowed_images_max_days_deprecated: ten years.
const maxAllowedDays = 3650

// checkAllowedImages checks allowed_images_path and its days.
func (c *Config) checkAllowedImages() []error {
	var errs []error
	if c.Backend != store.AWS {
		errs = append(errs, fmt.Errorf("allowed_images_path: Allowed AMIs are EC2's; the backend is %s", c.Backend))
	}
	if c.AllowedImagesPath == "" {
		errs = append(errs, errors.New("allowed_images_max_days_deprecated: goes with allowed_images_path, which is not set"))
	}
	if d := c.AllowedImagesMaxDaysDeprecated; d != nil && (*d < 0 || *d > maxAllowedDays) {
		errs = append(errs, fmt.Errorf("allowed_images_max_days_deprecated: %d is not between 0 and %d", *d, maxAllowedDays))
	}
	if err := c.checkOutputPath(c.AllowedImagesPath); err != nil {
		errs = append(errs, fmt.Errorf("allowed_images_path: %w", err))
	} else if c.AllowedImagesPath != "" && c.ReportPath != "" {
		a, errA := realAbs(c.AllowedImagesPath)
		r, errR := realAbs(c.ReportPath)
		if errA == nil && errR == nil && a == r {
			errs = append(errs, fmt.Errorf("allowed_images_path: %q is report_path too: one would replace the other", c.AllowedImagesPath))
		}
	}
	return errs
}

// checkReportPathAgainst refuses a report_path that is one of the
// artifact's files: writing the report would replace the build.
func (c *Config) checkReportPathAgainst(files []string) error {
	for field, path := range map[string]string{"report_path": c.ReportPath, "allowed_images_path": c.AllowedImagesPath} {
		if path == "" {
			continue
		}
		out, err := realAbs(path)
		if err != nil {
			return err
		}
		for _, f := range files {
			if p, err := realAbs(f); err == nil && p == out {
				return fmt.Errorf("%s %q is the artifact file %s: writing it would replace the build", field, path, f)
			}
		}
	}
	return nil
}

// realAbs is the absolute path with the symlinks of its existing part
// resolved, so that two spellings of one place compare equal.
func realAbs(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return filepath.Join(append([]string{abs}, rest...)...), nil
		}
		rest = append([]string{filepath.Base(abs)}, rest...)
		abs = parent
	}
}

// parseOptionalDuration reads a policy duration; empty means "not set".
func parseOptionalDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return lifecycle.ParseDuration(s)
}
