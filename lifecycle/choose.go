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
}

// Unsupported says why an image may not be handed out as a parent, or ""
// when it may: it must be managed, available, active (not deprecated,
// disabled or retired) and not expired.
func (img Image) Unsupported(now time.Time) string {
	st := img.EffectiveStage(now)
	switch {
	case !img.Managed:
		return "not managed"
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
// says what was seen and why each was passed over, so a failed child build
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
	passed := map[string]int{}
	for _, img := range images {
		if img.Family != c.Family || (c.Channel != "" && img.Channel != c.Channel) {
			continue
		}
		why := img.Unsupported(now)
		if why == "" && cs != nil {
			v, err := version.NewVersion(img.Version)
			if err != nil || !cs.Check(v) {
				why = "outside " + c.Constraint
			}
		}
		if why != "" {
			passed[why]++
			continue
		}
		ok = append(ok, img)
	}
	if len(ok) == 0 {
		return Image{}, noneError(c, passed)
	}
	return slices.MaxFunc(ok, CompareVersions), nil
}

func noneError(c Choice, passed map[string]int) error {
	what := "family " + c.Family
	if c.Channel != "" {
		what += ", channel " + c.Channel
	}
	if len(passed) == 0 {
		return fmt.Errorf("no release of %s exists", what)
	}
	reasons := make([]string, 0, len(passed))
	for why, n := range passed {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, why))
	}
	slices.Sort(reasons)
	return fmt.Errorf("no supported release of %s: passed over %s", what, strings.Join(reasons, ", "))
}
