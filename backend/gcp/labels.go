package gcp

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Compute Engine labels allow lowercase letters, digits, '_' and '-', at
// most 63 characters, and keys that start with a letter. The lifecycle
// vocabulary (lifecycle.Tags) is carried in them reversibly:
//
//	key    lifecycle:<name>  →  lifecycle-<name>
//	time   RFC 3339          →  20261206t161319z (ISO 8601 basic, lowercase)
//	other  a-z 0-9 -         →  as is; every other byte as _xx (hex), so
//	                            1.4.2+build.1 → 1_2e4_2e2_2bbuild_2e1
//
// Labels of other keys are the user's and never rewritten.
const (
	labelPrefix = "lifecycle-"
	// MaxLabel is Compute Engine's limit on a label value.
	MaxLabel = 63
	// maxLabels is Compute Engine's limit on labels per resource.
	maxLabels       = 64
	labelTimeLayout = "20060102t150405z"
)

var (
	labelKeyRE   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	labelValueRE = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
	// Compute Engine's rule for resource names (images, families).
	nameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// timeTags are the lifecycle keys whose values are times.
var timeTags = map[string]bool{
	lifecycle.TagReleasedAt: true, lifecycle.TagExpiresAt: true, lifecycle.TagStageSince: true,
}

// LabelKey is the label key of a lifecycle tag key.
func LabelKey(tag string) string {
	return labelPrefix + strings.TrimPrefix(tag, lifecycle.TagPrefix)
}

// tagKey is the lifecycle tag key of a label key, ok false for a label that
// is not ours.
func tagKey(label string) (string, bool) {
	name, ok := strings.CutPrefix(label, labelPrefix)
	if !ok {
		return "", false
	}
	return lifecycle.TagPrefix + name, true
}

// EncodeValue renders a lifecycle tag value as a label value; ok is false
// when it does not fit in 63 characters.
func EncodeValue(tag, v string) (string, bool) {
	if timeTags[tag] && v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC().Format(labelTimeLayout), true
		}
	}
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			sb.WriteByte(c)
			continue
		}
		fmt.Fprintf(&sb, "_%02x", c)
	}
	out := sb.String()
	return out, len(out) <= MaxLabel
}

// DecodeValue reads what EncodeValue writes.
func DecodeValue(tag, v string) (string, error) {
	if timeTags[tag] && v != "" {
		t, err := time.Parse(labelTimeLayout, v)
		if err != nil {
			return "", fmt.Errorf("bad time label %q: want 20060102t150405z", v)
		}
		return t.UTC().Format(time.RFC3339), nil
	}
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '_' {
			sb.WriteByte(v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", fmt.Errorf("bad label value %q: '_' must be followed by two hex digits", v)
		}
		b, err := strconv.ParseUint(v[i+1:i+3], 16, 8)
		if err != nil || strings.ToLower(v[i+1:i+3]) != v[i+1:i+3] {
			return "", fmt.Errorf("bad label value %q: '_' must be followed by two lowercase hex digits", v)
		}
		sb.WriteByte(byte(b))
		i += 2
	}
	return sb.String(), nil
}

// Labels renders lifecycle tags as labels. A value that does not fit is an
// error naming the tag.
func Labels(tags map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		enc, ok := EncodeValue(k, v)
		if !ok {
			return nil, fmt.Errorf("%s: %q takes %d characters as a label value, over Compute Engine's %d", k, clip(v), len(enc), MaxLabel)
		}
		out[LabelKey(k)] = enc
	}
	return out, nil
}

// TagsFromLabels reads the lifecycle tags out of an image's labels. A label
// value that cannot be decoded is kept as is and reported (the caller marks
// the image's metadata unreadable); labels that are not ours are left out.
func TagsFromLabels(labels map[string]string) (map[string]string, error) {
	out := map[string]string{}
	var bad error
	for k, v := range labels {
		tag, ok := tagKey(k)
		if !ok {
			continue
		}
		d, err := DecodeValue(tag, v)
		if err != nil {
			if bad == nil {
				bad = fmt.Errorf("label %s: %w", k, err)
			}
			d = v
			if timeTags[tag] {
				d = "unreadable:" + v // FromTags then refuses it, naming the key
			}
		}
		out[tag] = d
	}
	return out, bad
}

// CheckLabelValue says why a template value cannot be carried in a label
// (field is the option's name), or nil.
func CheckLabelValue(field, tag, v string) error {
	if enc, ok := EncodeValue(tag, v); !ok {
		return fmt.Errorf("%s: %q takes %d characters as a Compute Engine label value (characters other than a-z, 0-9 and '-' take 3), over the %d allowed", field, clip(v), len(enc), MaxLabel)
	}
	return nil
}

// CheckFamily says why family cannot name a Compute Engine image family, or nil.
func CheckFamily(family string) error {
	if !nameRE.MatchString(family) {
		return fmt.Errorf("family: %q is not a Compute Engine image family name (1 to 63 lowercase letters, digits and '-', starting with a letter and not ending with '-'); the gcp backend also sets it as the images' family", family)
	}
	return nil
}
