package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	require.NoError(t, p.Validate(), "default policy invalid")
	// The cautious defaults are part of the contract; change them on purpose.
	assert.Equal(t, Policy{
		KeepReleases: 3, MinAge: 7 * Day, DisableAfter: 30 * Day, DeregisterAfter: 30 * Day,
		DeleteSnapshots: true, DeprecateExpired: true, ManagedBy: DefaultManagedBy,
	}, Policy{
		KeepReleases: p.KeepReleases, MinAge: p.MinAge, ExpireAfter: p.ExpireAfter, DeprecateAfter: p.DeprecateAfter,
		DisableAfter: p.DisableAfter, DeregisterAfter: p.DeregisterAfter, DeleteSnapshots: p.DeleteSnapshots,
		DeprecateExpired: p.DeprecateExpired, ManagedBy: p.ManagedBy,
	}, "unexpected defaults: %+v", p)
}

func TestPolicyFor(t *testing.T) {
	p := DefaultPolicy()
	p.ExpireAfter = 90 * Day
	p.Channels = map[string]ChannelPolicy{
		"stable": {KeepReleases: ptr(5), NeverExpire: true},
		"rc": {KeepReleases: ptr(2), ExpireAfter: ptr(30 * Day), MinAge: ptr(time.Duration(0)),
			DeprecateAfter: ptr(Day), DisableAfter: ptr(2 * Day), DeregisterAfter: ptr(3 * Day),
			DeleteSnapshots: ptr(true), DeprecateExpired: ptr(false)},
	}
	st := p.For("stable")
	assert.True(t, st.KeepReleases == 5 && st.ExpireAfter == 0 && st.MinAge == 7*Day && st.Channels == nil, "stable: %+v", st)
	rc := p.For("rc")
	assert.True(t, rc.KeepReleases == 2 && rc.ExpireAfter == 30*Day && rc.MinAge == 0 && rc.DeprecateAfter == Day &&
		rc.DisableAfter == 2*Day && rc.DeregisterAfter == 3*Day && rc.DeleteSnapshots && !rc.DeprecateExpired, "rc: %+v", rc)
	other := p.For("nightly")
	assert.True(t, other.KeepReleases == 3 && other.ExpireAfter == 90*Day, "nightly inherits: %+v", other)
	assert.Equal(t, rc.KeepReleases, rc.For("rc").KeepReleases, "For is not idempotent")
	if assert.NotNil(t, p.Channels["rc"].KeepReleases, "For modified the policy") {
		assert.Equal(t, 2, *p.Channels["rc"].KeepReleases, "For modified the policy")
	}
}

