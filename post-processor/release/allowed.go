package release

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/safefile"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// An account that launches AMIs shared with it can refuse those whose
// deprecation is long past with EC2's Allowed AMIs: image criteria that
// name the accounts whose AMIs it allows and how long after deprecation.
// allowed_images_path writes them in the form
// `aws ec2 replace-image-criteria-in-allowed-images-settings
// --image-criteria file://…` takes.

// imageCriterion is one of EC2's ImageCriterion, as the CLI reads it.
type imageCriterion struct {
	ImageProviders           []string                  `json:"ImageProviders"`
	DeprecationTimeCondition *deprecationTimeCondition `json:"DeprecationTimeCondition,omitempty"`
}

type deprecationTimeCondition struct {
	MaximumDaysSinceDeprecated int `json:"MaximumDaysSinceDeprecated"`
}

var accountRE = regexp.MustCompile(`^\d{12}$`)

// allowedImagesDays is allowed_images_max_days_deprecated, or disable_after
// in whole days.
func (c *Config) allowedImagesDays(p lifecycle.Policy) int {
	if c.AllowedImagesMaxDaysDeprecated != nil {
		return *c.AllowedImagesMaxDaysDeprecated
	}
	return min(int(p.DisableAfter/lifecycle.Day), maxAllowedDays)
}

// owners are the accounts that own the family's managed AMIs.
func owners(images []lifecycle.Image, managedBy string) []string {
	var out []string
	for _, img := range images {
		if accountRE.MatchString(img.Owner) && lifecycle.IsManaged(img.Tags, managedBy) && !slices.Contains(out, img.Owner) {
			out = append(out, img.Owner)
		}
	}
	slices.Sort(out)
	return out
}

// writeAllowedImages writes the criteria: the owners, with the days. It
// writes nothing (and says so) when no AMI of the family was seen: the
// account to allow is then unknown.
func (r *run) writeAllowedImages(path string) error {
	if len(r.owners) == 0 {
		r.ui.Message(fmt.Sprintf("allowed_images_path: not written: no AMI of family %s was listed, so the account to allow is unknown", r.c.Family))
		return nil
	}
	crit := []imageCriterion{{ImageProviders: r.owners,
		DeprecationTimeCondition: &deprecationTimeCondition{MaximumDaysSinceDeprecated: r.c.allowedImagesDays(r.policy)}}}
	data, err := json.MarshalIndent(crit, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	if err := safefile.Write(path, append(data, '\n')); err != nil {
		return err
	}
	r.ui.Message(fmt.Sprintf("Allowed AMIs criteria for the accounts the family is shared with: %s (accounts %s, %d days after deprecation)",
		path, strings.Join(r.owners, ", "), crit[0].DeprecationTimeCondition.MaximumDaysSinceDeprecated))
	return nil
}
