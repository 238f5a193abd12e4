package aws

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// TestDeprecateLateInALongRunIsStillInTheFuture: a run's clock stands
// still at its start, but a sweep deprecating a thousand images at EC2's
// 5 calls a second lasts minutes; the deprecation time EC2 is asked for
// must be in the future of EC2's clock when the call is made, not of the
// run's start.
func TestDeprecateLateInALongRunIsStillInTheFuture(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	start := f.at
	defer func(orig func() time.Time) { wallClock = orig }(wallClock)
	wallClock = func() time.Time { return f.at } // real time is EC2's here
	be := f.backend(Options{})
	be.clock = func() time.Time { return start } // the run's clock stands still

	f.at = f.at.Add(3 * time.Minute) // the run has lasted three minutes
	rs := be.Apply(f.ctx, []lifecycle.Decision{{Image: img, Action: lifecycle.ActionDeprecate, To: lifecycle.StageDeprecated}}, false)
	require.NoError(t, rs[0].Err)
	got := f.image("us-east-1", img.ID).DeprecationTime
	require.NotNil(t, got)
	require.Equal(t, start.Add(4*time.Minute).Truncate(time.Minute), *got, "the minute after EC2's now")
}

// TestDeprecateInTheLastMomentOfAMinute: a deprecation computed in the
// last moments of a minute reaches EC2 in the next one; it must still be
// in the future there.
func TestDeprecateInTheLastMomentOfAMinute(t *testing.T) {
	f := newFixture(t, Options{})
	f.at = f.at.Add(59*time.Second + 990*time.Millisecond)
	img := f.build("web", "1.0.0", "us-east-1")["us-east-1"]
	run := f.at
	be := f.backend(Options{})
	be.clock = func() time.Time { return run }
	f.at = f.at.Add(20 * time.Millisecond) // the call arrives in the next minute
	rs := be.Apply(f.ctx, []lifecycle.Decision{{Image: img, Action: lifecycle.ActionDeprecate, To: lifecycle.StageDeprecated}}, false)
	require.NoError(t, rs[0].Err)
	got := f.image("us-east-1", img.ID).DeprecationTime
	require.NotNil(t, got)
	require.True(t, got.After(f.at), "deprecation time %s is not after EC2's now %s", got, f.at)
}
