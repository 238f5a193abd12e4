package gcp

import (
	"errors"
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
			name := imageName(family, version)
			e.image(project, name, nil)
			return e.built(b, project, name, family, version)
		},
		Crash: func(t *testing.T, be backend.Backend) {
			testHookAfterAction = func(lifecycle.Ref) error {
				testHookAfterAction = nil
				return errors.New("simulated crash before the stage labels")
			}
			t.Cleanup(func() { testHookAfterAction = nil })
		},
		BreakUsage: func(t *testing.T, be backend.Backend, img lifecycle.Image) {
			emus[be.(*Backend)].tr.breakWhen(func(r *http.Request) bool {
				return strings.HasSuffix(r.URL.Path, "/global/images/"+img.ID+"/getIamPolicy")
			})
		},
		BreakListing: func(t *testing.T, be backend.Backend) {
			emus[be.(*Backend)].s.Deny("*", "compute.images.list")
		},
	})
}
