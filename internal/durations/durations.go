// Package durations parses the retention periods users write in templates.
// Go's time.ParseDuration has no day unit, yet retention is thought of in
// days, so "30d" and "1d12h" are accepted alongside "720h".
package durations

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxDays keeps every accepted duration far from time.Duration's limit, so
// adding one to a timestamp cannot overflow. 100 years is retention enough.
const maxDays = 36500

// Parse reads a duration such as "30d", "1d12h", "36h" or "90m". The empty
// string is zero. Negative durations are rejected.
func Parse(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (examples: 30d, 1d12h, 36h)", s)
		}
		if n > maxDays {
			return 0, fmt.Errorf("%q is too long (at most %d days)", s, maxDays)
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil || d < 0 {
			return 0, fmt.Errorf("%q is not a duration (examples: 30d, 1d12h, 36h)", s)
		}
	}
	if d > time.Duration(maxDays)*24*time.Hour-days {
		return 0, fmt.Errorf("%q is too long (at most %d days)", s, maxDays)
	}
	return days + d, nil
}
