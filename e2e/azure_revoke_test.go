package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	azurebackend "github.com/packer-lifecycle/packer-plugin-lifecycle/backend/azure"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// TestAzureRevokeWithDescendants: in a Compute Gallery a revocation is the
// deprecation (excluded from latest, end of life now) of the version and
// of the versions of other definitions built from it, transitively, found
// by the parent's resource id (the data source's self_link); a parent that
// names a bare version number is ambiguous across definitions and is not
// followed.
func TestAzureRevokeWithDescendants(t *testing.T) {
	a := newAzureRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
	svc, worker, other := a.definition(azureSub, "svc"), a.definition(azureSub, "worker"), a.definition(azureSub, "other")
	a.release("1.0.0")
	a.release("1.1.0")
	a.releaseOf(azureSub, svc, "svc", "2.0.0", a.web.VersionID(azureSub, "1.1.0"))
	a.releaseOf(azureSub, svc, "svc", "1.9.0", a.web.VersionID(azureSub, "1.0.0"))
	a.releaseOf(azureSub, worker, "worker", "0.1.0", svc.VersionID(azureSub, "2.0.0"))
	a.releaseOf(azureSub, other, "other", "3.0.0", "1.1.0")
	body, err := os.ReadFile(filepath.Join(a.dir, "sweep.pkr.hcl"))
	require.NoError(t, err)
	template := strings.Replace(string(body), `    dry_run              = var.dry_run`,
		`    dry_run              = var.dry_run
    revoke               = ["images/team_gallery/web:1.1.0"]
    revoke_descendants   = true
    revoke_reason        = "CVE-2026-0003"`, 1)
	require.NotEqual(t, string(body), template)
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, "revoke.pkr.hcl"), []byte(template), 0o644))
	mustSucceed(t, a.packer("revoke.pkr.hcl"))

	defs := map[string]azurebackend.Definition{"web": a.web, "svc": svc, "worker": worker, "other": other}
	excluded := map[string]bool{}
	for _, v := range []struct {
		def, version string
	}{{"web", "1.0.0"}, {"web", "1.1.0"}, {"svc", "2.0.0"}, {"svc", "1.9.0"}, {"worker", "0.1.0"}, {"other", "3.0.0"}} {
		got, ok := a.s.ImageVersion(defs[v.def].VersionID(azureSub, v.version))
		require.True(t, ok)
		pp := got.Properties.PublishingProfile
		excluded[v.def+" "+v.version] = *pp.ExcludeFromLatest && *got.Tags[lifecycle.TagStage] == "deprecated"
	}
	require.Equal(t, map[string]bool{"web 1.0.0": false, "web 1.1.0": true, "svc 2.0.0": true, "svc 1.9.0": false, "worker 0.1.0": true, "other 3.0.0": false}, excluded)
	var rep report.Report
	data, err := os.ReadFile(filepath.Join(a.dir, "revoke", "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &rep))
	got := map[string]string{}
	for _, e := range rep.Decisions {
		got[e.Region+":"+e.ID] = string(e.Action) + " " + e.Status
	}
	require.Equal(t, map[string]string{"images/team_gallery/web:1.0.0": "keep none", "images/team_gallery/web:1.1.0": "deprecate done",
		"images/team_gallery/svc:2.0.0": "deprecate done", "images/team_gallery/worker:0.1.0": "deprecate done"}, got)
}
