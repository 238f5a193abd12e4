// Package timescale lets a benchmark compress time. `make bench` runs EC2's
// token buckets k times faster and its latency k times shorter in the
// emulator; the SDK's retry backoff of every AWS client must then shrink k
// times as well, or a throttled client would sleep through refills that a
// real run, at real speed, uses. Nothing but the benchmark sets it: the
// factor is 1 in every real run, and Backoff then returns the SDK's own.
package timescale

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

var factor atomic.Uint64 // math.Float64bits; 0 means 1

// Set makes time run k times faster for the retry backoff (k >= 1).
func Set(k float64) {
	if k < 1 || math.IsNaN(k) || math.IsInf(k, 0) {
		k = 1
	}
	factor.Store(math.Float64bits(k))
}

// Factor is the speed-up Set chose, 1 by default.
func Factor() float64 {
	if b := factor.Load(); b != 0 {
		return math.Float64frombits(b)
	}
	return 1
}

// Backoff is d, the standard retryer's backoff, divided by the factor.
func Backoff(d retry.BackoffDelayer) retry.BackoffDelayer {
	k := Factor()
	if k == 1 {
		return d
	}
	return retry.BackoffDelayerFunc(func(attempt int, err error) (time.Duration, error) {
		wait, e := d.BackoffDelay(attempt, err)
		return time.Duration(float64(wait) / k), e
	})
}
