package e2e

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestArtifactHandedOnIntact: the post-processors after lifecycle see the
// builder's artifact: shell-local its generated data, manifest its id and
// files, compress its files. The SDK closes the input artifact's connection
// when our PostProcess returns, so this failed while we handed on a
// wrapper that delegated to it ("files": null, "artifact_id": "").
func TestArtifactHandedOnIntact(t *testing.T) {
	dir := template(t, "svc.pkr.hcl", requireLifecycle+`
source "file" "svc" {
  content = "svc 1.0.0"
  target  = "out/svc.img"
}
build {
  sources = ["source.file.svc"]
  post-processors {
    post-processor "lifecycle" {
      family  = "svc"
      version = "1.0.0"
    }
    post-processor "shell-local" {
      inline = ["echo \"GENERATED uuid=${build.PackerRunUUID}\""]
    }
    post-processor "manifest" {
      output     = "manifest.json"
      strip_path = false
    }
    post-processor "compress" {
      output              = "out/svc.tar.gz"
      keep_input_artifact = true
    }
  }
}
`)
	r := packer(dir, "build", ".")
	mustSucceed(t, r)
	// The file builder has no generated data (shell-local prints <unknown>
	// without lifecycle too); the unit test of the artifact copy checks it.
	mustContain(t, r.stdout, "GENERATED uuid=")

	var m struct {
		Builds []struct {
			ArtifactID string `json:"artifact_id"`
			Files      []struct {
				Name string `json:"name"`
				Size int64  `json:"size"`
			} `json:"files"`
		} `json:"builds"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &m))
	require.Len(t, m.Builds, 1)
	require.Equal(t, "File", m.Builds[0].ArtifactID, "the file builder's artifact id")
	require.Len(t, m.Builds[0].Files, 1)
	require.Equal(t, "out/svc.img", m.Builds[0].Files[0].Name)
	require.Equal(t, int64(len("svc 1.0.0")), m.Builds[0].Files[0].Size)

	f, err := os.Open(filepath.Join(dir, "out", "svc.tar.gz"))
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(hdr.Name, "svc.img"), hdr.Name)
	body, err := io.ReadAll(tr)
	require.NoError(t, err)
	require.Equal(t, "svc 1.0.0", string(body))

	// And the release is recorded, its file in place.
	c := readCatalog(t, dir)
	require.Len(t, c.Entries, 1)
	require.Equal(t, "active", c.Entries[0].Stage)
	_, err = os.Stat(filepath.Join(dir, "out", "svc.img"))
	require.NoError(t, err)
}

// A failed lifecycle run makes Packer destroy the builder's artifact, so
// the new build must not stay recorded: no phantom release, whatever made
// the run fail. Each trigger ends with the catalog as it was, the data
// source handing out the previous release, and that release's file intact.
func TestFailedRunLeavesNoPhantomRelease(t *testing.T) {
	triggers := map[string]func(t *testing.T, dir string){
		// A retire action fails: the old release's file changed (same size).
		"retire action fails": func(t *testing.T, dir string) {
			p := filepath.Join(dir, "out", "svc-1.0.0.img")
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			data[0] ^= 0xff
			require.NoError(t, os.WriteFile(p, data, 0o644))
		},
		// The catalog cannot be written (its lock cannot be opened for
		// writing; chmod does not stop root).
		"catalog not writable": func(t *testing.T, dir string) {
			lock := filepath.Join(dir, ".packer-lifecycle", "catalog.lock")
			require.NoError(t, os.RemoveAll(lock))
			require.NoError(t, os.Mkdir(lock, 0o755))
		},
	}
	for name, trigger := range triggers {
		t.Run(name, func(t *testing.T) {
			dir := sweepable(t, `keep_releases = 1
min_age = "0s"
disable_after = "1d"`)
			mustSucceed(t, packerEnv(dir, atDay(1), "build", "-only=file.svc", "-var", "version=1.0.0", "."))
			mustSucceed(t, packerEnv(dir, atDay(2), "build", "-only=file.svc", "-var", "version=1.1.0", "."))
			before := readCatalog(t, dir)
			trigger(t, dir)
			r := packerEnv(dir, atDay(5), "build", "-only=file.svc", "-var", "version=2.0.0", ".")
			require.NotZero(t, r.code, "the run must fail: %s", r)
			_, err := os.Stat(filepath.Join(dir, "out", "svc-2.0.0.img"))
			require.True(t, os.IsNotExist(err), "Packer destroys the artifact of a failed post-processor")
			after := readCatalog(t, dir)
			for _, e := range after.Entries {
				require.NotEqual(t, "2.0.0", e.Version, "the failed build stays recorded: %+v", e)
			}
			require.Equal(t, len(before.Entries), len(after.Entries))
			// The newest supported release is still 1.1.0, files in place.
			require.Contains(t, readParent(t, dir, atDay(5)), "version=1.1.0")
		})
	}
}

// readParent runs the data source for family svc and returns what it says.
func readParent(t *testing.T, dir string, env []string) string {
	t.Helper()
	reader := requireLifecycle + `
data "lifecycle-image" "svc" {
  family               = "svc"
  allow_simulated_time = true
}
source "null" "x" { communicator = "none" }
build {
  sources = ["source.null.x"]
  post-processor "shell-local" {
    inline = ["echo PARENT id=${data.lifecycle-image.svc.id} version=${data.lifecycle-image.svc.version} path=${data.lifecycle-image.svc.path}"]
  }
}
`
	rd := filepath.Join(dir, "reader")
	require.NoError(t, os.MkdirAll(rd, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(rd, "reader.pkr.hcl"), []byte(reader), 0o644))
	r := packerEnv(dir, env, "build", "reader")
	if r.code != 0 {
		return r.stdout + r.stderr
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if i := strings.Index(line, "PARENT "); i >= 0 {
			return line[i:]
		}
	}
	t.Fatalf("no PARENT line: %s", r)
	return ""
}

// The data source never hands out a release whose files vanished, and a
// sweep then records the vanished release as deregistered and never
// retires the release still on disk for it.
func TestVanishedReleaseIsNeitherHandedOutNorCounted(t *testing.T) {
	dir := sweepable(t, `keep_releases = 1
min_age = "0s"
disable_after = "1d"`)
	mustSucceed(t, packerEnv(dir, atDay(1), "build", "-only=file.svc", "-var", "version=1.0.0", "."))
	mustSucceed(t, packerEnv(dir, atDay(2), "build", "-only=file.svc", "-var", "version=1.1.0", "."))
	require.Contains(t, readParent(t, dir, atDay(3)), "version=1.1.0")
	require.NoError(t, os.Remove(filepath.Join(dir, "out", "svc-1.1.0.img")))
	require.Contains(t, readParent(t, dir, atDay(3)), "no supported release of family svc",
		"1.1.0's file is gone and 1.0.0 is deprecated: nothing may be handed out")

	r := packerEnv(dir, atDay(5), "build", "-only=sweep.*", "-var", "version=x", ".")
	mustSucceed(t, r)
	mustContain(t, r.stdout, "1.1.0 (stable): record: deregistered (gone from the backend", "its files vanished")
	stages := map[string]string{}
	for _, e := range readCatalog(t, dir).Entries {
		stages[e.Version] = e.Stage
	}
	require.Equal(t, map[string]string{"1.0.0": "deprecated", "1.1.0": "deregistered"}, stages,
		"1.0.0, the last release on disk, was retired further for a release that no longer exists")
	_, err := os.Stat(filepath.Join(dir, "out", "svc-1.0.0.img"))
	require.NoError(t, err)
}

// Two builds that write one output path: the second overwrote the first's
// file, so exactly one live release claims the path.
func TestSharedOutputPathHasOneClaim(t *testing.T) {
	dir := template(t, "svc.pkr.hcl", requireLifecycle+`
variable "version" { type = string }
source "file" "svc" {
  content = "svc ${var.version}"
  target  = "out/svc.img"
}
build {
  sources = ["source.file.svc"]
  post-processor "lifecycle" {
    family        = "svc"
    version       = var.version
    keep_releases = 5
    allow_simulated_time = true
  }
}
`)
	mustSucceed(t, packerEnv(dir, atDay(1), "build", "-var", "version=1.0.0", "."))
	r := packerEnv(dir, atDay(2), "build", "-var", "version=1.1.0", ".")
	mustSucceed(t, r)
	mustContain(t, r.stdout, "overwrote the files of")
	var live []string
	for _, e := range readCatalog(t, dir).Entries {
		if e.Stage != "deregistered" {
			live = append(live, e.Version)
		}
	}
	require.Equal(t, []string{"1.1.0"}, live)
	require.Contains(t, readParent(t, dir, atDay(3)), "version=1.1.0")
}

// Rebuilding a version: the same content is the same release, a disabled
// release is never revived by a rebuild (the run fails and its quarantined
// file stays intact).
func TestRebuildOfARetiredRelease(t *testing.T) {
	dir := sweepable(t, `keep_releases = 1
min_age = "0s"
disable_after = "1d"`)
	mustSucceed(t, packerEnv(dir, atDay(1), "build", "-only=file.svc", "-var", "version=1.0.0", "."))
	mustSucceed(t, packerEnv(dir, atDay(1), "build", "-only=file.svc", "-var", "version=1.0.0", "."))
	require.Len(t, readCatalog(t, dir).Entries, 1, "the same build twice is one release")

	mustSucceed(t, packerEnv(dir, atDay(2), "build", "-only=file.svc", "-var", "version=2.0.0", "."))
	mustSucceed(t, packerEnv(dir, atDay(4), "build", "-only=sweep.*", "-var", "version=x", "."))
	var q string
	for _, e := range readCatalog(t, dir).Entries {
		if e.Version == "1.0.0" {
			require.Equal(t, "disabled", e.Stage)
			q = filepath.Join(dir, ".packer-lifecycle", e.Files[0].Quarantined)
		}
	}
	r := packerEnv(dir, atDay(5), "build", "-only=file.svc", "-var", "version=1.0.0", ".")
	require.NotZero(t, r.code, "a rebuild revived a disabled release: %s", r)
	mustContain(t, r.stdout+r.stderr, "already exists and is disabled")
	data, err := os.ReadFile(q)
	require.NoError(t, err)
	require.Equal(t, "svc 1.0.0", string(data))
}

// Two sweeps at once retire the same release: it is done once and reported
// done once (the other run says unchanged), so the bytes reclaimed the
// reports add up to are the bytes that went.
func TestConcurrentSweepsNeverCountTwice(t *testing.T) {
	dir := sweepable(t, `keep_releases = 1
min_age = "0s"
disable_after = "1d"
deregister_after = "1d"`)
	for i, v := range []string{"1.0.0", "2.0.0"} {
		mustSucceed(t, packerEnv(dir, atDay(1+i), "build", "-only=file.svc", "-var", "version="+v, "."))
	}
	mustSucceed(t, packerEnv(dir, atDay(4), "build", "-only=sweep.*", "-var", "version=x", ".")) // disable 1.0.0
	results := make(chan result, 2)
	for range 2 {
		go func() { results <- packerEnv(dir, atDay(7), "build", "-only=sweep.*", "-var", "version=x", ".") }()
	}
	for range 2 {
		mustSucceed(t, <-results)
	}
	var reclaimed int64
	done := 0
	for _, r := range readReports(t, dir) {
		reclaimed += r.Summary.BytesReclaimed
		for _, d := range r.Decisions {
			if d.Action == "deregister" && d.Status == "done" {
				done++
			}
		}
	}
	require.Equal(t, 1, done, "one deregistration, reported done once")
	require.Equal(t, int64(len("svc 1.0.0")), reclaimed)
}

// pin_releases in a sweep pins an existing local release: the sweep that
// would disable it keeps it, and says why.
func TestPinReleasesInALocalSweep(t *testing.T) {
	dir := sweepable(t, `keep_releases = 1
min_age = "0s"
disable_after = "1d"`)
	for i, v := range []string{"1.0.0", "2.0.0"} {
		mustSucceed(t, packerEnv(dir, atDay(1+i), "build", "-only=file.svc", "-var", "version="+v, "."))
	}
	var id string
	for _, e := range readCatalog(t, dir).Entries {
		if e.Version == "1.0.0" {
			id = e.ID
		}
	}
	r := packerEnv(dir, atDay(5), "build", "-only=sweep.*", "-var", "version=x", "-var", `pin=["`+id+`"]`, ".")
	mustSucceed(t, r)
	mustContain(t, r.stdout, "pinned "+id, id+" 1.0.0 (stable): kept: pinned")
	for _, e := range readCatalog(t, dir).Entries {
		if e.ID == id {
			require.Equal(t, "deprecated", e.Stage, "pinned: never disabled")
		}
	}
}
