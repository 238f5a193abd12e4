package timescale

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

func TestBackoffShrinksByTheFactor(t *testing.T) {
	fixed := retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 2 * time.Second, nil })
	if Factor() != 1 {
		t.Fatalf("default factor %v, want 1", Factor())
	}
	if d, _ := Backoff(fixed).BackoffDelay(1, errors.New("throttled")); d != 2*time.Second {
		t.Fatalf("unscaled backoff %v, want 2s", d)
	}
	Set(20)
	defer Set(1)
	if d, _ := Backoff(fixed).BackoffDelay(1, errors.New("throttled")); d != 100*time.Millisecond {
		t.Fatalf("backoff at 20x %v, want 100ms", d)
	}
	Set(0.5)
	if Factor() != 1 {
		t.Fatalf("a factor below 1 must fall back to 1, got %v", Factor())
	}
}
