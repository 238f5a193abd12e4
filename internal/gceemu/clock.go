package gceemu

import (
	"sync"
	"time"
)

// Clock is the emulator's notion of "now": creationTimestamp, operation times and
// quota windows read it, so tests move time without sleeping.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// FakeClock is a settable clock for deterministic tests.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a clock frozen at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now returns the frozen time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// gceZone is the offset GCE writes timestamps in (US Pacific, as the real API does).
var gceZone = func() *time.Location {
	if loc, err := time.LoadLocation("America/Los_Angeles"); err == nil {
		return loc
	}
	return time.FixedZone("PST", -8*3600)
}()

// Timestamp formats t the way GCE does: "2026-12-06T10:00:00.000-08:00".
func Timestamp(t time.Time) string { return t.In(gceZone).Format("2006-01-02T15:04:05.000-07:00") }
