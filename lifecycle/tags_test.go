package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTagsRoundTrip(t *testing.T) {
	img := Image{
		ID: "ami-1", Family: "base", Version: "1.4.2", Channel: "stable", Parent: "ami-0",
		ReleasedAt: now.Add(123 * time.Millisecond), ExpiresAt: now.Add(30 * Day),
		Stage: StageDeprecated, StageSince: now.In(time.FixedZone("X", 3600)), Pinned: true,
	}
	tags := Tags(img, "me")
	want := map[string]string{
		TagFamily: "base", TagVersion: "1.4.2", TagChannel: "stable", TagParent: "ami-0",
		TagReleasedAt: "2025-06-01T12:00:00Z", TagExpiresAt: "2025-07-01T12:00:00Z",
		TagManagedBy: "me", TagStage: "deprecated", TagStageSince: "2025-06-01T12:00:00Z", TagPin: "true",
	}
	require.Equal(t, want, tags, "Tags")
	back, err := FromTags(Image{ID: "ami-1"}, tags)
	require.NoError(t, err)
	roundTrips := back.Family == img.Family && back.Version == img.Version && back.Channel == img.Channel &&
		back.Parent == img.Parent && back.ReleasedAt.Equal(now) && back.ExpiresAt.Equal(img.ExpiresAt) &&
		back.Stage == img.Stage && back.StageSince.Equal(now) && back.Pinned
	assert.True(t, roundTrips, "round trip: %+v", back)
	assert.Equal(t, tags, back.Tags, "FromTags did not record the tags")
	tags[TagFamily] = "changed"
	assert.Equal(t, "base", back.Tags[TagFamily], "Image.Tags aliases the caller's map")
	assert.True(t, IsManaged(tags, "me"), "IsManaged(tags, me)")
	assert.False(t, IsManaged(tags, "you"), "IsManaged(tags, you)")
	assert.False(t, IsManaged(tags, ""), "IsManaged(tags, \"\")")
	assert.False(t, IsManaged(nil, "me"), "IsManaged(nil, me)")
}

func TestTagsEmptyClearsFields(t *testing.T) {
	tags := Tags(Image{}, "")
	for _, k := range []string{TagFamily, TagVersion, TagChannel, TagReleasedAt, TagExpiresAt, TagParent,
		TagManagedBy, TagStage, TagStageSince, TagPin} {
		v, ok := tags[k]
		assert.True(t, ok && v == "", "%s = %q, %v; want present and empty", k, v, ok)
	}
	full := Image{Family: "f", ExpiresAt: now, Stage: StageDisabled, StageSince: now, Pinned: true}
	got, err := FromTags(full, tags)
	require.NoError(t, err)
	cleared := got.Family == "" && got.ExpiresAt.IsZero() && got.Stage == "" && got.StageSince.IsZero() && !got.Pinned
	assert.True(t, cleared, "empty tags did not clear: %+v", got)
}

func TestFromTagsErrors(t *testing.T) {
	base := Image{ID: "ami-1", Pinned: false, ExpiresAt: now}
	cases := []struct {
		name  string
		tags  map[string]string
		errs  []string
		check func(Image) bool
	}{
		{"absent keys leave fields", map[string]string{"Name": "x"}, nil,
			func(i Image) bool { return i.ExpiresAt.Equal(now) && i.Tags["Name"] == "x" }},
		{"bad timestamp names the key, others still parsed",
			map[string]string{TagReleasedAt: "yesterday", TagFamily: "base", TagStageSince: "2025-01-02T03:04:05+02:00"},
			[]string{`lifecycle:released-at: bad timestamp "yesterday"`},
			func(i Image) bool {
				return i.Family == "base" && i.ReleasedAt.IsZero() &&
					i.StageSince.Equal(time.Date(2025, 1, 2, 1, 4, 5, 0, time.UTC))
			}},
		{"bad expiry keeps the old value", map[string]string{TagExpiresAt: "2025-13-01T00:00:00Z"},
			[]string{"lifecycle:expires-at: bad timestamp"}, func(i Image) bool { return i.ExpiresAt.Equal(now) }},
		{"year out of range", map[string]string{TagStageSince: "0000-01-01T00:30:00+01:00"},
			[]string{"lifecycle:stage-since: bad timestamp", "out of range"}, func(i Image) bool { return i.StageSince.IsZero() }},
		{"pre-1970", map[string]string{TagReleasedAt: "1969-12-31T23:59:59Z"},
			[]string{"year 1969 out of range"}, nil},
		{"several errors", map[string]string{TagReleasedAt: "x", TagStageSince: "y", TagStage: "zombie"},
			[]string{"lifecycle:released-at", "lifecycle:stage-since", `lifecycle:stage: unknown stage "zombie"`}, nil},
		{"stage trimmed", map[string]string{TagStage: " disabled "}, nil,
			func(i Image) bool { return i.Stage == StageDisabled }},
		{"pin true", map[string]string{TagPin: "TRUE"}, nil, func(i Image) bool { return i.Pinned }},
		{"pin false", map[string]string{TagPin: "false"}, nil, func(i Image) bool { return !i.Pinned }},
		{"pin odd counts as pinned", map[string]string{TagPin: "yes"},
			[]string{`lifecycle:pin: value "yes"`}, func(i Image) bool { return i.Pinned }},
		{"huge value is clipped in the error", map[string]string{TagReleasedAt: strings.Repeat("é", 1000)},
			[]string{"…"}, func(i Image) bool { return true }},
		{"unicode passes through", map[string]string{TagFamily: "базовый", TagVersion: "1.0-β"}, nil,
			func(i Image) bool { return i.Family == "базовый" && i.Version == "1.0-β" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromTags(base, tc.tags)
			if len(tc.errs) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			for _, w := range tc.errs {
				assert.ErrorContains(t, err, w)
			}
			if err != nil {
				assert.LessOrEqual(t, len(err.Error()), 400, "error too long")
			}
			if tc.check != nil {
				assert.True(t, tc.check(got), "image: %+v", got)
			}
		})
	}
}

// A hand-edited stage tag the planner does not know must reach the planner
// as such, so it skips the image (rule 3), rather than being dropped and
// leaving the image planned as if it were active.
func TestFromTagsUnknownStageIsSkipped(t *testing.T) {
	imgs := history()
	got, err := FromTags(imgs[3], map[string]string{TagStage: "Disabld", TagStageSince: daysAgo(90).Format("2006-01-02T15:04:05Z")})
	require.Error(t, err, "no error for an unknown stage")
	imgs[3] = got
	for _, d := range Plan(imgs, nil, testPolicy(), now, nil) {
		if d.Image.ID == "ami-110" {
			require.Equal(t, ActionSkip, d.Action, "image with unknown stage tag: %s (%s), want skip", d.Action, d.Reason)
		}
	}
}
