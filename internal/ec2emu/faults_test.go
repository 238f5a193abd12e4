package ec2emu

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stretchr/testify/require"
)

// zeroDelayClient retries up to 10 times without sleeping and without a retry quota.
func (e *env) zeroDelayClient() *ec2.Client {
	cfg := aws.Config{
		Region: "us-east-1", HTTPClient: HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(ownerKey, "secret", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 10
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				o.RateLimiter = ratelimit.None
			})
		},
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func TestPaginationSurvives30PercentThrottling(t *testing.T) {
	e := newEnv(t, WithSeed(42))
	e.s.Build(Fixture{Families: 4, Versions: 300})
	e.s.SetFault(Fault{Probability: 0.3, Kind: Throttle})
	p := ec2.NewDescribeImagesPaginator(e.zeroDelayClient(), &ec2.DescribeImagesInput{Owners: []string{"self"}}, func(o *ec2.DescribeImagesPaginatorOptions) { o.Limit = 50 })
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		n += len(out.Images)
	}
	require.Equal(t, 1200, n)
	require.Greater(t, e.s.Throttled("us-east-1", "DescribeImages"), 0)
	require.Equal(t, 24+e.s.Throttled("us-east-1", "DescribeImages"), e.s.Calls("us-east-1", "DescribeImages"))
}

func TestServerFaultsAndLatency(t *testing.T) {
	e := newEnv(t)
	e.s.SetFault(Fault{Action: "DescribeSnapshots", Probability: 1, Kind: ServerError})
	e.s.SetFault(Fault{Action: "DescribeVolumes", Probability: 1, Kind: Unavailable})
	e.s.SetFault(Fault{Action: "DescribeRegions", Probability: 1, Latency: 20 * time.Millisecond})
	_, err := e.owner().DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{})
	requireCode(t, err, "InternalError", 500)
	_, err = e.owner().DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	requireCode(t, err, "Unavailable", 503)
	_, err = e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{})
	require.NoError(t, err, "faults are per operation")
	start := time.Now()
	_, err = e.owner().DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	require.NoError(t, err)
	require.True(t, time.Since(start) >= 20*time.Millisecond, "latency added")
	require.Equal(t, 1, e.s.Failed("us-east-1", "DescribeSnapshots"))
	e.s.ClearFaults()
	_, err = e.owner().DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{})
	require.NoError(t, err)
	e.s.SetFault(Fault{Probability: 1, Kind: Throttle})
	_, err = e.owner().DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{})
	requireCode(t, err, "RequestLimitExceeded", 503)
}

func TestRateLimitsUseEmulatorClock(t *testing.T) {
	l := DefaultRateLimits()
	l.Describe = Bucket{Burst: 3, Rate: 1}
	e := newEnv(t, WithRateLimits(l))
	c := e.owner()
	for i := 0; i < 3; i++ {
		_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
		require.NoError(t, err)
	}
	_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	requireCode(t, err, "RequestLimitExceeded", 503)
	_, err = e.other().DescribeImages(ctx, &ec2.DescribeImagesInput{})
	require.NoError(t, err, "buckets are per account")
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"ami-0000000000fff0001"}, Tags: []types.Tag{{Key: aws.String("k")}}})
	requireCode(t, err, "InvalidAMIID.NotFound", 400)
	e.clock.Advance(2 * time.Second)
	for i := 0; i < 2; i++ {
		_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
		require.NoError(t, err)
	}
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	requireCode(t, err, "RequestLimitExceeded", 503)
	require.Equal(t, 2, e.s.Throttled("us-east-1", "DescribeImages"))
	snap := e.s.Snapshot()
	require.Equal(t, 8, snap["us-east-1"]["DescribeImages"], "all accounts, throttled included")
	require.Equal(t, 1, snap["us-east-1"]["CreateTags"])
}

func TestSaveLoadRoundTrip(t *testing.T) {
	e := newEnv(t)
	res := e.s.Build(Fixture{Families: 2, Versions: 3, Regions: []string{"us-east-1", "eu-west-1"}, Instances: 2, LaunchTemplates: 1, Shared: 1, DeprecateOldest: 1})
	var buf bytes.Buffer
	require.NoError(t, e.s.SaveState(&buf))
	e2 := newEnv(t)
	require.NoError(t, e2.s.LoadState(bytes.NewReader(buf.Bytes())))
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		a, err := e.client(region, ownerKey, 1).DescribeImages(ctx, &ec2.DescribeImagesInput{})
		require.NoError(t, err)
		b, err := e2.client(region, ownerKey, 1).DescribeImages(ctx, &ec2.DescribeImagesInput{})
		require.NoError(t, err)
		require.Equal(t, names(a.Images), names(b.Images))
		require.Len(t, b.Images, 7)
	}
	require.NotNil(t, e2.describeOne(e2.owner(), res.Families["us-east-1"]["app-00"][0]).DeprecationTime)
	// New ids continue after the loaded sequence: no collisions.
	id, _ := e2.oneImage()
	require.Equal(t, 1, len(e2.describeOne(e2.owner(), id).BlockDeviceMappings))
	refs, err := e2.owner().DescribeImageReferences(context.Background(), &ec2.DescribeImageReferencesInput{ImageIds: res.Images["us-east-1"][:6], IncludeAllResourceTypes: aws.Bool(true)})
	require.NoError(t, err)
	require.Len(t, refs.ImageReferences, 4, "2 instances + the template's v1 and v2 images")
}

// TestLoseAnswerTakesEffectAndHangsUp: the call is carried out and the
// client hears nothing; Times limits the rule, so the SDK's second attempt
// is answered (here with what EC2 says to a second deregistration).
func TestLoseAnswerTakesEffectAndHangsUp(t *testing.T) {
	e := newEnv(t)
	e.s.Build(Fixture{Families: 1, Versions: 2})
	out, err := e.owner().DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	require.NoError(t, err)
	require.Len(t, out.Images, 2)
	id := aws.ToString(out.Images[0].ImageId)
	e.s.SetFault(Fault{Action: "DeregisterImage", Probability: 1, Kind: LoseAnswer, Times: 1})
	_, err = e.zeroDelayClient().DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
	requireCode(t, err, "InvalidAMIID.Unavailable", 400)
	require.Equal(t, 2, e.s.Calls("us-east-1", "DeregisterImage"))
	require.Equal(t, 1, e.s.Failed("us-east-1", "DeregisterImage"), "one answer lost")
	// The rule is spent: the other image's deregistration is answered.
	_, err = e.owner().DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: out.Images[1].ImageId})
	require.NoError(t, err)
}
