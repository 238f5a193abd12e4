package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestChoose(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	img := func(id, ver string, mod func(*Image)) Image {
		i := Image{ID: id, Family: "base", Channel: "stable", Version: ver, Managed: true,
			State: StateAvailable, BuildTime: now.Add(-time.Hour)}
		if mod != nil {
			mod(&i)
		}
		return i
	}
	all := []Image{
		img("a", "1.0.0", nil),
		img("b", "1.9.0", nil),
		img("c", "2.1.0", func(i *Image) { i.Stage = StageDeprecated }),
		img("d", "2.0.0", func(i *Image) { i.State = StateDisabled }),
		img("e", "1.10.0", func(i *Image) { i.ExpiresAt = now.Add(-time.Minute) }),
		img("f", "3.0.0", func(i *Image) { i.Managed = false }),
		img("g", "2.5.0", func(i *Image) { i.Channel = "rc" }),
		img("h", "2.2.0", func(i *Image) { i.DeprecationTime = now.Add(-time.Second) }),
		img("i", "1.9.5", func(i *Image) { i.ExpiresAt = now.Add(time.Hour) }),
		img("j", "9.0.0", func(i *Image) { i.State = "pending"; i.Family = "other" }),
		// Crafted metadata: an unreadable expiry, a version no build writes.
		img("k", "5.0.0", func(i *Image) { i.BadMetadata = "lifecycle:expires-at: not a time" }),
		img("l", "5.1.0"+strings.Repeat("9", 70), nil),
	}
	cases := []struct {
		name    string
		c       Choice
		want    string
		wantErr string
	}{
		{"newest supported skips deprecated, disabled, expired, unmanaged, EC2-deprecated", Choice{Family: "base", Channel: "stable"}, "i", ""},
		{"constraint", Choice{Family: "base", Channel: "stable", Constraint: "< 1.9.5"}, "b", ""},
		{"other channel", Choice{Family: "base", Channel: "rc"}, "g", ""},
		{"any channel", Choice{Family: "base"}, "g", ""},
		{"nothing in range explains why", Choice{Family: "base", Channel: "stable", Constraint: ">= 4"}, "",
			"no supported release of family base, channel stable: passed over 1 disabled, 1 expired, 1 not managed, 2 deprecated, 2 unreadable metadata, 3 outside >= 4"},
		{"pending is not handed out", Choice{Family: "other"}, "", "passed over 1 state pending"},
		{"unknown family", Choice{Family: "web"}, "", "no release of family web exists"},
		{"bad constraint", Choice{Family: "base", Constraint: "newest"}, "", `version constraint "newest"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Choose(all, tc.c, now)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got.ID, "Choose")
		})
	}
}
