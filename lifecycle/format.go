package lifecycle

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FormatDuration is formatDuration, for backends' notes.
func FormatDuration(d time.Duration) string { return formatDuration(d) }

// formatDuration renders a duration for a reason in the unit a person thinks
// in: "7d", "36h", "15m", "30s". It rounds down to one unit, switching to the
// larger unit only from two of them on (so 36h stays 36h, not 1d), except
// that exact multiples always use the larger unit (24h is 1d).
func formatDuration(d time.Duration) string {
	if d < 0 {
		if d == time.Duration(-1<<63) { // -d would overflow
			d++
		}
		return "-" + formatDuration(-d)
	}
	units := []struct {
		size time.Duration
		sym  string
	}{{Day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}}
	for _, u := range units {
		if d >= 2*u.size || (d >= u.size && d%u.size == 0) {
			return strconv.FormatInt(int64(d/u.size), 10) + u.sym
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// maxDurationDays keeps every accepted duration far from time.Duration's
// limit, so adding one to a timestamp cannot overflow; a century is retention
// enough.
const maxDurationDays = 36500

// ParseDuration accepts what users write in HCL for the policy knobs: Go
// durations ("36h", "90m") led by an optional number of whole days ("7d",
// "1d12h"), because retention is thought of in days and Go has no day unit.
// Negative and empty durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("invalid duration %q: want days like \"7d\", \"1d12h\" or a Go duration like \"36h\"", s)
	t := strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		n, err := strconv.ParseUint(t[:i], 10, 32)
		if err != nil {
			return 0, bad
		}
		if n > maxDurationDays {
			return 0, fmt.Errorf("invalid duration %q: at most %d days", s, maxDurationDays)
		}
		days, t = time.Duration(n)*Day, t[i+1:]
		if t == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, bad
	}
	if d > maxDurationDays*Day-days {
		return 0, fmt.Errorf("invalid duration %q: at most %d days", s, maxDurationDays)
	}
	return days + d, nil
}

// ago renders how long ago t was; "in the future" guards against clock skew
// so a reason never reads "-2h ago".
func ago(now, t time.Time) string {
	if t.After(now) {
		return "in the future"
	}
	return formatDuration(now.Sub(t)) + " ago"
}

// maxConsumersShown keeps a reason on one readable line; the full list is in
// Decision.Consumers.
const maxConsumersShown = 3

// formatConsumers lists who uses an image: "i-0abc, lt-0def:v4 and 2 more".
func formatConsumers(cs []Consumer) string {
	var b strings.Builder
	for i, c := range cs {
		if i == maxConsumersShown {
			fmt.Fprintf(&b, " and %d more", len(cs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(formatConsumer(c))
	}
	return b.String()
}

func formatConsumer(c Consumer) string {
	s := c.ID
	if s == "" {
		s = c.Kind
	}
	if s == "" {
		s = "unknown consumer"
	}
	if c.Version != "" {
		if strings.HasPrefix(c.Version, "v") {
			s += ":" + c.Version
		} else {
			s += ":v" + c.Version
		}
	}
	if c.Account != "" && c.Account != c.ID {
		s += " (account " + c.Account + ")"
	}
	return s
}

// formatUnknown lists why usage lookups failed: "DescribeInstances:
// AccessDenied; and 1 more".
func formatUnknown(cs []Consumer) string {
	var b strings.Builder
	for i, c := range cs {
		if i == maxConsumersShown {
			fmt.Fprintf(&b, " and %d more", len(cs)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		why := c.ID
		if why == "" {
			why = "lookup failed"
		}
		b.WriteString(clip(why))
	}
	return b.String()
}
