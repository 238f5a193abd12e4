package local

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/backendtest"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T, now func() time.Time) backend.Backend {
			return New(filepath.Join(t.TempDir(), DefaultDir), now)
		},
		Build: func(t *testing.T, be backend.Backend, family, version string) lifecycle.Image {
			root := be.(*Backend).Catalog().ArtifactRoot()
			// A qcow2 of distinct content per build, as the qemu builder writes.
			p := writeQcow2(t, filepath.Join(root, "output-"+family+"-"+version, family+".qcow2"), "")
			imgs, err := be.NewReleases(&packersdk.MockArtifact{BuilderIdValue: "transcend.qemu", FilesValue: []string{p}},
				lifecycle.Image{Family: family, Version: version, Channel: "stable", Name: family + "-" + version,
					BuildTime: t0, Managed: true, Stage: lifecycle.StageActive, State: lifecycle.StateAvailable,
					Tags: map[string]string{lifecycle.TagManagedBy: lifecycle.DefaultManagedBy}})
			require.NoError(t, err)
			require.Len(t, imgs, 1)
			return imgs[0]
		},
		Crash: func(t *testing.T, be backend.Backend) {
			testHookAfterFileOp = func(string) error {
				testHookAfterFileOp = nil
				return errors.New("simulated crash before the catalog write")
			}
			t.Cleanup(func() { testHookAfterFileOp = nil })
		},
		BreakUsage: func(t *testing.T, be backend.Backend, img lifecycle.Image) {
			// Same size, but a backing-file header pointing nowhere sane.
			p := be.(*Backend).Catalog().absPath(img.Snapshots[0])
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			binary.BigEndian.PutUint64(data[8:], 1<<50)
			binary.BigEndian.PutUint32(data[16:], 10)
			require.NoError(t, os.WriteFile(p, data, 0o644))
		},
		BreakListing: func(t *testing.T, be backend.Backend) {
			require.NoError(t, os.WriteFile(be.(*Backend).Catalog().Path(), []byte("{not json"), 0o644))
		},
	})
}
