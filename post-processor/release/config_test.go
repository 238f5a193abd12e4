package release

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/store"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func configure(t *testing.T, raw map[string]interface{}) (*PostProcessor, error) {
	t.Helper()
	var p PostProcessor
	return &p, p.Configure(raw)
}

func TestConfigMapsEveryKnobToThePolicy(t *testing.T) {
	p, err := configure(t, map[string]interface{}{
		"family": "web", "version": "1.2.3", "keep_releases": 4, "min_age": "2d", "expire_after": "90d",
		"deprecate_after": "1d12h", "disable_after": "14d", "deregister_after": "30d",
		"delete_snapshots": true, "deprecate_expired": false, "managed_by": "team-a",
		"channel_policy": []map[string]interface{}{
			{"name": "rc", "keep_releases": 2, "expire_after": "30d", "disable_after": "1d"},
			{"name": "stable", "never_expire": true},
		},
	})
	require.NoError(t, err)
	got, day := p.policy, lifecycle.Day
	want := lifecycle.Policy{
		KeepReleases: 4, MinAge: 2 * day, ExpireAfter: 90 * day, DeprecateAfter: day + 12*time.Hour,
		DisableAfter: 14 * day, DeregisterAfter: 30 * day, DeleteSnapshots: true, DeprecateExpired: false,
		ManagedBy: "team-a",
	}
	eff := got.For("other")
	assert.True(t, equalPolicy(eff, want), "policy = %+v\nwant     %+v", eff, want)
	rc := got.For("rc")
	assert.True(t, rc.KeepReleases == 2 && rc.ExpireAfter == 30*day && rc.DisableAfter == day && rc.MinAge == 2*day,
		"rc policy = %+v", rc)
	st := got.For("stable")
	assert.True(t, st.ExpireAfter == 0 && st.KeepReleases == 4, "stable policy = %+v", st)
}

func equalPolicy(a, b lifecycle.Policy) bool {
	a.Channels, b.Channels, a.Owners, b.Owners = nil, nil, nil, nil
	return a.KeepReleases == b.KeepReleases && a.MinAge == b.MinAge && a.ExpireAfter == b.ExpireAfter &&
		a.DeprecateAfter == b.DeprecateAfter && a.DisableAfter == b.DisableAfter &&
		a.DeregisterAfter == b.DeregisterAfter && a.DeleteSnapshots == b.DeleteSnapshots &&
		a.DeprecateExpired == b.DeprecateExpired && a.ManagedBy == b.ManagedBy
}

func TestConfigDefaultsAreTheCautiousPolicy(t *testing.T) {
	p, err := configure(t, map[string]interface{}{"family": "web", "version": "1"})
	require.NoError(t, err)
	assert.True(t, equalPolicy(p.policy, lifecycle.DefaultPolicy()),
		"defaults = %+v, want lifecycle.DefaultPolicy() %+v", p.policy, lifecycle.DefaultPolicy())
	c := p.config
	assert.Equal(t, "stable", c.Channel, "default channel")
	assert.Equal(t, store.Local, c.Backend, "default backend")
	assert.Equal(t, ".packer-lifecycle", c.CatalogDir, "default catalog_dir")
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		raw  map[string]interface{}
		want []string
	}{
		{map[string]interface{}{}, []string{"family: must be set", "version: must be set"}},
		{map[string]interface{}{"family": "a", "sweep": true, "restore": []string{"x"}}, nil},
		{map[string]interface{}{"family": "a", "version": "1", "restore": []string{"x"}}, []string{"restore: needs sweep = true"}},
		{map[string]interface{}{"family": "a", "version": "1", "disable_after": "-1d", "deregister_after": "soon"},
			[]string{"disable_after: invalid duration", "deregister_after: invalid duration"}},
		{map[string]interface{}{"family": "a", "version": "1", "report_path": "r.txt"}, []string{"report_path:"}},
		{map[string]interface{}{"family": "a", "version": "1", "channel_policy": []map[string]interface{}{
			{"name": "rc", "never_expire": true, "expire_after": "1d"}, {"name": "rc", "min_age": "x"},
		}}, []string{"channel_policy[0]: never_expire and expire_after contradict", `channel_policy[1].name: channel "rc" has more than one`, "channel_policy[1].min_age: invalid duration"}},
	}
	for _, tc := range cases {
		_, err := configure(t, tc.raw)
		if len(tc.want) == 0 {
			assert.NoError(t, err, "%v", tc.raw)
			continue
		}
		if !assert.Error(t, err, "%v: accepted", tc.raw) {
			continue
		}
		for _, w := range tc.want {
			assert.ErrorContains(t, err, w, "%v", tc.raw)
		}
	}
}

// The criteria allow the accounts owning the family's managed AMIs, for
// disable_after in whole days unless allowed_images_max_days_deprecated.
func TestAllowedImagesCriteria(t *testing.T) {
	tags := func(mb string) map[string]string { return map[string]string{lifecycle.TagManagedBy: mb} }
	imgs := []lifecycle.Image{{Owner: "222222222222", Tags: tags(lifecycle.DefaultManagedBy)}, {Owner: "111111111111", Tags: tags(lifecycle.DefaultManagedBy)},
		{Owner: "111111111111", Tags: tags(lifecycle.DefaultManagedBy)}, {Owner: "333333333333", Tags: tags("other-team")}, {Owner: "self", Tags: tags(lifecycle.DefaultManagedBy)}}
	require.Equal(t, []string{"111111111111", "222222222222"}, owners(imgs, lifecycle.DefaultManagedBy))
	var c Config
	p := lifecycle.DefaultPolicy()
	p.DisableAfter = 36 * time.Hour
	require.Equal(t, 1, c.allowedImagesDays(p))
	p.DisableAfter = 12 * time.Hour
	require.Equal(t, 0, c.allowedImagesDays(p), "less than a day: refused at deprecation")
	days := 30
	c.AllowedImagesMaxDaysDeprecated = &days
	require.Equal(t, 30, c.allowedImagesDays(p))
}
