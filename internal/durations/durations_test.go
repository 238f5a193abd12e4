package durations

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	day := 24 * time.Hour
	good := map[string]time.Duration{
		"":      0,
		"30d":   30 * day,
		"1d12h": day + 12*time.Hour,
		"36h":   36 * time.Hour,
		"90m":   90 * time.Minute,
		"0d":    0,
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "x", "30", "-1h", "1d-1h", "3.5d", "36501d", "36500d1h", "1e9d"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "36h", "d", "99999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err == nil && (d < 0 || d > maxDays*24*time.Hour) {
			t.Fatalf("Parse(%q) = %v out of range", s, d)
		}
	})
}
