package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// TestPlannerSweepConverges runs the real planner against the catalog for
// many simulated days, the way the post-processor does (record, list,
// usage, plan, apply every decision), and checks that the backend accepts
// every decision the planner makes and ends where the policy says.
func TestPlannerSweepConverges(t *testing.T) {
	root := t.TempDir()
	now := t0
	b := New(filepath.Join(root, DefaultDir), func() time.Time { return now })
	ctx := context.Background()
	pol := lifecycle.DefaultPolicy()
	pol.KeepReleases, pol.MinAge = 2, 0
	pol.DisableAfter, pol.DeregisterAfter = lifecycle.Day, lifecycle.Day
	pol.ExpireAfter, pol.DeleteSnapshots = 36*time.Hour, true // kept releases expire too

	paths := map[string]string{} // id → artifact path
	const days = 8
	for day := 0; day < days; day++ {
		now = t0.Add(time.Duration(day) * lifecycle.Day)
		v := fmt.Sprintf("1.%d.0", day)
		f := writeFile(t, filepath.Join(root, "out", v, "disk.qcow2"), "build "+v)
		img := release("web", v, f)
		img.BuildTime = now.Add(-time.Hour)
		img.ExpiresAt = pol.ExpiresAt(img.Channel, now)
		id := mustRecord(t, b, img)
		paths[id] = f

		imgs, err := listImages(ctx, b, backend.Query{Family: "web"})
		require.NoError(t, err, "day %d: list", day)
		u, err := usageOf(ctx, b, imgs)
		require.NoError(t, err, "day %d: usage", day)
		for _, d := range lifecycle.Plan(imgs, u, pol, now, []lifecycle.Ref{{Region: "local", ID: id}}) {
			require.NoError(t, applyOne(ctx, b, d, true), "day %d dry %s %s", day, d.Action, d.Image.Version)
			require.NoError(t, applyOne(ctx, b, d, false), "day %d %s %s", day, d.Action, d.Image.Version)
		}
	}

	// The newest two releases are kept; the third was superseded by today's
	// build and deprecated in the same run, the older ones advanced one stage
	// a day; the oldest are tombstones with their files gone.
	all, err := b.ListWithTombstones(ctx, backend.Query{Family: "web"})
	require.NoError(t, err)
	stages := map[string]lifecycle.Stage{}
	for _, img := range all {
		stages[img.Version] = img.Stage
		_, statErr := os.Stat(paths[img.ID])
		switch img.Stage {
		case lifecycle.StageActive, lifecycle.StageDeprecated:
			assert.NoError(t, statErr, "%s is %s but its file is gone", img.Version, img.Stage)
		default:
			assert.Error(t, statErr, "%s is %s but its file is still at home", img.Version, img.Stage)
		}
	}
	want := map[string]lifecycle.Stage{
		"1.7.0": lifecycle.StageActive, "1.6.0": lifecycle.StageActive, "1.5.0": lifecycle.StageDeprecated,
		"1.4.0": lifecycle.StageDisabled,
	}
	for day := 0; day < 4; day++ {
		want[fmt.Sprintf("1.%d.0", day)] = lifecycle.StageDeregistered
	}
	for v, s := range want {
		assert.Equal(t, s, stages[v], "%s: stage (all: %v)", v, stages)
	}
}
