package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
)

// Choice asks for the newest supported release of a family and channel,
// optionally within a version constraint (go-version syntax).
type Choice struct {
	Family     string
	Channel    string // empty: any channel
	Constraint string
	// Owners, when set, are the only accounts whose images may be chosen
	// (AWS: an image shared with us, or made public under our name, by
	// anyone else is passed over). Empty: the owner is not checked (local).
	Owners []string
}

// Unsupported says why an image may not be handed out as a parent, or ""
// when it may: it must be managed, available, active (not deprecated,
// disabled or retired) and not expired.
func (img Image) Unsupported(now time.Time) string {
	st := img.EffectiveStage(now)
	switch {
	case !img.Managed:
		return "not managed"
	case img.BadMetadata != "" || foreignMetadata(img) != "":
		return "unreadable metadata" // its expiry or stage cannot be trusted
	case st != StageActive:
		return string(st)
	case img.State != "" && img.State != StateAvailable:
		return "state " + img.State
	case !img.ExpiresAt.IsZero() && !img.ExpiresAt.After(now):
		return "expired"
	}
	return ""
}

// Choose returns the newest supported image matching c, ordered like the
// planner orders releases (CompareVersions). When none qualifies, the error
// says what was seen and why each was passed over, counting releases (as
// the planner does: one per version precedence and channel, whatever the
// number of spellings, rebuilds and copies), so a failed child build
// explains itself.
func Choose(images []Image, c Choice, now time.Time) (Image, error) {
	var cs version.Constraints
	if c.Constraint != "" {
		var err error
		if cs, err = version.NewConstraint(c.Constraint); err != nil {
			return Image{}, fmt.Errorf("version constraint %q: %w", c.Constraint, err)
		}
	}
	var ok []Image
	passed := map[string]map[[2]string]bool{} // reason → releases (channel, key)
	vc := versionCache{}
	for _, img := range images {
		if img.Family != c.Family || (c.Channel != "" && img.Channel != c.Channel) {
			continue
		}
		why := ""
		if len(c.Owners) > 0 && !slices.Contains(c.Owners, img.Owner) {
			why = "not owned by an allowed owner"
		}
		if why == "" {
			why = img.Unsupported(now)
		}
		if why == "" && cs != nil {
			v, err := version.NewVersion(img.Version)
			if err != nil || !cs.Check(v) {
				why = "outside " + c.Constraint
			}
		}
		if why != "" {
			if passed[why] == nil {
				passed[why] = map[[2]string]bool{}
			}
			passed[why][[2]string{img.Channel, releaseKey(vc, img)}] = true
			continue
		}
		ok = append(ok, img)
	}
	if len(ok) == 0 {
		return Image{}, noneError(c, passed)
	}
	return slices.MaxFunc(ok, CompareVersions), nil
}

func noneError(c Choice, passed map[string]map[[2]string]bool) error {
	what := "family " + c.Family
	if c.Channel != "" {
		what += ", channel " + c.Channel
	}
	if len(passed) == 0 {
		return fmt.Errorf("no release of %s exists", what)
	}
	reasons := make([]string, 0, len(passed))
	for why, rels := range passed {
		reasons = append(reasons, fmt.Sprintf("%d %s", len(rels), why))
	}
	slices.Sort(reasons)
	return fmt.Errorf("no supported release of %s: passed over %s", what, strings.Join(reasons, ", "))
}
