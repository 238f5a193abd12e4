//go:generate packer-sdc mapstructure-to-hcl2 -type AssumeRoleConfig,AccountConfig
//go:generate packer-sdc struct-markdown

package aws

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/wholebody"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// AccessConfig is how the AWS backend reaches EC2, with the amazon
// plugin's option names, plus which regions and accounts it covers. It is
// shared by the post-processor and the data source. Nothing is contacted
// before a build runs: `packer validate` only checks the values.
type AccessConfig struct {
	// The region of the AWS backend's clients, and the one the data source
	// reads. Defaults to the SDK's (`AWS_REGION`, the profile). The
	// post-processor covers every region of the build's artifact (the
	// `ami_regions` copies) besides.
	Region string `mapstructure:"region"`
	// More regions to sweep beyond the artifact's own and `region`, e.g.
	// regions an older build was copied to.
	Regions []string `mapstructure:"regions"`
	// The accounts whose AMIs may be listed and retired (12-digit account
	// ids, or `self`). Defaults to the caller's own account, resolved by EC2
	// at run time. The data source reads a producer's shared family with
	// the producer's account id here: it then reads the release metadata
	// the post-processor publishes in each AMI's description (EC2 shows
	// the accounts an AMI is shared with none of the owner's tags).
	Owners []string `mapstructure:"owners"`
	// The shared-config profile, as with the amazon plugin.
	Profile string `mapstructure:"profile"`
	// Path to a shared credentials file instead of `~/.aws/credentials`.
	SharedCredentialsFile string `mapstructure:"shared_credentials_file"`
	// Static credentials; prefer a profile, the environment or an instance
	// role. `access_key` and `secret_key` go together.
	AccessKey string `mapstructure:"access_key"`
	// The secret of `access_key`.
	SecretKey string `mapstructure:"secret_key"`
	// A session token for temporary static credentials.
	Token string `mapstructure:"token"`
	// A role to assume (STS AssumeRole) with the credentials found above.
	AssumeRole AssumeRoleConfig `mapstructure:"assume_role"`
	// The EC2 endpoint, e.g. a VPC endpoint: an http(s) URL without
	// credentials (`user:password@` is refused). `AWS_ENDPOINT_URL_EC2`,
	// `AWS_ENDPOINT_URL_AUTOSCALING` and `AWS_ENDPOINT_URL_SSM` are honoured
	// for every client as well.
	CustomEndpointEC2 string `mapstructure:"custom_endpoint_ec2"`
	// How many times a call is attempted in all when EC2 throttles
	// (`RequestLimitExceeded`) or fails transiently, with the SDK's standard
	// retryer (exponential backoff with jitter, at most 20s apart).
	// Defaults to 10 attempts while EC2 throttles and the SDK's 3 for other
	// failures: a sweep of a thousand images holds a region at EC2's
	// request rate for minutes, and with 3 attempts about one call in such
	// a stage was throttled three times and failed. `AWS_MAX_ATTEMPTS` is
	// not read: the amazon plugin takes it as the number of polls of its
	// waiters.
	MaxRetries int `mapstructure:"max_retries"`
	// How long one attempt of an AWS call waits for the endpoint to start
	// answering before it is abandoned and retried (3 attempts in all, or
	// `max_retries`), e.g. `90s`. Defaults to 60s (also for `0s`), the AWS CLI's read
	// timeout, so a region that accepts connections and never answers
	// fails the calls to it instead of holding the build.
	CallTimeout time.Duration `mapstructure:"call_timeout"`
	// Accepted for templates written for the amazon plugin: this plugin
	// never validates credentials with STS up front (the first EC2 call
	// does), so it changes nothing.
	SkipCredentialValidation bool `mapstructure:"skip_credential_validation"`
	// Which launch template versions count as using an image (they keep
	// it): `all` (every version; the default and the safest),
	// `default_and_latest`, `default`, or `asg_used` (the versions Auto
	// Scaling groups launch, resolving `$Default` and `$Latest`).
	LaunchTemplateVersions string `mapstructure:"launch_template_versions"`
	// Do not check other accounts' use of shared AMIs. By default, before an
	// AMI shared with other accounts (launch permissions to accounts, an
	// organization or OU, or public) is disabled or deregistered, the
	// post-processor asks EC2 for an image usage report of it: the other
	// accounts' instances and launch templates using it, which keep it.
	SkipUsageReports bool `mapstructure:"skip_usage_reports"`
	// How long a run waits for the usage reports it asked for, e.g. `30m`.
	// Defaults to `10m`. An AMI whose report is not finished by then is kept
	// this run; the next run reads the report. `0s` never waits: a weekly
	// sweep then decides on the report the previous one asked for.
	UsageReportWait string `mapstructure:"usage_report_wait"`
	// How old a usage report may be to decide on, from `1h` to `29d`
	// (EC2 keeps reports 30 days). Defaults to `1d`; an older one is asked
	// for again.
	UsageReportMaxAge string `mapstructure:"usage_report_max_age"`

	usageReports UsageReports // parsed by Prepare
	// The role of one account of an organisation-wide sweep, assumed
	// after AssumeRole (InAccount).
	accountRole *AssumeRoleConfig
}

