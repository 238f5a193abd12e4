package parent

import (
	"bytes"
	"errors"
	"log"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/backendtest"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/store"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func withFake(t *testing.T, imgs ...lifecycle.Image) *backendtest.Fake {
	fake := backendtest.NewFake(func() time.Time { return now })
	for _, img := range imgs {
		fake.Images[img.Ref()] = img
	}
	old := openBackend
	openBackend = func(store.Config, func() time.Time) (backend.Backend, error) { return fake, nil }
	t.Cleanup(func() { openBackend = old })
	t.Setenv(clock.Env, now.Format(time.RFC3339))
	return fake
}

func img(id, version string, mod func(*lifecycle.Image)) lifecycle.Image {
	i := lifecycle.Image{ID: id, Region: "fake", Family: "base", Version: version, Channel: "stable", Managed: true,
		Stage: lifecycle.StageActive, State: lifecycle.StateAvailable, BuildTime: now.Add(-time.Hour), ReleasedAt: now.Add(-time.Hour),
		Tags: map[string]string{"lifecycle:family": "base"}}
	if mod != nil {
		mod(&i)
	}
	return i
}

func configure(t *testing.T, raw map[string]interface{}) *Datasource {
	t.Helper()
	if _, ok := raw["allow_simulated_time"]; !ok {
		raw["allow_simulated_time"] = true // the tests choose at now
	}
	var d Datasource
	require.NoError(t, d.Configure(raw))
	return &d
}

// The data source goes through the seam: any backend, the core's choice.
func TestNewestSupportedThroughTheSeam(t *testing.T) {
	withFake(t,
		img("a", "1.0.0", nil),
		img("b", "1.2.0", func(i *lifecycle.Image) {
			i.Stage, i.DeprecationTime = lifecycle.StageDeprecated, now.Add(-time.Minute)
		}),
		img("c", "1.3.0", func(i *lifecycle.Image) { i.State = backend.StatePending }),
		img("d", "1.1.0", nil),
		img("e", "2.0.0", nil),
	)
	out, err := configure(t, map[string]interface{}{"family": "base", "version_constraint": "< 2.0"}).newest()
	require.NoError(t, err)
	require.Equal(t, "d", out.ID, "1.2.0 is deprecated, 1.3.0 pending, 2.0.0 outside the constraint")
	require.Equal(t, "1.1.0", out.Version)
	require.Equal(t, "fake", out.Region)
	require.Equal(t, now.Add(-time.Hour).Format(time.RFC3339), out.ReleasedAt)
	require.Empty(t, out.Files, "a backend without files has none to hand out")
}

func TestNothingQualifiesSaysWhyAndWhichRegionsWereNotSeen(t *testing.T) {
	fake := withFake(t, img("b", "1.2.0", func(i *lifecycle.Image) { i.State = lifecycle.StateDisabled; i.Stage = lifecycle.StageDisabled }))
	fake.FailedRegions["eu-west-1"] = errors.New("region down")
	_, err := configure(t, map[string]interface{}{"family": "base"}).newest()
	require.ErrorContains(t, err, "no supported release of family base")
	require.ErrorContains(t, err, "1 disabled")
	require.ErrorContains(t, err, "eu-west-1: region down")
}

func TestConfigureTouchesNothingAndNamesFields(t *testing.T) {
	fake := withFake(t)
	var d Datasource
	err := d.Configure(map[string]interface{}{"version_constraint": ">= x", "backend": "gce", "managed_by": string(make([]byte, 300))})
	require.ErrorContains(t, err, "family: must be set")
	require.ErrorContains(t, err, "version_constraint:")
	require.ErrorContains(t, err, `backend: "gce" is not one of auto, local, aws, gcp`)
	require.ErrorContains(t, err, "managed_by: at most 256 characters")
	require.Empty(t, fake.Calls, "Configure runs at packer validate: no backend call")
}

func TestHostileDataSourceInput(t *testing.T) {
	withFake(t)
	for _, c := range []struct {
		raw  map[string]interface{}
		want string
	}{
		{map[string]interface{}{}, "family: must be set"},
		{map[string]interface{}{"family": "base\n"}, `family: "base\n" contains a control character`},
		{map[string]interface{}{"family": "base", "channel": string(make([]byte, 101))}, "channel: at most 100 characters, got 101"},
		{map[string]interface{}{"family": "base", "version_constraint": "newest please"}, "version_constraint:"},
		{map[string]interface{}{"family": "base", "version_constraint": ">= 1.0,"}, "version_constraint:"},
		{map[string]interface{}{"family": "base", "backend": "s3"}, `backend: "s3" is not one of auto, local, aws`},
		{map[string]interface{}{"family": "base", "catalog_dir": "/c"}, "catalog_dir: \"/c\" would make /, the whole file system, the artifact root"},
		{map[string]interface{}{"family": "base", "keep_releases": 2}, "keep_releases"},
	} {
		var d Datasource
		err := d.Configure(c.raw)
		require.Error(t, err, "%v", c.raw)
		require.Contains(t, err.Error(), c.want)
		t.Logf("%v: %s", c.raw, err)
	}
	t.Setenv(clock.Env, "2026-13-01")
	var d Datasource
	require.ErrorContains(t, d.Configure(map[string]interface{}{"family": "base"}), `PACKER_LIFECYCLE_NOW: "2026-13-01" is not an RFC 3339 time`)
	// A stray rehearsal time in the past could hand out a parent that has
	// expired since: honoured only when the template allows it.
	t.Setenv(clock.Env, "2020-01-01T00:00:00Z")
	require.ErrorContains(t, (&Datasource{}).Configure(map[string]interface{}{"family": "base"}),
		"allow_simulated_time: PACKER_LIFECYCLE_NOW is set (2020-01-01T00:00:00Z)")
	require.NoError(t, (&Datasource{}).Configure(map[string]interface{}{"family": "base", "allow_simulated_time": true}))
}

// A simulated time is announced in Packer's log (a data source has no UI).
func TestSimulatedTimeIsLogged(t *testing.T) {
	withFake(t, img("a", "1.0.0", nil))
	var buf bytes.Buffer
	log.SetOutput(&buf)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	_, err := configure(t, map[string]interface{}{"family": "base"}).newest()
	require.NoError(t, err)
	require.Contains(t, buf.String(), "lifecycle-image: choosing at the simulated time 2026-05-01T12:00:00Z from PACKER_LIFECYCLE_NOW")
}
