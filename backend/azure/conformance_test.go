package azure

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/backendtest"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func TestConformance(t *testing.T) {
	emus := map[*Backend]*emu{}
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T, now func() time.Time) backend.Backend {
			e := newEmu(t, now)
			be := e.backend(Options{})
			emus[be] = e
			return be
		},
		Build: func(t *testing.T, be backend.Backend, family, version string) lifecycle.Image {
			e, b := emus[be.(*Backend)], be.(*Backend)
			// The suite's versions are free text; a gallery takes
			// Major.Minor.Patch, so each build is the next patch of its
			// family's own definition, tagged with the suite's version.
			if e.builds == nil {
				e.builds = map[string]int{}
			}
			d := e.definition(family)
			v := fmt.Sprintf("1.0.%d", e.builds[family])
			e.builds[family]++
			e.version(d, v, "northeurope")
			img := e.built(b, d, family, v)
			img.Version = version
			return img
		},
		Crash: func(t *testing.T, be backend.Backend) {
			testHookAfterAction = func(lifecycle.Ref) error {
				testHookAfterAction = nil
				return errors.New("simulated crash right after the ARM write")
			}
			t.Cleanup(func() { testHookAfterAction = nil })
		},
		BreakUsage: func(t *testing.T, be backend.Backend, img lifecycle.Image) {
			emus[be.(*Backend)].tr.breakWhen(func(r *http.Request) bool {
				return strings.HasSuffix(r.URL.Path, "/providers/Microsoft.Compute/virtualMachines")
			})
		},
		UsageShared: true,
		BreakListing: func(t *testing.T, be backend.Backend) {
			emus[be.(*Backend)].s.Deny("*", "Microsoft.Compute/galleries/images/versions/read")
		},
	})
}
