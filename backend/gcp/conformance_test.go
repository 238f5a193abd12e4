package gcp

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	compute "google.golang.org/api/compute/v1"

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
			// The one lookup made image by image is its IAM policy, and
			// only for an image a run may disable: deprecate it first.
			e := emus[be.(*Backend)]
			im, ok := e.s.Image(img.Region, img.ID)
			require.True(t, ok)
			im.Deprecated = &compute.DeprecationStatus{State: "DEPRECATED"}
			im.Labels["lifecycle-stage"] = "deprecated"
			e.s.PutImage(img.Region, im)
			e.tr.breakWhen(func(r *http.Request) bool {
				return strings.HasSuffix(r.URL.Path, "/global/images/"+img.ID+"/getIamPolicy")
			})
		},
		BreakListing: func(t *testing.T, be backend.Backend) {
			emus[be.(*Backend)].s.Deny("*", "compute.images.list")
		},
	})
}
