package aws

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
			e := emus[be.(*Backend)]
			id := e.ami("us-east-1", account, family+"-"+version, nil)
			imgs, err := be.NewReleases(artifact("us-east-1:"+id, ""), release(family, version, e.now()))
			require.NoError(t, err)
			require.Len(t, imgs, 1)
			return imgs[0]
		},
		Crash: func(t *testing.T, be backend.Backend) {
			testHookAfterAction = func(lifecycle.Ref) error {
				testHookAfterAction = nil
				return errors.New("simulated crash before the stage tag")
			}
			t.Cleanup(func() { testHookAfterAction = nil })
		},
		BreakUsage: func(t *testing.T, be backend.Backend, img lifecycle.Image) {
			emus[be.(*Backend)].tr.breakWhen(func(action string, form url.Values) bool {
				return action == "DescribeImageReferences" && hasValue(form, img.ID)
			})
		},
		BreakListing: func(t *testing.T, be backend.Backend) {
			emus[be.(*Backend)].s.Deny("*", "DescribeImages")
		},
	})
}
