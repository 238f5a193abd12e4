package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// googlecomputeWire is what the googlecompute builder v1.2.7 sends for
// e2e/testdata/gcp/build.pkr.hcl, in order, as read from its source in
// internal/gceemu/testdata/wire/googlecompute-v1.2.7.md (no real Compute
// Engine exists here to record it from). Operation polls are collapsed:
// the builder polls zoneOperations.get / globalOperations.get, never wait.
var googlecomputeWire = []string{
	"GET projects/P/global/images/web-9-9-9 404", // the name is free
	"GET projects/P 200",                         // OS Login, whatever the communicator
	"GET projects/debian-cloud/global/images/family/debian-12 200",
	"GET projects/P/zones/Z 200",
	"GET projects/P/zones/Z/machineTypes/e2-standard-2 200",
	"POST projects/P/zones/Z/instances 200",
	"GET projects/P/zones/Z/operations/{op} 200",
	"GET projects/P/zones/Z/instances/{vm} 200", // until RUNNING
	"GET projects/P/zones/Z/instances/{vm}/serialPort 200",
	"DELETE projects/P/zones/Z/instances/{vm} 200",
	"GET projects/P/zones/Z/operations/{op} 200",
	"POST projects/P/global/images 200",
	"GET projects/P/global/operations/{op} 200",
	"GET projects/P/global/images/web-9-9-9 200",
	"POST projects/P/global/images/web-9-9-9/deprecate 200", // body {}, never waited on
	"DELETE projects/P/zones/Z/disks/{vm} 200",
	"GET projects/P/zones/Z/operations/{op} 200",
}

var (
	vmName = regexp.MustCompile(`packer-[0-9a-f-]{36}`)
	opName = regexp.MustCompile(`/operations/[^/]+$`)
)

// TestGCPGooglecomputeSendsWhatWasRecorded builds with the real
// googlecompute plugin and holds its calls, as the emulator journalled
// them, to the recorded sequence: a new plugin version, or an emulator
// that answers differently (a 404 where GCE answers), fails here first.
func TestGCPGooglecomputeSendsWhatWasRecorded(t *testing.T) {
	g := newGCPRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC))
	g.s.ResetCounters()
	g.build("9.9.9")
	var got []string
	ours := 0
	for _, c := range g.s.Journal() {
		if strings.Contains(c.Agent, "packer-plugin-lifecycle") {
			ours++
			continue
		}
		p := strings.TrimPrefix(c.Path, "/compute/v1/")
		p = strings.ReplaceAll(p, "projects/"+gcpProject, "projects/P")
		p = strings.ReplaceAll(p, "zones/us-central1-a", "zones/Z")
		p = vmName.ReplaceAllString(p, "{vm}")
		p = opName.ReplaceAllString(p, "/operations/{op}")
		line := fmt.Sprintf("%s %s %d", c.Verb, p, c.Status)
		if n := len(got); n > 0 && got[n-1] == line && c.Verb == http.MethodGet {
			continue // a poll of the same operation or instance
		}
		got = append(got, line)
		require.NotContains(t, c.Agent, "google-api-go-client/0.5", "the builder's auth transport names Packer")
	}
	require.Equal(t, googlecomputeWire, got)
	require.NotZero(t, ours, "the lifecycle post-processor ran too")
}
