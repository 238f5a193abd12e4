package armemu

import (
	"sync"
	"time"
)

// Clock is the emulator's notion of "now": token expiry, publishedDate, end-of-life
// checks and operation times read it, so tests move time without sleeping.
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

// timestamp formats t as ARM does in operation bodies: UTC with 7 fractional digits
// ("2026-03-02T12:00:00.0000000+00:00").
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000+00:00") }
