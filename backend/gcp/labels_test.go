package gcp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Every value that fits comes back as it went, and is a valid label value.
func TestLabelValuesRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tag := rapid.SampledFrom([]string{lifecycle.TagVersion, lifecycle.TagChannel, lifecycle.TagParent, lifecycle.TagFamily, lifecycle.TagManagedBy}).Draw(t, "tag")
		v := string(rapid.SliceOf(rapid.Byte()).Draw(t, "v"))
		enc, ok := EncodeValue(tag, v)
		if !ok {
			if len(enc) <= MaxLabel {
				t.Fatalf("%q refused though it encodes in %d", v, len(enc))
			}
			return
		}
		if !labelValueRE.MatchString(enc) {
			t.Fatalf("%q encodes to %q, not a label value", v, enc)
		}
		dec, err := DecodeValue(tag, enc)
		if err != nil || dec != v {
			t.Fatalf("%q → %q → %q, %v", v, enc, dec, err)
		}
	})
}

// Times are written in whole seconds, UTC, and read back equal.
func TestLabelTimesRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sec := rapid.Int64Range(0, 253402300799).Draw(t, "sec") // 1970 .. 9999
		v := time.Unix(sec, 0).UTC().Format(time.RFC3339)
		for _, tag := range []string{lifecycle.TagReleasedAt, lifecycle.TagExpiresAt, lifecycle.TagStageSince} {
			enc, ok := EncodeValue(tag, v)
			if !ok || !labelValueRE.MatchString(enc) || len(enc) > MaxLabel {
				t.Fatalf("%s %q → %q", tag, v, enc)
			}
			dec, err := DecodeValue(tag, enc)
			if err != nil || dec != v {
				t.Fatalf("%s %q → %q → %q, %v", tag, v, enc, dec, err)
			}
		}
	})
}

// Two different values never share a label (a sanitiser that dropped or
// folded characters would merge 1.4.2 and 1-4-2, or 1.4.2+b and 1.4.2_b).
func TestLabelValuesNeverCollide(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.StringMatching(`[a-zA-Z0-9._+~-]{0,20}`).Draw(t, "a")
		b := rapid.StringMatching(`[a-zA-Z0-9._+~-]{0,20}`).Draw(t, "b")
		ea, _ := EncodeValue(lifecycle.TagVersion, a)
		eb, _ := EncodeValue(lifecycle.TagVersion, b)
		if a != b && ea == eb {
			t.Fatalf("%q and %q both encode to %q", a, b, ea)
		}
	})
}

func TestLabelExamples(t *testing.T) {
	for v, want := range map[string]string{
		"1.4.2":         "1_2e4_2e2",
		"1.4.2+build.1": "1_2e4_2e2_2bbuild_2e1",
		"stable":        "stable",
		"Web":           "_57eb",
		"":              "",
	} {
		got, ok := EncodeValue(lifecycle.TagVersion, v)
		require.True(t, ok)
		require.Equal(t, want, got, v)
	}
	got, _ := EncodeValue(lifecycle.TagReleasedAt, "2026-12-06T16:13:19Z")
	require.Equal(t, "20261206t161319z", got)
	require.Equal(t, "lifecycle-released-at", LabelKey(lifecycle.TagReleasedAt))
	require.True(t, labelKeyRE.MatchString(LabelKey(lifecycle.TagStageSince)))
}

func TestDecodeRefusesWhatNobodyEncodes(t *testing.T) {
	for _, v := range []string{"_", "_2", "_zz", "_2E", "1_"} {
		_, err := DecodeValue(lifecycle.TagVersion, v)
		require.Error(t, err, v)
	}
	_, err := DecodeValue(lifecycle.TagReleasedAt, "2026-12-06")
	require.Error(t, err)
}

// A time label someone else wrote makes the image's metadata unreadable,
// so the planner never retires it on a guessed delay.
func TestBadTimeLabelIsUnreadable(t *testing.T) {
	tags, err := TagsFromLabels(map[string]string{"lifecycle-stage-since": "yesterday", "lifecycle-version": "1_2e0", "team": "x"})
	require.Error(t, err)
	require.Equal(t, "1.0", tags[lifecycle.TagVersion])
	require.NotContains(t, tags, "team", "labels that are not ours are left out")
	img, ferr := lifecycle.FromTags(lifecycle.Image{}, tags)
	require.Error(t, ferr)
	require.Contains(t, img.BadMetadata, lifecycle.TagStageSince)
}

func TestCheckLabelValueNamesTheField(t *testing.T) {
	require.NoError(t, CheckLabelValue("version", lifecycle.TagVersion, "1.4.2+build.1"))
	err := CheckLabelValue("version", lifecycle.TagVersion, strings.Repeat("1.", 20))
	require.ErrorContains(t, err, "version:")
	require.ErrorContains(t, err, "63")
	require.NoError(t, CheckFamily("web-base"))
	for _, f := range []string{"Web", "web_base", "1web", "web-", strings.Repeat("a", 64), "", "web.base"} {
		require.ErrorContains(t, CheckFamily(f), "family:", f)
	}
}
