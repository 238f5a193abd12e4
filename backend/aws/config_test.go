package aws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/timescale"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func TestAccessConfigPrepareNamesTheField(t *testing.T) {
	cases := []struct {
		name string
		c    AccessConfig
		want []string
	}{
		{"valid", AccessConfig{Region: "eu-west-1", Regions: []string{"us-gov-west-1", "ap-southeast-2"}, Owners: []string{"self", "123456789012"},
			AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/ci/packer", DurationSeconds: 900}, CustomEndpointEC2: "http://127.0.0.1:4566"}, nil},
		{"region", AccessConfig{Region: "Europe"}, []string{`region: "Europe"`}},
		{"regions", AccessConfig{Regions: []string{"us-east-1", "us_east_2"}}, []string{`regions[1]: "us_east_2"`}},
		{"owners", AccessConfig{Owners: []string{"amazon", "12345678901"}}, []string{`owners[0]: "amazon"`, `owners[1]: "12345678901"`}},
		{"half a key", AccessConfig{AccessKey: "AKID"}, []string{"access_key, secret_key: set both or neither"}},
		{"token alone", AccessConfig{Token: "t"}, []string{"token: goes with access_key"}},
		{"role arn", AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123:user/x"}}, []string{"assume_role.role_arn:"}},
		{"role missing", AccessConfig{AssumeRole: AssumeRoleConfig{ExternalID: "xy"}}, []string{"assume_role.role_arn: must be set"}},
		{"duration", AccessConfig{AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/r", DurationSeconds: 60}}, []string{"assume_role.duration_seconds: 60"}},
		{"endpoint", AccessConfig{CustomEndpointEC2: "ec2.internal"}, []string{`custom_endpoint_ec2: "ec2.internal"`}},
		{"retries", AccessConfig{MaxRetries: -1}, []string{"max_retries"}},
		{"lt versions", AccessConfig{LaunchTemplateVersions: "latest"}, []string{`launch_template_versions: "latest"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := c.c.Prepare()
			require.Len(t, errs, len(c.want), "%v", errs)
			for i, w := range c.want {
				require.ErrorContains(t, errs[i], w)
			}
			if len(c.want) == 0 {
				require.Equal(t, LTVersionsAll, c.c.LaunchTemplateVersions, "the safest choice is the default")
			}
		})
	}
}

func TestLoadConfigContactsNothing(t *testing.T) {
	// A role to assume and static keys resolve lazily: loading the
	// configuration (what `packer validate` and Open do) makes no call.
	var calls atomic.Int32
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, "no STS here", http.StatusForbidden)
	}))
	t.Cleanup(sts.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	cfg, err := LoadConfig(context.Background(), AccessConfig{Region: "eu-west-1", AccessKey: "AKID", SecretKey: "s", MaxRetries: 1,
		AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::123456789012:role/r", ExternalID: "x"}})
	require.NoError(t, err)
	require.Equal(t, "eu-west-1", cfg.Region)
	require.Equal(t, 1, cfg.Retryer().MaxAttempts())
	require.Zero(t, calls.Load(), "loading the configuration called STS")
	// Resolving the role's credentials is what calls STS, and only then.
	_, err = cfg.Credentials.Retrieve(context.Background())
	require.Error(t, err)
	require.Equal(t, int32(1), calls.Load())
}

// TestAssumeRoleSendsTheExternalID: the role is assumed through STS (the
// emulator's, via AWS_ENDPOINT_URL_STS) with the static keys, the external
// id and the session options, and EC2 is then called with the temporary
// credentials, as the role's account.
func TestAssumeRoleSendsTheExternalID(t *testing.T) {
	s := ec2emu.New()
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	t.Setenv("AWS_ENDPOINT_URL_STS", hs.URL)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	cfg, err := LoadConfig(context.Background(), AccessConfig{Region: "us-east-1", AccessKey: "AKIDCALLER", SecretKey: "s",
		AssumeRole: AssumeRoleConfig{RoleARN: "arn:aws:iam::210987654321:role/packer", ExternalID: "xid-42", SessionName: "ci", DurationSeconds: 900}})
	require.NoError(t, err)
	creds, err := cfg.Credentials.Retrieve(context.Background())
	require.NoError(t, err)
	calls := s.AssumeRoleCalls()
	require.Len(t, calls, 1)
	require.Equal(t, ec2emu.AssumeRoleCall{CallerKey: "AKIDCALLER", RoleARN: "arn:aws:iam::210987654321:role/packer", ExternalID: "xid-42",
		SessionName: "ci", Duration: "900", AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}, calls[0])
	// The emulator knows the temporary key as the role's account.
	s.Deny("210987654321", "DescribeImages")
	_, err = ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(hs.URL) }).DescribeImages(context.Background(), &ec2.DescribeImagesInput{})
	require.ErrorContains(t, err, "UnauthorizedOperation")
}

// TestEveryCallIsServedOnce: the clients LoadConfig makes send each call
// once, even to an endpoint that answers within microseconds. With the SDK's
// default HTTP client 1 or 2 calls in 300 here had their connection closed
// under a large response and was sent again (see package wholebody).
func TestEveryCallIsServedOnce(t *testing.T) {
	e := newEmu(t, func() time.Time { return t0 })
	for i := range 20 { // a response well over net/http's 4 KiB read buffer
		e.ami("us-east-1", account, fmt.Sprintf("web-%02d", i), nil)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	cfg, err := LoadConfig(context.Background(), AccessConfig{Region: "us-east-1", AccessKey: "AKIDOWNER", SecretKey: "s"})
	require.NoError(t, err)
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(e.url) })
	const n = 300
	for range n {
		out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Owners: []string{"self"}})
		require.NoError(t, err)
		require.Len(t, out.Images, 20)
	}
	require.Equal(t, n, e.s.Calls("us-east-1", "DescribeImages"), "calls sent more than once")
}

// TestAHungRegionFailsItsCallsNotTheRun: a region that takes connections
// and never answers fails its own calls after call_timeout, each attempt
// retried, while the other regions are listed.
func TestAHungRegionFailsItsCallsNotTheRun(t *testing.T) {
	e := newEmu(t, func() time.Time { return t0 })
	e.ami("us-east-1", account, "web-1", map[string]string{lifecycle.TagFamily: "web"})
	e.s.SetFault(ec2emu.Fault{Region: "eu-west-1", Probability: 1, Latency: time.Hour})
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	cfg, err := LoadConfig(context.Background(), AccessConfig{Region: "us-east-1", AccessKey: "AKIDOWNER", SecretKey: "s",
		CallTimeout: time.Second}) // long enough for a loaded machine to answer us-east-1
	require.NoError(t, err)
	be := New(Options{Config: cfg, EC2Endpoint: e.url, Regions: []string{"eu-west-1"}}, e.now)
	l, err := be.List(context.Background(), backend.Query{Family: "web"})
	require.NoError(t, err)
	require.Len(t, l.Images, 1)
	require.Equal(t, "us-east-1", l.Images[0].Region)
	require.Len(t, l.Failed, 1)
	require.Equal(t, "eu-west-1", l.Failed[0].Region)
	require.ErrorContains(t, l.Failed[0].Err, "timeout awaiting response headers")
	require.Equal(t, 3, e.s.Calls("eu-west-1", "DescribeImages"), "every attempt timed out and was retried")
}

func TestCallTimeoutRefusesNegative(t *testing.T) {
	c := AccessConfig{CallTimeout: -time.Second}
	errs := c.Prepare()
	require.Len(t, errs, 1)
	require.ErrorContains(t, errs[0], "call_timeout: -1s must not be negative")
}

// TestMaxRetriesDefault: the template's max_retries, else 10. Packer's
// amazon plugin reads AWS_MAX_ATTEMPTS as its waiters' number of polls
// (often in the hundreds), so it must not become ours.
func TestMaxRetriesDefault(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	attempts := func(c AccessConfig) int {
		c.Region, c.AccessKey, c.SecretKey = "us-east-1", "AKID", "s"
		cfg, err := LoadConfig(context.Background(), c)
		require.NoError(t, err)
		return ec2.NewFromConfig(cfg).Options().Retryer.MaxAttempts()
	}
	require.Equal(t, DefaultMaxRetries, attempts(AccessConfig{}))
	require.Equal(t, 4, attempts(AccessConfig{MaxRetries: 4}))
	t.Setenv("AWS_MAX_ATTEMPTS", "120")
	require.Equal(t, DefaultMaxRetries, attempts(AccessConfig{}), "the amazon plugin's waiter setting is not ours")
	require.Equal(t, 4, attempts(AccessConfig{MaxRetries: 4}))
}

// TestRetriesArePatientWithThrottlesOnly: by default a throttled call is
// attempted 10 times, a call that fails otherwise 3 times (an endpoint
// that is down fails fast); max_retries sets both.
func TestRetriesArePatientWithThrottlesOnly(t *testing.T) {
	timescale.Set(1000) // the SDK's backoff, a thousand times shorter
	t.Cleanup(func() { timescale.Set(1) })
	e := newEmu(t, func() time.Time { return t0 })
	e.s.SetFault(ec2emu.Fault{Region: "us-east-1", Probability: 1, Kind: ec2emu.Throttle})
	e.s.SetFault(ec2emu.Fault{Region: "eu-west-1", Probability: 1, Kind: ec2emu.Unavailable})
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	attempts := func(region string, maxRetries int) int {
		e.s.ResetCounters()
		cfg, err := LoadConfig(context.Background(), AccessConfig{Region: region, AccessKey: "AKIDOWNER", SecretKey: "s", MaxRetries: maxRetries})
		require.NoError(t, err)
		c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(e.url) })
		_, err = c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Owners: []string{"self"}})
		require.Error(t, err)
		return e.s.Calls(region, "DescribeImages")
	}
	require.Equal(t, 10, attempts("us-east-1", 0), "throttled")
	require.Equal(t, 3, attempts("eu-west-1", 0), "unavailable")
	require.Equal(t, 5, attempts("us-east-1", 5))
	require.Equal(t, 5, attempts("eu-west-1", 5))
}

// TestThrottlesNeverRunOutOfRetries: the SDK's client-side retry quota
// (500 tokens, 5 a retry) fails calls once a client has been throttled
// a hundred times; a sweep held at a bucket's rate with several actions
// in flight gets there in seconds (2,233 of 4,985 deprecations of the
// benchmark's case 2 failed so). The backend bounds itself instead: 8 in
// flight per region, 10 attempts with backoff. Fifteen calls throttled
// throughout all make their 10 attempts.
func TestThrottlesNeverRunOutOfRetries(t *testing.T) {
	timescale.Set(1000)
	t.Cleanup(func() { timescale.Set(1) })
	e := newEmu(t, func() time.Time { return t0 })
	e.s.SetFault(ec2emu.Fault{Region: "us-east-1", Probability: 1, Kind: ec2emu.Throttle})
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	cfg, err := LoadConfig(context.Background(), AccessConfig{Region: "us-east-1", AccessKey: "AKIDOWNER", SecretKey: "s"})
	require.NoError(t, err)
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(e.url) })
	for range 15 {
		_, err = c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Owners: []string{"self"}})
		require.ErrorContains(t, err, "RequestLimitExceeded")
		require.NotContains(t, err.Error(), "retry quota")
	}
	require.Equal(t, 150, e.s.Calls("us-east-1", "DescribeImages"))
}

// TestCallTimeoutIsSetOnTheSDKClient: call_timeout, 60 s when unset or 0s,
// bounds each attempt's wait for the answer on the SDK's own client, the
// one that keeps the CA bundle and proxy the loader set.
func TestCallTimeoutIsSetOnTheSDKClient(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	for set, want := range map[time.Duration]time.Duration{0: time.Minute, 90 * time.Second: 90 * time.Second} {
		cfg, err := LoadConfig(context.Background(), AccessConfig{Region: "us-east-1", AccessKey: "AKID", SecretKey: "s", CallTimeout: set})
		require.NoError(t, err)
		inner, ok := cfg.HTTPClient.(interface{ Unwrap() aws.HTTPClient })
		require.True(t, ok, "the request bodies are sent whole")
		bc, ok := inner.Unwrap().(*awshttp.BuildableClient)
		require.True(t, ok, "the SDK's own client, %T", inner.Unwrap())
		require.Equal(t, want, bc.GetTransport().ResponseHeaderTimeout, "call_timeout %s", set)
	}
}
