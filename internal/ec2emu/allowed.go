package ec2emu

import (
	"path"
	"strconv"
	"time"
)

// Allowed AMIs: an account's criteria, per region, for the AMIs of other accounts it
// may discover and launch. Enabled, an AMI no criterion allows is hidden from
// DescribeImages and refused by RunInstances; in audit mode nothing is restricted and
// DescribeImages says imageAllowed. The account's own AMIs are always allowed
// (ReplaceImageCriteriaInAllowedImagesSettings API reference).

// AllowedImages are one account's settings in a region.
type AllowedImages struct {
	State    string           `json:"state"` // disabled, enabled, audit-mode
	Criteria []ImageCriterion `json:"criteria,omitempty"`
}

// ImageCriterion allows the images that meet all of its conditions.
type ImageCriterion struct {
	Providers              []string `json:"providers,omitempty"` // account ids, amazon, aws-marketplace, aws-backup-vault, none
	Names                  []string `json:"names,omitempty"`     // with ? and * wildcards
	MaxDaysSinceDeprecated *int     `json:"maxDaysSinceDeprecated,omitempty"`
	MaxDaysSinceCreated    *int     `json:"maxDaysSinceCreated,omitempty"`
}

func (c *call) allowedSettings() *AllowedImages {
	if c.reg.AllowedImages == nil {
		c.reg.AllowedImages = map[string]*AllowedImages{}
	}
	a := c.reg.AllowedImages[c.account]
	if a == nil {
		a = &AllowedImages{State: "disabled"}
		c.reg.AllowedImages[c.account] = a
	}
	return a
}

// imageAllowed says whether the caller's criteria allow img, and whether they are
// in force (enabled) at all.
func (c *call) imageAllowed(img *Image) (allowed, enforced bool, audited bool) {
	a := c.reg.AllowedImages[c.account]
	if a == nil || a.State == "disabled" {
		return true, false, false
	}
	allowed = img.OwnerID == c.account
	for _, k := range a.Criteria {
		allowed = allowed || c.meets(img, k)
	}
	return allowed, a.State == "enabled", true
}

func (c *call) meets(img *Image, k ImageCriterion) bool {
	if len(k.Providers) > 0 && !contains(k.Providers, img.OwnerID) && !(contains(k.Providers, "amazon") && img.OwnerAlias == "amazon") {
		return false
	}
	if len(k.Names) > 0 {
		ok := false
		for _, n := range k.Names {
			if m, _ := path.Match(n, img.Name); m {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	day := 24 * time.Hour
	if d := k.MaxDaysSinceDeprecated; d != nil && deprecated(img, c.now) && c.now.Sub(*img.DeprecationTime) > time.Duration(*d)*day {
		return false
	}
	if d := k.MaxDaysSinceCreated; d != nil && c.now.Sub(img.CreationDate) > time.Duration(*d)*day {
		return false
	}
	return true
}

type allowedStateResp struct {
	base
	State string `xml:"allowedImagesSettingsState"`
}

func enableAllowedImagesSettings(c *call) (response, error) {
	st := c.str("AllowedImagesSettingsState")
	if st != "enabled" && st != "audit-mode" {
		return nil, badParam("Invalid value '%s' for AllowedImagesSettingsState (enabled or audit-mode)", st)
	}
	c.allowedSettings().State = st
	return &allowedStateResp{State: st}, nil
}

func disableAllowedImagesSettings(c *call) (response, error) {
	c.allowedSettings().State = "disabled"
	return &allowedStateResp{State: "disabled"}, nil
}

func replaceImageCriteria(c *call) (response, error) {
	var ks []ImageCriterion
	ns := c.indexes("ImageCriterion")
	if len(ns) > 10 {
		return nil, badParam("At most 10 image criteria, got %d", len(ns))
	}
	for _, n := range ns {
		p := key("ImageCriterion", n, "")
		k := ImageCriterion{Providers: c.list(p + "ImageProvider"), Names: c.list(p + "ImageName")}
		if contains(k.Providers, "none") && len(k.Providers) > 1 {
			return nil, badParam("ImageProvider none cannot be combined with other values")
		}
		if len(k.Providers) > 200 || len(k.Names) > 50 {
			return nil, badParam("Too many values in image criterion %d", n)
		}
		for name, dst := range map[string]**int{"DeprecationTimeCondition.MaximumDaysSinceDeprecated": &k.MaxDaysSinceDeprecated,
			"CreationDateCondition.MaximumDaysSinceCreated": &k.MaxDaysSinceCreated} {
			if v := c.str(p + name); v != "" {
				d, err := strconv.Atoi(v)
				if err != nil || d < 0 {
					return nil, badParam("Invalid value '%s' for %s", v, p+name)
				}
				*dst = &d
			}
		}
		ks = append(ks, k)
	}
	c.allowedSettings().Criteria = ks
	return &returnResp{Return: true}, nil
}

type conditionXML struct {
	Deprecated *int `xml:"maximumDaysSinceDeprecated,omitempty"`
	Created    *int `xml:"maximumDaysSinceCreated,omitempty"`
}

type criterionXML struct {
	Providers   []string      `xml:"imageProviderSet>item,omitempty"`
	Names       []string      `xml:"imageNameSet>item,omitempty"`
	Deprecation *conditionXML `xml:"deprecationTimeCondition,omitempty"`
	Creation    *conditionXML `xml:"creationDateCondition,omitempty"`
}

type allowedSettingsResp struct {
	base
	State     string         `xml:"state"`
	Criteria  []criterionXML `xml:"imageCriterionSet>item"`
	ManagedBy string         `xml:"managedBy"`
}

func getAllowedImagesSettings(c *call) (response, error) {
	a := c.allowedSettings()
	out := &allowedSettingsResp{State: a.State, ManagedBy: "account"}
	for _, k := range a.Criteria {
		x := criterionXML{Providers: k.Providers, Names: k.Names}
		if k.MaxDaysSinceDeprecated != nil {
			x.Deprecation = &conditionXML{Deprecated: k.MaxDaysSinceDeprecated}
		}
		if k.MaxDaysSinceCreated != nil {
			x.Creation = &conditionXML{Created: k.MaxDaysSinceCreated}
		}
		out.Criteria = append(out.Criteria, x)
	}
	return out, nil
}
