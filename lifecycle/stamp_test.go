package lifecycle

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// globMatch is EC2's filter matching: * any run, ? one character.
func globMatch(pattern, s string) bool {
	var re strings.Builder
	re.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return regexp.MustCompile(re.String() + "$").MatchString(s)
}

func genName(t *rapid.T, label string, max int) string {
	return rapid.StringOfN(rapid.RuneFrom(nil, unicode.L, unicode.N, unicode.P, unicode.S, unicode.Zs), 1, max, -1).
		Filter(func(s string) bool { return strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= max }).Draw(t, label)
}

// TestStampRoundTrip: whatever the names (as validate admits them) and the
// builder's description (a parent's stamp in it included), a stamp that
// fits reads back as the release, the description fits EC2's limit, the
// family's filter finds it and no other family's or channel's does.
func TestStampRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		img := Image{
			ID: "ami-" + rapid.StringMatching(`[0-9a-f]{17}`).Draw(t, "id"), Family: genName(t, "family", 100),
			Version: genName(t, "version", 64), Channel: genName(t, "channel", 64),
			ReleasedAt: time.Unix(rapid.Int64Range(0, 1<<33).Draw(t, "released"), 0).UTC(),
			Parent:     rapid.SampledFrom([]string{"", "ami-0123456789abcdef0", strings.Repeat("p", 256)}).Draw(t, "parent"),
		}
		if rapid.Bool().Draw(t, "expires") {
			img.ExpiresAt = img.ReleasedAt.Add(time.Duration(rapid.IntRange(1, 1000).Draw(t, "days")) * 24 * time.Hour)
		}
		managedBy := rapid.SampledFrom([]string{DefaultManagedBy, "team-a", genName(t, "managed", 40)}).Draw(t, "managed-by")
		parentStamp, _ := Stamp(Image{ID: "ami-00000000000000001", Family: img.Family, Channel: img.Channel, Version: "0.1", ReleasedAt: img.ReleasedAt}, DefaultManagedBy)
		builder := rapid.SampledFrom([]string{"", "web server", "based on " + parentStamp, strings.Repeat("x", 300)}).Draw(t, "builder")

		stamp, fits := Stamp(img, managedBy)
		if !fits {
			return
		}
		d := StampedDescription(builder, stamp)
		require.LessOrEqual(t, utf8.RuneCountInString(d), MaxDescription)
		require.Equal(t, 1, strings.Count(d, stampOpen), "only the AMI's own stamp stays: %q", d)
		tags, err := ParseStamp(d, img.ID)
		require.NoError(t, err, d)
		want := map[string]string{TagFamily: img.Family, TagVersion: img.Version, TagChannel: img.Channel,
			TagReleasedAt: formatTagTime(img.ReleasedAt), TagStage: "active", TagManagedBy: managedBy}
		if !img.ExpiresAt.IsZero() {
			want[TagExpiresAt] = formatTagTime(img.ExpiresAt)
		}
		if img.Parent != "" && tags[TagParent] != "" {
			want[TagParent] = img.Parent
		}
		require.Equal(t, want, tags)
		require.True(t, globMatch(StampFilter(img.Family, img.Channel), d), "filter %q misses %q", StampFilter(img.Family, img.Channel), d)
		require.True(t, globMatch(StampFilter(img.Family, ""), d))
		require.False(t, globMatch(StampFilter(img.Family+"x", img.Channel), d))
		require.False(t, globMatch(StampFilter(img.Family, img.Channel+"x"), d))
		_, err = ParseStamp(d, "ami-99999999999999999")
		require.Error(t, err, "another AMI's stamp was taken as its own")
	})
}

func TestStampRefusals(t *testing.T) {
	img := Image{ID: "ami-1", Family: "web", Version: "1.0", Channel: "stable", ReleasedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	stamp, ok := Stamp(img, DefaultManagedBy)
	require.True(t, ok)
	require.Equal(t, "[lifecycle/1 family=web&channel=stable&version=1.0&released-at=2026-01-01T00%3A00%3A00Z&id=ami-1]", stamp)
	for what, d := range map[string]string{
		"no stamp":            "web server",
		"not at the end":      stamp + " and more",
		"another AMI's":       strings.Replace(stamp, "id=ami-1", "id=ami-2", 1),
		"no id":               strings.Replace(stamp, "&id=ami-1", "", 1),
		"no version":          strings.Replace(stamp, "&version=1.0", "", 1),
		"bad release time":    strings.Replace(stamp, "2026-01-01T00%3A00%3A00Z", "yesterday", 1),
		"malformed escapes":   strings.Replace(stamp, "family=web", "family=%zz", 1),
		"unterminated parent": "[lifecycle/1 family=web",
	} {
		_, err := ParseStamp(d, "ami-1")
		require.Error(t, err, what)
	}
	huge := img
	huge.Family, huge.Version, huge.Channel = strings.Repeat("f", 100), strings.Repeat("v", 64), strings.Repeat("c", 64)
	_, ok = Stamp(huge, strings.Repeat("m", 50))
	require.False(t, ok, "a stamp over 255 characters must be refused, not cut")
}
