package aws

import (
	"cmp"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/timescale"
)

// DefaultMaxRetries is max_retries' default for throttled calls; other
// failures get the SDK's usual retry.DefaultMaxAttempts.
const DefaultMaxRetries = 10

// newRetryer is the SDK's standard retryer (exponential backoff with
// jitter, no retry quota) making maxRetries attempts in all, or, when that is 0, up to
// DefaultMaxRetries while EC2 throttles and the SDK's 3 otherwise: a
// sweep held at EC2's request rate for minutes needs the patience, an
// endpoint that refuses or never answers does not.
func newRetryer(maxRetries int) aws.RetryerV2 {
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = cmp.Or(maxRetries, DefaultMaxRetries)
		// No client-side retry quota: it fails every call once a client
		// has been throttled a hundred times (500 tokens, 5 a retry),
		// which a sweep held at a bucket's rate with several actions in
		// flight reaches in seconds. The backend bounds itself instead:
		// perRegion in flight, MaxAttempts each, with backoff.
		o.RateLimiter = ratelimit.None
		// The SDK's own backoff unless a benchmark compresses time.
		o.Backoff = timescale.Backoff(retry.NewExponentialJitterBackoff(o.MaxBackoff))
	})
	if maxRetries > 0 {
		return std
	}
	return patientWithThrottles{RetryerV2: std, others: retry.DefaultMaxAttempts}
}

// patientWithThrottles gives up after others attempts unless the last
// failure was a throttle.
type patientWithThrottles struct {
	aws.RetryerV2
	others int
}

var throttles = retry.IsErrorThrottles(retry.DefaultThrottles)

// RetryDelay is asked after each failed attempt (attempt counts from 1);
// an error ends the call with it.
func (r patientWithThrottles) RetryDelay(attempt int, err error) (time.Duration, error) {
	if attempt >= r.others && throttles.IsErrorThrottle(err) != aws.TrueTernary {
		return 0, err
	}
	return r.RetryerV2.RetryDelay(attempt, err)
}

// throttleCounter counts a client's throttled attempts: Apply works on a
// region one call at a time once EC2 has throttled it there.
type throttleCounter struct {
	aws.RetryerV2
	n *atomic.Int64
}

// IsErrorRetryable is asked after every failed attempt.
func (t throttleCounter) IsErrorRetryable(err error) bool {
	if throttles.IsErrorThrottle(err) == aws.TrueTernary {
		t.n.Add(1)
	}
	return t.RetryerV2.IsErrorRetryable(err)
}

// countThrottles makes r count throttled attempts in n.
func countThrottles(r aws.Retryer, n *atomic.Int64) aws.Retryer {
	if v2, ok := r.(aws.RetryerV2); ok {
		return throttleCounter{v2, n}
	}
	return r
}
