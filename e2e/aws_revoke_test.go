package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// TestAWSRevokeWithDescendants: a sweep revokes the newest base release
// (both its regional copies) and, with revoke_descendants, the releases of
// other families built from it and from those, each with the reason; a
// pinned descendant is kept and said so; the dry run before changes
// nothing. The data source then hands a child build the previous base, and
// a restore sweep brings the revoked releases back.
func TestAWSRevokeWithDescendants(t *testing.T) {
	a := newAWSRun(t, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	in := func(region, family, version, parent string, mutate func(*ec2emu.Image)) string {
		id := a.seedReleaseIn(region, ec2emu.DefaultAccount, version, "active", mutate)
		a.s.Update(func(st *ec2emu.State) {
			st.Region(region).Images[id].Name = family + "-" + version + "-" + region
			tags := st.Region(region).Tags[id]
			tags[lifecycle.TagFamily] = family
			if parent != "" {
				tags[lifecycle.TagParent] = parent
			}
		})
		return id
	}
	good := in("us-east-1", "web", "1.0.0", "", nil)
	bad := in("us-east-1", "web", "1.1.0", "", nil)
	badCopy := in("eu-west-1", "web", "1.1.0", "", nil)
	svc := in("us-east-1", "svc", "2.0.0", bad, nil)
	worker := in("us-east-1", "worker", "0.1.0", svc, nil)
	pinned := in("us-east-1", "worker", "0.2.0", svc, nil)
	a.s.Update(func(st *ec2emu.State) { st.Region("us-east-1").Tags[pinned][lifecycle.TagPin] = "true" })
	svcGood := in("us-east-1", "svc", "1.9.0", good, nil)
	deprecated := func() map[string]bool {
		out := map[string]bool{}
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			a.s.Update(func(st *ec2emu.State) {
				for id, img := range st.Region(region).Images {
					out[id] = img.DeprecationTime != nil && !img.DeprecationTime.After(a.clock.Now().Add(2*time.Minute))
				}
			})
		}
		return out
	}
	vars := []string{`revoke=["` + bad + `"]`, "revoke_descendants=true", "revoke_reason=CVE-2026-0001 in openssl"}
	reasons := func() map[string]string {
		out := map[string]string{}
		for _, e := range a.report("sweep/sweep.json").Decisions {
			out[e.ID] = fmt.Sprintf("%s %s: %s", e.Action, e.Status, e.Reason)
		}
		return out
	}
	from := func(family, version, id string) string {
		return fmt.Sprintf("built from %s %s (us-east-1:%s), which is revoked: CVE-2026-0001 in openssl", family, version, id)
	}

	mustSucceed(t, a.packer("sweep.pkr.hcl", append(vars, "dry_run=true")...))
	require.Equal(t, map[string]bool{good: false, bad: false, badCopy: false, svc: false, worker: false, pinned: false, svcGood: false}, deprecated())
	require.Equal(t, "deprecate planned: revoke: "+from("svc", "2.0.0", svc), reasons()[worker])

	r := a.packer("sweep.pkr.hcl", vars...)
	mustSucceed(t, r)
	mustContain(t, r.stdout, "Every family is listed")
	require.Equal(t, map[string]bool{good: false, bad: true, badCopy: true, svc: true, worker: true, pinned: false, svcGood: false}, deprecated())
	require.Equal(t, map[string]string{
		good:    "keep none: kept: not revoked",
		bad:     "deprecate done: revoke: requested: CVE-2026-0001 in openssl",
		badCopy: "deprecate done: revoke: requested: CVE-2026-0001 in openssl",
		svc:     "deprecate done: revoke: " + from("web", "1.1.0", bad),
		worker:  "deprecate done: revoke: " + from("svc", "2.0.0", svc),
		pinned:  "keep none: kept: pinned; unpin it to revoke it (revoke: " + from("svc", "2.0.0", svc) + ")",
	}, reasons(), "svc 1.9.0, built from the good base, is not in the report")
	require.Equal(t, "deprecated", a.tags("us-east-1", worker)[lifecycle.TagStage])

	// The data source passes the revoked newest release over.
	a.clock.Advance(5 * time.Minute)
	mustSucceed(t, a.packer("child.pkr.hcl", "endpoint="+a.url))
	require.Equal(t, good, a.images("us-east-1")["app-1"].SourceImageID, "the child starts from the release before the revoked one")

	// A re-run changes nothing more; a restore of the listed ids undoes it.
	mustSucceed(t, a.packer("sweep.pkr.hcl", vars...))
	require.Equal(t, "keep none: kept: deprecated already (revoke: requested: CVE-2026-0001 in openssl)", reasons()[bad])
	mustSucceed(t, a.packer("sweep.pkr.hcl", `restore=["`+bad+`", "`+badCopy+`", "`+svc+`", "`+worker+`"]`))
	for _, id := range []string{bad, badCopy, svc, worker} {
		require.False(t, deprecated()[id], "%s restored", id)
		require.Contains(t, reasons()[id], "restore done")
	}
}
