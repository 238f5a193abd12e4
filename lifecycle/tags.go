package lifecycle

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode/utf8"
)

// The metadata vocabulary, shared by EC2 tags and the local catalog, so an
// image carries its own lifecycle and any backend can plan from a listing.
const (
	TagPrefix     = "lifecycle:"
	TagFamily     = TagPrefix + "family"
	TagVersion    = TagPrefix + "version"
	TagChannel    = TagPrefix + "channel"
	TagReleasedAt = TagPrefix + "released-at"
	TagExpiresAt  = TagPrefix + "expires-at"
	TagParent     = TagPrefix + "parent"
	TagManagedBy  = TagPrefix + "managed-by"
	TagStage      = TagPrefix + "stage"
	TagStageSince = TagPrefix + "stage-since"
	TagPin        = TagPrefix + "pin" // "true": keep forever
	// TagSupersededBy: the new build whose run deprecated or disabled the
	// image, "region:id" (see Image.SupersededBy).
	TagSupersededBy = TagPrefix + "superseded-by"
	pinTrue         = "true"
	timeTagLayout   = time.RFC3339
	minTagYear      = 1970
	maxTagYear      = 9999
)

// Tags renders the lifecycle metadata of img. Every key is present (but
// superseded-by, which only stage changes write and clear): a field
// that is unset maps to "", so writing the whole map over an image's existing
// tags also clears stale values (a restore clears expires-at). EC2 and the
// local catalog both accept empty values; FromTags reads "" as unset. Times
// are RFC 3339 in UTC, whole seconds. managedBy is the Policy.ManagedBy
// marker.
func Tags(img Image, managedBy string) map[string]string {
	pin := ""
	if img.Pinned {
		pin = pinTrue
	}
	tags := map[string]string{
		TagFamily:     img.Family,
		TagVersion:    img.Version,
		TagChannel:    img.Channel,
		TagReleasedAt: formatTagTime(img.ReleasedAt),
		TagExpiresAt:  formatTagTime(img.ExpiresAt),
		TagParent:     img.Parent,
		TagManagedBy:  managedBy,
		TagStage:      string(img.Stage),
		TagStageSince: formatTagTime(img.StageSince),
		TagPin:        pin,
	}
	if by := img.SupersededBy.String(); by != "" {
		tags[TagSupersededBy] = by // only where a stopped run could leave it (see Plan)
	}
	return tags
}

func formatTagTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(timeTagLayout)
}

// IsManaged reports whether tags carry our managed-by marker. FromTags leaves
// Image.Managed alone because only the caller knows the policy's marker.
func IsManaged(tags map[string]string, managedBy string) bool {
	v, ok := tags[TagManagedBy]
	return ok && managedBy != "" && v == managedBy
}

// FromTags fills img's lifecycle fields from tags and records the tags in
// img.Tags (a copy). Keys that are absent leave the field as it was; "" means
// unset. A bad value is reported in the returned error, which names the key,
// and leaves that field as it was (except an unknown stage, kept so that the
// planner skips the image), while every other key is still applied:
// one hand-edited tag should not hide the rest of an image's metadata. An
// unrecognised pin value counts as pinned, since a person who wrote it
// meant to keep the image. It never panics.
func FromTags(img Image, tags map[string]string) (Image, error) {
	var errs []error
	img.Tags = maps.Clone(tags)
	img.BadMetadata = ""
	str := func(key string, dst *string) {
		if v, ok := tags[key]; ok {
			*dst = v
		}
	}
	str(TagFamily, &img.Family)
	str(TagVersion, &img.Version)
	str(TagChannel, &img.Channel)
	str(TagParent, &img.Parent)
	if v, ok := tags[TagSupersededBy]; ok {
		img.SupersededBy = ParseRef(strings.TrimSpace(v))
	}
	tm := func(key string, dst *time.Time) {
		v, ok := tags[key]
		if !ok {
			return
		}
		t, err := parseTagTime(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			if img.BadMetadata == "" {
				img.BadMetadata = fmt.Sprintf("%s: %v", key, err)
			}
			return
		}
		*dst = t
	}
	tm(TagReleasedAt, &img.ReleasedAt)
	tm(TagExpiresAt, &img.ExpiresAt)
	tm(TagStageSince, &img.StageSince)
	if v, ok := tags[TagStage]; ok {
		s := Stage(strings.TrimSpace(v))
		// An unknown stage is kept as read (unlike other bad values): the
		// planner skips an image whose stage it does not know, where the
		// previous value would have it planned as active.
		img.Stage = s
		if _, known := s.rank(); !known {
			errs = append(errs, fmt.Errorf("%s: unknown stage %q (want active, deprecated, disabled or deregistered)", TagStage, clip(v)))
		}
	}
	if v, ok := tags[TagPin]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case pinTrue:
			img.Pinned = true
		case "", "false":
			img.Pinned = false
		default:
			img.Pinned = true
			errs = append(errs, fmt.Errorf("%s: value %q is not \"true\" or \"false\"; treating the image as pinned", TagPin, clip(v)))
		}
	}
	return img, errors.Join(errs...)
}

// parseTagTime reads an RFC 3339 time; "" is the zero time (unset). Years
// outside 1970..9999 (in UTC) are refused: they are typos, and could not be
// written back in RFC 3339.
func parseTagTime(v string) (time.Time, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q: want RFC 3339 like 2006-01-02T15:04:05Z", clip(v))
	}
	t = t.UTC()
	if y := t.Year(); y < minTagYear || y > maxTagYear {
		return time.Time{}, fmt.Errorf("bad timestamp %q: year %d out of range %d..%d", clip(v), y, minTagYear, maxTagYear)
	}
	return t, nil
}

// clip keeps error messages readable when a tag value is huge.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so %q shows characters, not broken bytes.
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
