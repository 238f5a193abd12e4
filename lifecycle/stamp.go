package lifecycle

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// A stamp publishes a release's metadata in the AMI description, the one
// field the accounts an AMI is shared with can read: EC2 tags belong to the
// account that wrote them, so a consumer account sees none of the owner's.
// It ends the description:
//
//	<the builder's description> [lifecycle/1 family=web&channel=stable&version=1.2.0&released-at=…&id=ami-…]
//
// Values are query-escaped, so they never contain EC2 filter wildcards (*,
// ?) or the closing bracket, and family and channel come first, so one
// DescribeImages filter on the description finds a family. The AMI's own
// id is part of it: a stamp copied into another AMI's description (a child
// build's "based on {{ .SourceAMIDescription }}", a copy) is not that AMI's.
const (
	stampOpen = "[lifecycle/1 "
	stampEnd  = "]"
	// MaxDescription is EC2's limit on an AMI description, in characters.
	MaxDescription = 255
	stampID        = "id"
)

// stampKeys are the tags a stamp carries, in order; the first two are what
// StampFilter matches on, parent is left out when it does not fit.
var stampKeys = []string{TagFamily, TagChannel, TagVersion, TagReleasedAt, TagExpiresAt, TagManagedBy, TagParent}

// Stamp is the stamp of release img (its id included) and whether it fits
// an AMI description; a parent that would not fit is left out.
func Stamp(img Image, managedBy string) (string, bool) {
	tags := Tags(img, managedBy)
	if tags[TagManagedBy] == DefaultManagedBy {
		delete(tags, TagManagedBy) // the reader's default: room for the rest
	}
	build := func(withParent bool) string {
		var parts []string
		for _, k := range stampKeys {
			if v := tags[k]; v != "" && (k != TagParent || withParent) {
				parts = append(parts, strings.TrimPrefix(k, TagPrefix)+"="+url.QueryEscape(v))
			}
		}
		parts = append(parts, stampID+"="+url.QueryEscape(img.ID))
		return stampOpen + strings.Join(parts, "&") + stampEnd
	}
	s := build(true)
	if utf8.RuneCountInString(s) > MaxDescription {
		s = build(false)
	}
	return s, utf8.RuneCountInString(s) <= MaxDescription
}

// StampedDescription is description with stamp at its end, instead of any
// stamp it held (a parent's, copied by the builder, or an earlier one),
// shortened to fit EC2's limit.
func StampedDescription(description, stamp string) string {
	own := strings.TrimSpace(stripStamps(description))
	room := MaxDescription - utf8.RuneCountInString(stamp) - 1
	if room <= 0 || own == "" {
		return stamp
	}
	if utf8.RuneCountInString(own) > room {
		r := []rune(own)
		own = strings.TrimSpace(string(r[:room-1])) + "…"
	}
	return own + " " + stamp
}

func stripStamps(s string) string {
	for {
		i := strings.Index(s, stampOpen)
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], stampEnd)
		if j < 0 {
			return s[:i]
		}
		s = s[:i] + s[i+j+len(stampEnd):]
	}
}

// ParseStamp reads the stamp that ends the description of AMI id as tags
// (stage active: a stamp is written only at release; EC2's own deprecation
// time and state say the rest). It fails for a description without one,
// with a malformed one, or with another AMI's.
func ParseStamp(description, id string) (map[string]string, error) {
	i := strings.LastIndex(description, stampOpen)
	if i < 0 || !strings.HasSuffix(description, stampEnd) {
		return nil, fmt.Errorf("the description holds no %s…%s stamp", stampOpen, stampEnd)
	}
	q, err := url.ParseQuery(strings.TrimSuffix(description[i+len(stampOpen):], stampEnd))
	if err != nil {
		return nil, fmt.Errorf("malformed stamp: %w", err)
	}
	if got := q.Get(stampID); got != id {
		return nil, fmt.Errorf("the stamp is that of %q, not of this AMI", got)
	}
	tags := map[string]string{TagStage: string(StageActive), TagManagedBy: DefaultManagedBy}
	for _, k := range stampKeys {
		if v := q.Get(strings.TrimPrefix(k, TagPrefix)); v != "" {
			tags[k] = v
		}
	}
	if tags[TagFamily] == "" || tags[TagVersion] == "" {
		return nil, fmt.Errorf("the stamp names no family or version")
	}
	if _, err := time.Parse(timeTagLayout, tags[TagReleasedAt]); err != nil {
		return nil, fmt.Errorf("the stamp has no release time: %w", err)
	}
	return tags, nil
}

// StampFilter is the DescribeImages "description" filter value that finds
// the stamped releases of a family (and channel, unless empty).
func StampFilter(family, channel string) string {
	f := "*" + stampOpen + "family=" + url.QueryEscape(family) + "&"
	if channel != "" {
		f += "channel=" + url.QueryEscape(channel) + "&"
	}
	return f + "*"
}
