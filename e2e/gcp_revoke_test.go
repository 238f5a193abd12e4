package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/compute/v1"
)

const gcpRevokeTemplate = requireLifecycle + `
variable "endpoint" { type = string }
variable "revoke" { type = list(string) }

source "null" "sweep" {
  communicator = "none"
}

build {
  sources = ["source.null.sweep"]

  post-processor "lifecycle" {
    family               = "web"
    sweep                = true
    revoke               = var.revoke
    revoke_descendants   = true
    revoke_reason        = "CVE-2026-0002"
    allow_simulated_time = true
    report_path          = "report.json"

    backend          = "gcp"
    project_id       = "lifecycle-test"
    access_token     = "dummy-token"
    custom_endpoints = { compute = var.endpoint }
  }
}
`

// TestGCPRevokeWithDescendants: on Compute Engine a revocation is
// images.deprecate DEPRECATED for the release and the images of other
// families built from it (their parent label), transitively; the revoked
// release points its users to the newest release of its family that is not
// revoked; the rest stays active.
func TestGCPRevokeWithDescendants(t *testing.T) {
	g := newGCPRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
	put := func(name, family, version, parent string) {
		labels := map[string]string{
			"lifecycle-family": family, "lifecycle-version": strings.ReplaceAll(version, ".", "_2e"), "lifecycle-channel": "stable",
			"lifecycle-managed-by": "packer-plugin-lifecycle", "lifecycle-stage": "active",
			"lifecycle-stage-since": "20260301t000000z", "lifecycle-released-at": "20260301t000000z",
		}
		if parent != "" {
			labels["lifecycle-parent"] = parent
		}
		g.s.PutImage(gcpProject, &compute.Image{Name: name, Family: family, Labels: labels, CreationTimestamp: "2026-03-01T00:00:00.000-08:00"})
	}
	put("web-1-0-0", "web", "1.0.0", "")
	put("web-1-1-0", "web", "1.1.0", "")
	put("svc-2-0-0", "svc", "2.0.0", "web-1-1-0")
	put("worker-0-1-0", "worker", "0.1.0", "svc-2-0-0")
	put("svc-1-9-0", "svc", "1.9.0", "web-1-0-0")
	require.NoError(t, os.WriteFile(filepath.Join(g.dir, "revoke.pkr.hcl"), []byte(gcpRevokeTemplate), 0o644))
	mustSucceed(t, g.packer("revoke.pkr.hcl", `revoke=["web-1-1-0"]`))
	names := []string{"web-1-0-0", "web-1-1-0", "svc-2-0-0", "worker-0-1-0", "svc-1-9-0"}
	require.Equal(t, map[string]string{"web-1-0-0": "ACTIVE/active", "web-1-1-0": "DEPRECATED/deprecated", "svc-2-0-0": "DEPRECATED/deprecated",
		"worker-0-1-0": "DEPRECATED/deprecated", "svc-1-9-0": "ACTIVE/active"}, g.states(names...))
	require.Equal(t, map[string]string{"web-1-1-0": "web-1-0-0", "svc-2-0-0": ".", "worker-0-1-0": "."}, g.replacements(names...), // ".": none
		"the revoked release points to the newest good one; a descendant's family keeps its own getFromFamily")
	got := map[string]string{}
	for _, e := range g.report("revoke.pkr.hcl").Decisions {
		got[e.ID] = string(e.Action) + " " + e.Status + ": " + e.Reason
	}
	require.Equal(t, "deprecate done: revoke: built from svc 2.0.0 (lifecycle-test:svc-2-0-0), which is revoked: CVE-2026-0002", got["worker-0-1-0"])
	require.NotContains(t, got, "svc-1-9-0")
}