func TestExpiresAt(t *testing.T) {
	p := DefaultPolicy()
	p.Channels = map[string]ChannelPolicy{"rc": {ExpireAfter: ptr(30 * Day)}, "stable": {NeverExpire: true}}
	got := p.ExpiresAt("rc", now)
	assert.True(t, got.Equal(now.Add(30*Day)), "rc expires %v", got)
	got = p.ExpiresAt("stable", now)
	assert.True(t, got.IsZero(), "stable expires %v", got)
	got = p.ExpiresAt("other", now)
	assert.True(t, got.IsZero(), "default never expires, got %v", got)
	got = p.ExpiresAt("rc", time.Time{})
	assert.True(t, got.IsZero(), "unknown release time expires %v", got)
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mod    func(*Policy)
		errors []string // each must appear; nil means valid
	}{
		{"default", func(*Policy) {}, nil},
		{"keep", func(p *Policy) { p.KeepReleases = 0 }, []string{"keep_releases must be at least 1 (got 0)"}},
		{"min_age", func(p *Policy) { p.MinAge = -time.Hour }, []string{"min_age must not be negative (got -1h)"}},
		{"all delays", func(p *Policy) {
			p.ExpireAfter, p.DeprecateAfter, p.DisableAfter, p.DeregisterAfter = -1, -Day, -2*Day, -3*Day
		}, []string{"expire_after must not be negative", "deprecate_after must not be negative (got -1d)",
			"disable_after must not be negative (got -2d)", "deregister_after must not be negative (got -3d)"}},
		{"managed_by", func(p *Policy) { p.ManagedBy = "" }, []string{"managed_by must not be empty"}},
		{"owners", func(p *Policy) { p.Owners = []string{"1", ""} }, []string{"owners[1] must not be empty"}},
		{"channel keep", func(p *Policy) {
			p.Channels = map[string]ChannelPolicy{"rc": {KeepReleases: ptr(0)}}
		}, []string{`channel "rc": keep_releases must be at least 1 (got 0)`}},
		{"channel delays", func(p *Policy) {
			p.Channels = map[string]ChannelPolicy{"rc": {DisableAfter: ptr(-Day), MinAge: ptr(-Day)}}
		}, []string{`channel "rc": disable_after must not be negative`, `channel "rc": min_age must not be negative`}},
		{"never_expire conflict", func(p *Policy) {
			p.Channels = map[string]ChannelPolicy{"stable": {NeverExpire: true, ExpireAfter: ptr(Day)}}
		}, []string{`channel "stable": never_expire conflicts with expire_after`}},
		{"empty channel name", func(p *Policy) {
			p.Channels = map[string]ChannelPolicy{"": {}}
		}, []string{`channel "": name must not be empty`}},
		{"base error not repeated per channel", func(p *Policy) {
			p.KeepReleases = 0
			p.Channels = map[string]ChannelPolicy{"rc": {ExpireAfter: ptr(Day)}}
		}, []string{"keep_releases must be at least 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.mod(&p)
			err := p.Validate()
			if tc.errors == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.errors {
				assert.ErrorContains(t, err, w)
			}
			assert.Equal(t, len(tc.errors), strings.Count(err.Error(), "\n")+1, "number of errors in %v", err)
		})
	}
}

func TestFormatDuration(t *testing.T) {
	cases := map[time.Duration]string{
		0:                               "0s",
		500 * time.Millisecond:          "0s",
		30 * time.Second:                "30s",
		time.Minute:                     "1m",
		90 * time.Second:                "90s",
		15 * time.Minute:                "15m",
		time.Hour:                       "1h",
		90 * time.Minute:                "90m",
		36 * time.Hour:                  "36h",
		Day:                             "1d",
		47 * time.Hour:                  "47h",
		7 * Day:                         "7d",
		7*Day + 5*time.Hour:             "7d",
		-2 * time.Hour:                  "-2h",
		time.Duration(-1 << 63):         "-106751d",
		time.Duration(1<<63 - 1):        "106751d",
		2*time.Minute + 59*time.Second:  "2m",
		119 * time.Second:               "119s",
		2 * time.Hour:                   "2h",
		2*time.Hour - time.Nanosecond:   "119m",
		3*Day - time.Nanosecond:         "2d",
		48*time.Hour + 30*time.Minute:   "2d",
		24*time.Hour + 30*time.Minute:   "24h",
		100 * 365 * Day:                 "36500d",
		time.Duration(14) * time.Minute: "14m",
	}
	for d, want := range cases {
		assert.Equal(t, want, formatDuration(d), "formatDuration(%v)", d)
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"7d": 7 * Day, "0d": 0, " 30d ": 30 * Day, "36h": 36 * time.Hour, "90m": 90 * time.Minute,
		"1h30m": 90 * time.Minute, "0": 0, "1d12h": Day + 12*time.Hour, "36500d": 36500 * Day,
	}
	for s, want := range good {
		got, err := ParseDuration(s)
		if assert.NoError(t, err, "ParseDuration(%q)", s) {
			assert.Equal(t, want, got, "ParseDuration(%q)", s)
		}
	}
	for _, s := range []string{"", "d", "7", "1.5d", "7days", "99999999999d", "x", "-1d", "-1h", "1d-1h", "36501d", "36500d1h", "1e9d"} {
		_, err := ParseDuration(s)
		assert.Error(t, err, "ParseDuration(%q) accepted", s)
	}
}
