// Package clock is the time the post-processor and the data source act at:
// the wall clock, or a rehearsal time from PACKER_LIFECYCLE_NOW, so a
// retention policy can be played over simulated weeks (the demo and the e2e
// tests do) and both components see expiry alike.
package clock

import (
	"fmt"
	"os"
	"time"
)

// Env holds an RFC 3339 time that replaces the wall clock.
const Env = "PACKER_LIFECYCLE_NOW"

// Simulated reports whether Env is set: the run acts at a rehearsal time,
// which the post-processor allows only in a dry run or when the template
// says so (a stray value in CI must never time-travel a destructive run).
func Simulated() bool { return os.Getenv(Env) != "" }

// Now is the wall clock in UTC, or the rehearsal time when Env is set.
func Now() (time.Time, error) {
	v := os.Getenv(Env)
	if v == "" {
		return time.Now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time", Env, v)
	}
	// The same range as the lifecycle tags' times: anything else is a typo
	// (and could not be written back into a tag).
	if y := t.UTC().Year(); y < 1970 || y > 9999 {
		return time.Time{}, fmt.Errorf("%s: %q: year %d is out of range 1970..9999", Env, v, y)
	}
	return t.UTC(), nil
}
