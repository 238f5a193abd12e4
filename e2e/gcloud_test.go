package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gcloud runs the gcloud CLI of the machine image (528) against the run's
// emulator, as a user would point it at Compute Engine: the compute
// endpoint override, an access token file, no prompts, no metadata server.
func (g *gcpRun) gcloud(args ...string) string {
	g.t.Helper()
	dir := g.t.TempDir()
	token := filepath.Join(dir, "token")
	require.NoError(g.t, os.WriteFile(token, []byte("dummy-token\n"), 0o600))
	cmd := exec.Command("gcloud", args...)
	cmd.Env = append(os.Environ(),
		"CLOUDSDK_CONFIG="+filepath.Join(dir, "config"),
		"CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE="+g.url+"compute/v1/",
		"CLOUDSDK_AUTH_ACCESS_TOKEN_FILE="+token,
		"CLOUDSDK_CORE_PROJECT="+gcpProject,
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_CORE_CHECK_GCE_METADATA=false",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=true",
	)
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(g.t, err, "gcloud %s: %s", strings.Join(args, " "), stderr)
	return string(out)
}

// gcloudImages is what `gcloud compute images list` shows of the web
// family: name → deprecation state ("ACTIVE" when none) and replacement.
func (g *gcpRun) gcloudImages() map[string]string {
	var list []struct {
		Name       string `json:"name"`
		Deprecated *struct {
			State       string `json:"state"`
			Replacement string `json:"replacement"`
		} `json:"deprecated"`
	}
	require.NoError(g.t, json.Unmarshal([]byte(g.gcloud("compute", "images", "list", "--no-standard-images", "--show-deprecated",
		"--filter=labels.lifecycle-family=web", "--format=json")), &list))
	out := map[string]string{}
	for _, im := range list {
		switch {
		case im.Deprecated == nil:
			out[im.Name] = "ACTIVE"
		case im.Deprecated.Replacement != "":
			out[im.Name] = im.Deprecated.State + " → " + path.Base(im.Deprecated.Replacement)
		default:
			out[im.Name] = im.Deprecated.State
		}
	}
	return out
}

var invocation = regexp.MustCompile(`invocation-id/[0-9a-f]+`)

// TestGCPGcloudSeesAndSteersTheLifecycle: what the plugin does is what a
// user sees with gcloud (states, replacement, the family's answer), and
// what a user does with gcloud (a pin label, removing it) the next run
// honours.
func TestGCPGcloudSeesAndSteersTheLifecycle(t *testing.T) {
	_, err := exec.LookPath("gcloud")
	require.NoError(t, err, "gcloud (528, on the machine image) is needed")
	g := newGCPRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
	week := 7 * 24 * time.Hour
	g.build("1.0.0")
	g.advance(week)
	g.build("1.1.0")
	require.Equal(t, map[string]string{"web-1-0-0": "DEPRECATED → web-1-1-0", "web-1-1-0": "ACTIVE"}, g.gcloudImages())
	require.Equal(t, "web-1-1-0\n", g.gcloud("compute", "images", "describe-from-family", "web", "--format=value(name)"))

	// The user pins 1.0.0 with gcloud: a week later it is not disabled.
	g.gcloud("compute", "images", "add-labels", "web-1-0-0", "--labels=lifecycle-pin=true")
	g.advance(week)
	g.sweep()
	require.Equal(t, map[string]string{"web-1-0-0": "DEPRECATED → web-1-1-0", "web-1-1-0": "ACTIVE"}, g.gcloudImages())
	var pinned bool
	for _, d := range g.report("sweep.pkr.hcl").Decisions {
		if d.ID == "web-1-0-0" {
			pinned = strings.Contains(d.Reason, "pinned")
			require.Equal(t, "keep", string(d.Action), d.Reason)
		}
	}
	require.True(t, pinned, "the report says why: pinned")

	// Unpinned, the next run disables it.
	g.gcloud("compute", "images", "remove-labels", "web-1-0-0", "--labels=lifecycle-pin")
	g.sweep()
	require.Equal(t, map[string]string{"web-1-0-0": "OBSOLETE", "web-1-1-0": "ACTIVE"}, g.gcloudImages())
	require.Equal(t, "disabled\n", g.gcloud("compute", "images", "describe", "web-1-0-0", "--format=value(labels.lifecycle-stage)"))
	invocations := map[string]bool{}
	for _, c := range g.s.Journal() {
		if strings.HasPrefix(c.Agent, "google-cloud-sdk gcloud/528") {
			invocations[invocation.FindString(c.Agent)] = true
		}
	}
	require.Len(t, invocations, 7, "each gcloud command reached the emulator")
}