// AssumeRoleConfig is the role the AWS backend assumes, as the amazon
// plugin's `assume_role` block.
type AssumeRoleConfig struct {
	// The ARN of the role, e.g. `arn:aws:iam::123456789012:role/packer-lifecycle`.
	RoleARN string `mapstructure:"role_arn"`
	// The external id the role's trust policy asks for: 2 to 1224 letters,
	// digits and `+=,.@:/-_`. It is a shared secret: never shown, not even
	// in the error about a bad one.
	ExternalID string `mapstructure:"external_id"`
	// The session name shown in CloudTrail: 2 to 64 letters, digits and
	// `+=,.@-_`. Defaults to the SDK's.
	SessionName string `mapstructure:"session_name"`
	// The session duration in seconds, 900 to 43200. Defaults to 3600.
	DurationSeconds int `mapstructure:"duration_seconds"`
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	accountRE = regexp.MustCompile(`^\d{12}$`)
	roleRE    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$`)
	// STS's own limits on AssumeRole's ExternalId and RoleSessionName.
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`) // 2 to 1224 characters
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// CheckRef checks a release reference as `restore`, `pin_releases` and
// `unpin_releases` take it on AWS: an AMI id, or region:AMI id.
func CheckRef(s string) error {
	region, id, ok := strings.Cut(s, ":")
	if !ok {
		region, id = "", s
	}
	if ok && !regionRE.MatchString(region) {
		return fmt.Errorf("%q: %q is not a region name like us-east-1 (want an AMI id, or region:AMI id)", s, region)
	}
	if !amiRE.MatchString(id) {
		return fmt.Errorf("%q is not an AMI id like ami-0123456789abcdef0 (or region:AMI id)", s)
	}
	return nil
}

// Set says whether any AWS option was given (a local backend ignores them).
func (c *AccessConfig) Set() bool {
	return c.Region != "" || len(c.Regions) > 0 || len(c.Owners) > 0 || c.Profile != "" || c.AccessKey != "" ||
		c.AssumeRole.RoleARN != "" || c.CustomEndpointEC2 != "" || c.SkipUsageReports || c.UsageReportWait != "" || c.UsageReportMaxAge != ""
}

// Prepare checks the values and sets defaults; every error names its
// field. Nothing is contacted.
func (c *AccessConfig) Prepare() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Region != "" && !regionRE.MatchString(c.Region) {
		bad("region: %q is not a region name like us-east-1", c.Region)
	}
	for i, r := range c.Regions {
		if !regionRE.MatchString(r) {
			bad("regions[%d]: %q is not a region name like eu-west-1", i, r)
		}
	}
	for i, o := range c.Owners {
		if o != "self" && !accountRE.MatchString(o) {
			bad("owners[%d]: %q is not a 12-digit account id or self", i, o)
		}
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		bad("access_key, secret_key: set both or neither")
	}
	if c.Token != "" && c.AccessKey == "" {
		bad("token: goes with access_key and secret_key")
	}
	errs = append(errs, c.AssumeRole.check("assume_role")...)
	if e := c.CustomEndpointEC2; e != "" {
		u, err := url.Parse(e)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			// The value may carry user:password@: show it only redacted.
			bad("custom_endpoint_ec2: %q is not an http(s) URL", redactURL(e))
		case u.User != nil:
			bad("custom_endpoint_ec2: %q carries credentials (user:password@); give them as access_key and secret_key", u.Redacted())
		}
	}
	if c.MaxRetries < 0 {
		bad("max_retries: must not be negative")
	}
	if c.CallTimeout < 0 {
		bad("call_timeout: %s must not be negative", c.CallTimeout)
	}
	if c.LaunchTemplateVersions == "" {
		c.LaunchTemplateVersions = LTVersionsAll
	}
	if !slices.Contains([]string{LTVersionsAll, LTVersionsDefaultAndLatest, LTVersionsDefault, LTVersionsASGUsed}, c.LaunchTemplateVersions) {
		bad("launch_template_versions: %q is not one of all, default_and_latest, default, asg_used", c.LaunchTemplateVersions)
	}
	c.usageReports = UsageReports{Skip: c.SkipUsageReports, Wait: DefaultUsageReportWait, MaxAge: DefaultUsageReportMaxAge}
	if w := c.UsageReportWait; w != "" {
		d, err := lifecycle.ParseDuration(w)
		switch {
		case err != nil:
			bad("usage_report_wait: %v", err)
		case d < 0 || d > 12*time.Hour:
			bad("usage_report_wait: %q is not between 0s and 12h", w)
		default:
			c.usageReports.Wait = d
		}
	}
	if a := c.UsageReportMaxAge; a != "" {
		d, err := lifecycle.ParseDuration(a)
		switch {
		case err != nil:
			bad("usage_report_max_age: %v", err)
		case d < time.Hour || d > usageReportLifetime-24*time.Hour:
			bad("usage_report_max_age: %q is not between 1h and 29d (EC2 keeps a report 30 days)", a)
		default:
			c.usageReports.MaxAge = d
		}
	}
	if c.SkipUsageReports && (c.UsageReportWait != "" || c.UsageReportMaxAge != "") {
		bad("skip_usage_reports: no usage reports are asked for, so usage_report_wait and usage_report_max_age mean nothing; remove them or skip_usage_reports")
	}
	return errs
}

