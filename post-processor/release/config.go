//go:generate packer-sdc mapstructure-to-hcl2 -type Config,ChannelPolicy
//go:generate packer-sdc struct-markdown

package release

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Backend names accepted by `backend`.
const (
	BackendAuto  = "auto"
	BackendLocal = "local"
	BackendAWS   = "aws"
)

// Config is the post-processor's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// The image family this build belongs to, e.g. `web-base`. Releases of one
	// family supersede each other. Required.
	Family string `mapstructure:"family" required:"true"`
	// The version of this build, e.g. `1.4.2`. Semantic versions are ordered
	// as such; anything else is ordered by build time. Required unless `sweep`.
	Version string `mapstructure:"version"`
	// The release channel (release class), e.g. `stable`, `rc`, `nightly`.
	// Retention counts releases per channel. Defaults to `stable`.
	Channel string `mapstructure:"channel"`
	// The id of the image this build was built from, recorded as its parent
	// (for example the `id` output of `data "lifecycle-image"`).
	Parent string `mapstructure:"parent"`
	// Where images live: `local` (a catalog beside file artifacts) or `auto`
	// (amazon builders' AMIs go to the AWS backend, anything else to local).
	// `aws` is reserved for the AWS backend, which is not in this version yet.
	// Defaults to `auto`.
	Backend string `mapstructure:"backend"`
	// Directory of the local catalog. Defaults to `.packer-lifecycle` in the
	// current directory.
	CatalogDir string `mapstructure:"catalog_dir"`
	// The marker written on every image this plugin manages; images without
	// it are never retired. Defaults to `packer-plugin-lifecycle`.
	ManagedBy string `mapstructure:"managed_by"`

	// How many of the newest releases of the family and channel are always
	// kept, in each region. The new build is kept in addition. Defaults to 3.
	KeepReleases int `mapstructure:"keep_releases"`
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
	// Deprecate releases past their expires-at even when not superseded. This
	// is a soft signal: they are never disabled or deleted while they are
	// among the newest kept releases. Defaults to true.
	DeprecateExpired *bool `mapstructure:"deprecate_expired"`
	// Rules for one channel that override the settings above, e.g. keep 2 rc
	// releases that expire after 30 days. May be repeated.
	ChannelPolicies []ChannelPolicy `mapstructure:"channel_policy"`

	// Pin the new build: it is kept forever, whatever the rules say.
	Pin bool `mapstructure:"pin"`
	// Plan and report, but change nothing: every mutating call runs as its
	// dry-run twin.
	DryRun bool `mapstructure:"dry_run"`
	// Retire per policy without recording the build's artifact (for a
	// scheduled clean-up build that uses the `null` builder).
	Sweep bool `mapstructure:"sweep"`
	// Bring these releases (ids) back from deprecated or disabled to active,
	// instead of retiring anything; needs `sweep = true`. Pin a restored
	// release to keep it from being retired again.
	Restore []string `mapstructure:"restore"`
	// Where the JSON report is written. Defaults to
	// `<catalog_dir>/reports/<family>-<time>.json`.
	ReportPath string `mapstructure:"report_path"`

	ctx interpolate.Context
}

// ChannelPolicy overrides retention settings for one channel.
type ChannelPolicy struct {
	// The channel these rules apply to. Required.
	Name string `mapstructure:"name" required:"true"`
	// How many releases of this channel are kept. 0: the top-level value.
	KeepReleases int `mapstructure:"keep_releases"`
	// Expiry of new builds of this channel; empty: the top-level value.
	ExpireAfter string `mapstructure:"expire_after"`
	// Releases of this channel never expire.
	NeverExpire bool `mapstructure:"never_expire"`
	// Overrides of the top-level delays for this channel; empty: inherited.
	MinAge          string `mapstructure:"min_age"`
	DeprecateAfter  string `mapstructure:"deprecate_after"`
	DisableAfter    string `mapstructure:"disable_after"`
	DeregisterAfter string `mapstructure:"deregister_after"`
}

// validate checks the configuration before anything is touched and names the
// offending field in every error.
func (c *Config) validate() error {
	var errs []error
	if c.Family == "" {
		errs = append(errs, errors.New("family: must be set"))
	}
	if c.Version == "" && !c.Sweep {
		errs = append(errs, errors.New("version: must be set (or set sweep = true to retire without recording a build)"))
	}
	switch c.Backend {
	case BackendAuto, BackendLocal:
	case BackendAWS:
		errs = append(errs, errors.New(`backend: "aws" is not available in this version of the plugin yet; use "local"`))
	default:
		errs = append(errs, fmt.Errorf("backend: %q is not one of auto, local, aws", c.Backend))
	}
	if c.Pin && c.Sweep {
		errs = append(errs, errors.New("pin: pins the new build, but sweep = true records none"))
	}
	if c.KeepReleases < 0 {
		errs = append(errs, fmt.Errorf("keep_releases: must be at least 1, got %d", c.KeepReleases))
	}
	for field, v := range map[string]string{
		"min_age": c.MinAge, "expire_after": c.ExpireAfter, "deprecate_after": c.DeprecateAfter,
		"disable_after": c.DisableAfter, "deregister_after": c.DeregisterAfter,
	} {
		if _, err := parseOptionalDuration(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	seen := map[string]bool{}
	for i, cp := range c.ChannelPolicies {
		where := fmt.Sprintf("channel_policy[%d]", i)
		if cp.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: must be set", where))
		} else if seen[cp.Name] {
			errs = append(errs, fmt.Errorf("%s.name: channel %q has more than one channel_policy", where, cp.Name))
		}
		seen[cp.Name] = true
		if cp.KeepReleases < 0 {
			errs = append(errs, fmt.Errorf("%s.keep_releases: must be at least 1, got %d", where, cp.KeepReleases))
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
	if c.ReportPath != "" && filepath.Ext(c.ReportPath) != ".json" {
		errs = append(errs, fmt.Errorf("report_path: %q should end in .json", c.ReportPath))
	}
	return errors.Join(errs...)
}

// parseOptionalDuration reads a policy duration; empty means "not set".
func parseOptionalDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return lifecycle.ParseDuration(s)
}
