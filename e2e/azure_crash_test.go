package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gallery is everything ARM shows of the web versions: tags, latest and
// end of life, regions and the safety profile, "gone" once deleted.
func (a *azureRun) gallery(versions ...string) map[string]string {
	out := map[string]string{}
	for _, v := range versions {
		got, ok := a.s.ImageVersion(a.web.VersionID(azureSub, v))
		if !ok {
			out[v] = "gone"
			continue
		}
		var tags []string
		for k, val := range got.Tags {
			tags = append(tags, k+"="+*val)
		}
		sort.Strings(tags)
		pp, sp := got.Properties.PublishingProfile, got.Properties.SafetyProfile
		eol := "-"
		if pp.EndOfLifeDate != nil {
			eol = pp.EndOfLifeDate.UTC().Format(time.RFC3339)
		}
		allow := "unset"
		if sp != nil && sp.AllowDeletionOfReplicatedLocations != nil {
			allow = fmt.Sprint(*sp.AllowDeletionOfReplicatedLocations)
		}
		out[v] = fmt.Sprintf("%s eol=%s allowDeletion=%s %v", a.states(v)[v], eol, allow, tags)
	}
	return out
}

// TestAzureCrashAfterEachMutatingCallConverges kills the plugin right
// after each mutating call of a sweep in turn (the call took effect, its
// answer never arrives) and re-runs the sweep at the same time: every run
// ends with the gallery exactly as one uninterrupted sweep leaves it. The
// sweep deletes one version, withdraws one to its home region and
// excludes one from latest.
func TestAzureCrashAfterEachMutatingCallConverges(t *testing.T) {
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	versions := []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"}
	// seed leaves 1.0.0 disabled a week, 1.1.0 deprecated a week, 1.2.0
	// and 1.3.0 active, the clock at the next sweep.
	seed := func(a *azureRun) {
		a.release("1.0.0")
		a.clock.Advance(24 * time.Hour)
		a.release("1.1.0")
		a.sweep()
		a.clock.Advance(week)
		a.release("1.2.0")
		a.sweep()
		a.clock.Advance(week)
		a.release("1.3.0")
		a.s.ResetCounters()
	}
	clean := newAzureRun(t, start)
	seed(clean)
	clean.sweep()
	want := clean.gallery(versions...)
	require.Equal(t, map[string]string{"1.0.0": "gone", "1.1.0": "disabled/excluded/westeurope",
		"1.2.0": "deprecated/excluded/northeurope,westeurope", "1.3.0": "active/latest/northeurope,westeurope"}, clean.states(versions...))
	mutations := 0
	for _, c := range clean.ours() {
		if c.Verb != http.MethodGet && c.Verb != http.MethodHead {
			mutations++
		}
	}
	require.GreaterOrEqual(t, mutations, 4, "%v", clean.ours())

	for n := 1; n <= mutations; n++ {
		a := newAzureRun(t, start)
		seed(a)
		a.crash.arm(n)
		r := a.packer("sweep.pkr.hcl")
		fired := a.crash.disarm()
		require.NotZero(t, r.code, "crash %d: the killed run fails: %s", n, r)
		require.NotEmpty(t, fired, "crash %d fired", n)
		require.NotContains(t, fired, "kill failed")
		a.sweep()
		t.Logf("crash %d of %d after %s: the re-run converged", n, mutations, fired)
		require.Equal(t, want, a.gallery(versions...), "after a crash following %s", fired)
	}
}