// LoadConfig builds the SDK configuration: the SDK's default chain
// (environment, profile, SSO, instance role) with the template's options
// over it, and the role to assume. Nothing is contacted here: credentials
// are resolved at the first call.
func LoadConfig(ctx context.Context, c AccessConfig, extra ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		// "app/packer-plugin-lifecycle" in the User-Agent: our calls are
		// told apart from the amazon plugin's (CloudTrail, the emulator).
		config.WithAppID(AppID),
		config.WithRetryer(func() aws.Retryer { return newRetryer(c.MaxRetries) }),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.SharedCredentialsFile != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{c.SharedCredentialsFile}))
	}
	if c.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, c.Token)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, extra...)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws: loading the SDK configuration: %w", err)
	}
	// A bound on each attempt's wait for an answer: the SDK sets none.
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		timeout := cmp.Or(c.CallTimeout, DefaultCallTimeout)
		cfg.HTTPClient = bc.WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = timeout })
	}
	// Request bodies whole (after the loader set its CA bundle and proxy):
	// a fast endpoint would otherwise see some calls twice.
	cfg.HTTPClient = wholebody.Client(cfg.HTTPClient)
	for _, a := range []*AssumeRoleConfig{&c.AssumeRole, c.accountRole} {
		if a != nil && a.RoleARN != "" {
			// Each role is assumed with the credentials before it: the
			// account's role with the hub's.
			cfg.Credentials = aws.NewCredentialsCache(assumeRole(cfg, *a))
		}
	}
	return cfg, nil
}

// assumeRole is the provider of a's credentials, assumed with cfg's.
func assumeRole(cfg aws.Config, a AssumeRoleConfig) aws.CredentialsProvider {
	return stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		if a.ExternalID != "" {
			o.ExternalID = aws.String(a.ExternalID)
		}
		if a.SessionName != "" {
			o.RoleSessionName = a.SessionName
		}
		if a.DurationSeconds != 0 {
			o.Duration = secs(a.DurationSeconds)
		}
	})
}

// DefaultCallTimeout is call_timeout's default.
const DefaultCallTimeout = 60 * time.Second

// AppID names the plugin in the User-Agent of every AWS call it makes.
const AppID = "packer-plugin-lifecycle"

// redactURL hides the password of what looks like a URL with userinfo,
// even when it does not parse.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if at := strings.LastIndex(s, "@"); at >= 0 {
		if scheme := strings.Index(s, "://"); scheme >= 0 && scheme < at {
			return s[:scheme+3] + "xxxxx" + s[at:]
		}
		return "xxxxx" + s[at:]
	}
	return s
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

// Open returns the backend for the access config: now is the run's clock.
func Open(ctx context.Context, c AccessConfig, managedBy string, now func() time.Time) (*Backend, error) {
	cfg, err := LoadConfig(ctx, c)
	if err != nil {
		return nil, err
	}
	if a := c.accountRole; a != nil {
		// Assumed now: an account that cannot be assumed fails here, and
		// only it, not every call in every region of it.
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			return nil, fmt.Errorf("assuming %s: %s", a.RoleARN, strings.TrimSpace(err.Error()))
		}
	}
	return New(Options{
		Config: cfg, EC2Endpoint: c.CustomEndpointEC2, Regions: c.Regions, Owners: c.Owners,
		ManagedBy: managedBy, LaunchTemplateVersions: c.LaunchTemplateVersions, UsageReports: c.usageReports,
	}, now), nil
}
