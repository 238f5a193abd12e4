package release

import (
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// policy turns the validated configuration into the planner's Policy: unset
// knobs keep lifecycle.DefaultPolicy's cautious values.
func (c *Config) policy() lifecycle.Policy {
	p := lifecycle.DefaultPolicy()
	p.ManagedBy = c.ManagedBy
	if c.KeepReleases != nil {
		p.KeepReleases = *c.KeepReleases
	}
	setDuration(&p.MinAge, c.MinAge)
	setDuration(&p.ExpireAfter, c.ExpireAfter)
	setDuration(&p.DeprecateAfter, c.DeprecateAfter)
	setDuration(&p.DisableAfter, c.DisableAfter)
	setDuration(&p.DeregisterAfter, c.DeregisterAfter)
	setDuration(&p.ForgetPendingAfter, c.ForgetPendingAfter)
	if c.DeleteSnapshots != nil {
		p.DeleteSnapshots = *c.DeleteSnapshots
	}
	if c.DeprecateExpired != nil {
		p.DeprecateExpired = *c.DeprecateExpired
	}
	for _, cp := range c.ChannelPolicies {
		if p.Channels == nil {
			p.Channels = map[string]lifecycle.ChannelPolicy{}
		}
		ch := lifecycle.ChannelPolicy{NeverExpire: cp.NeverExpire}
		ch.KeepReleases = cp.KeepReleases
		ch.ExpireAfter = optionalDuration(cp.ExpireAfter)
		ch.MinAge = optionalDuration(cp.MinAge)
		ch.DeprecateAfter = optionalDuration(cp.DeprecateAfter)
		ch.DisableAfter = optionalDuration(cp.DisableAfter)
		ch.DeregisterAfter = optionalDuration(cp.DeregisterAfter)
		p.Channels[cp.Name] = ch
	}
	return p
}

// setDuration overrides dst when s is set; s was validated in Configure.
func setDuration(dst *time.Duration, s string) {
	if d := optionalDuration(s); d != nil {
		*dst = *d
	}
}

func optionalDuration(s string) *time.Duration {
	if s == "" {
		return nil
	}
	d, err := lifecycle.ParseDuration(s)
	if err != nil {
		return nil
	}
	return &d
}
