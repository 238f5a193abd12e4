package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// catalog is the part of .packer-lifecycle/catalog.json the tests read.
type catalog struct {
	Schema  int `json:"schema"`
	Entries []struct {
		ID, Family, Version, Channel, Stage, Parent string
		Files                                       []struct {
			Path, SHA256, Quarantined string
			Size                      int64
			Deleted                   bool
		}
		History []struct{ Action, From, To string }
		Tags    map[string]string
	} `json:"entries"`
}

func readCatalog(t *testing.T, dir string) catalog {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ".packer-lifecycle", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c catalog
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("catalog.json: %v", err)
	}
	return c
}

type reportFile struct {
	DryRun    bool     `json:"dry_run"`
	NewBuild  []string `json:"new_build"`
	Decisions []struct {
		ID, Version, Action, Reason, Status string
	} `json:"decisions"`
	Summary struct {
		BytesReclaimed int64          `json:"bytes_reclaimed"`
		Actions        map[string]int `json:"actions"`
	} `json:"summary"`
}

func readReports(t *testing.T, dir string) map[string]reportFile {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, ".packer-lifecycle", "reports", "*.json"))
	out := map[string]reportFile{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var r reportFile
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[filepath.Base(p)] = r
	}
	return out
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestDemo runs `make demo`'s script end to end and checks its outcome on
// disk, in the catalog and in the reports, not only what it printed.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(repoRoot, "example", "local", "demo.sh"), pluginBinary)
	cmd.Env = append(os.Environ(), "DEMO_DIR="+dir, "PATH="+toolsDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	mustContain(t, string(out),
		"1.0.0 (stable): deprecate: superseded by 1.1.0",
		"1.0.0 (stable): disable: superseded by 1.2.0, deprecated 17d ago (disable_after 7d)",
		"1.0.0 (stable): deregister: superseded by 1.2.0", "4.0 MiB reclaimed",
		"kept: disabled 0s ago, deregister in 7d",
		"Reclaimed 4 MiB")

	c := readCatalog(t, dir)
	stages := map[string]string{}
	byVersion := map[string]string{}
	for _, e := range c.Entries {
		stages[e.Family+" "+e.Version] = e.Stage
		byVersion[e.Family+" "+e.Version] = e.ID
	}
	want := map[string]string{"base 1.0.0": "deregistered", "base 1.1.0": "disabled", "base 1.2.0": "active", "app 1.0.0": "active"}
	for k, v := range want {
		if stages[k] != v {
			t.Errorf("%s is %q, want %q (catalog: %v)", k, stages[k], v, stages)
		}
	}
	for _, e := range c.Entries {
		if got := e.Tags["lifecycle:managed-by"]; got != "packer-plugin-lifecycle" {
			t.Errorf("%s %s carries managed-by %q", e.Family, e.Version, got)
		}
		switch e.Family + " " + e.Version {
		case "app 1.0.0":
			if e.Parent != byVersion["base 1.2.0"] {
				t.Errorf("app's parent = %q, want the newest supported base %q", e.Parent, byVersion["base 1.2.0"])
			}
		case "base 1.0.0":
			if !e.Files[0].Deleted {
				t.Errorf("base 1.0.0's file is not marked deleted")
			}
			if got := []string{}; len(e.History) != 4 {
				for _, h := range e.History {
					got = append(got, h.Action)
				}
				t.Errorf("base 1.0.0 history = %v, want record, deprecate, disable, deregister", got)
			}
		case "base 1.1.0":
			q := filepath.Join(dir, ".packer-lifecycle", e.Files[0].Quarantined)
			if e.Files[0].Quarantined == "" || sha256File(t, q) != e.Files[0].SHA256 {
				t.Errorf("base 1.1.0 is not intact in quarantine at %q", q)
			}
		}
	}
	// Files on disk: the deleted release is gone, the quarantined one moved,
	// the kept ones in place; the child is a copy of its parent.
	for path, wantExists := range map[string]bool{
		"out/base-1.0.0.img": false, "out/base-1.1.0.img": false,
		"out/base-1.2.0.img": true, "out/app-1.0.0.img": true,
	} {
		_, err := os.Stat(filepath.Join(dir, path))
		if exists := err == nil; exists != wantExists {
			t.Errorf("%s exists = %v, want %v", path, exists, wantExists)
		}
	}
	if sha256File(t, filepath.Join(dir, "out/app-1.0.0.img")) != sha256File(t, filepath.Join(dir, "in/base-1.2.0.raw")) {
		t.Errorf("app was not built from base 1.2.0")
	}
	var reclaimed int64
	for _, r := range readReports(t, dir) {
		reclaimed += r.Summary.BytesReclaimed
	}
	if reclaimed != 4<<20 {
		t.Errorf("reports say %d bytes reclaimed, want %d", reclaimed, 4<<20)
	}
}

// localTemplate builds one version of family "svc" with the file builder.
func localTemplate(pp string) string {
	return requireLifecycle + `
variable "version" { type = string }
source "file" "svc" {
  content = "svc ${var.version}"
  target  = "out/svc-${var.version}.img"
}
build {
  sources = ["source.file.svc"]
  post-processor "lifecycle" {
    family  = "svc"
    version = var.version
` + pp + `
  }
}
`
}

// TestConcurrentBuildsShareOneCatalog: ten packer builds at once write one
// catalog and none of their releases is lost.
func TestConcurrentBuildsShareOneCatalog(t *testing.T) {
	dir := template(t, "svc.pkr.hcl", localTemplate(`keep_releases = 20`))
	const n = 10
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = packer(dir, "build", "-var", fmt.Sprintf("version=1.0.%d", i), ".")
		}()
	}
	wg.Wait()
	for _, r := range results {
		mustSucceed(t, r)
	}
	c := readCatalog(t, dir)
	var versions []string
	for _, e := range c.Entries {
		versions = append(versions, e.Version)
	}
	sort.Strings(versions)
	if len(versions) != n {
		t.Fatalf("catalog has %d releases after %d concurrent builds: %v", len(versions), n, versions)
	}
	if got := len(readReports(t, dir)); got != n {
		t.Errorf("%d reports for %d runs: concurrent runs overwrote each other's report", got, n)
	}
}

// treeSnapshot maps every path under dir (but the reports) to its content
// hash, so a dry run can be shown to change nothing.
func treeSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() || strings.Contains(rel, "reports") || strings.HasPrefix(rel, ".packer.d") || strings.HasPrefix(rel, "packer_cache") {
			return nil
		}
		snap[rel] = sha256File(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// sweepable writes the svc release template and a sweep build with the same
// policy; the sweep takes -var dry_run=… and -var restore=[…].
func sweepable(t *testing.T, policy string) string {
	t.Helper()
	dir := template(t, "svc.pkr.hcl", localTemplate(policy))
	sweep := `
variable "dry_run" {
  type    = bool
  default = false
}
variable "restore" {
  type    = list(string)
  default = []
}
source "null" "sweep" { communicator = "none" }
build {
  name    = "sweep"
  sources = ["source.null.sweep"]
  post-processor "lifecycle" {
    family  = "svc"
    sweep   = true
    dry_run = var.dry_run
    restore = var.restore
` + policy + `
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "sweep.pkr.hcl"), []byte(sweep), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// atDay rehearses a day of March 2026 through the plugin's clock override.
func atDay(day int) []string {
	return []string{fmt.Sprintf("PACKER_LIFECYCLE_NOW=2026-03-%02dT00:00:00Z", day)}
}

// TestDryRunIsATwinThatChangesNothing: a sweep with dry_run plans the same
// actions a real sweep then carries out, and touches nothing itself.
func TestDryRunIsATwinThatChangesNothing(t *testing.T) {
	policy := `keep_releases = 1
min_age = "0s"
disable_after = "1d"
deregister_after = "1d"
delete_snapshots = true`
	dir := sweepable(t, policy)
	for i, v := range []string{"1.0.0", "2.0.0"} {
		mustSucceed(t, packerEnv(dir, atDay(1+i), "build", "-only=file.svc", "-var", "version="+v, "."))
	}
	// Day 2 deprecated 1.0.0; day 5: disable is due, on day 9 deregister.
	for _, day := range []int{5, 9} {
		before := treeSnapshot(t, dir)
		dry := packerEnv(dir, atDay(day), "build", "-only=sweep.*", "-var", "version=x", "-var", "dry_run=true", ".")
		mustSucceed(t, dry)
		if after := treeSnapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("day %d: dry run changed files:\nbefore %v\nafter  %v", day, before, after)
		}
		real := packerEnv(dir, atDay(day), "build", "-only=sweep.*", "-var", "version=x", ".")
		mustSucceed(t, real)
		action := map[int]string{5: "disable", 9: "deregister"}[day]
		mustContain(t, dry.stdout, "1.0.0 (stable): would "+action+": ")
		mustContain(t, real.stdout, "1.0.0 (stable): "+action+": ")
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "svc-1.0.0.img")); !os.IsNotExist(err) {
		t.Errorf("svc 1.0.0's file still exists after deregistration (err=%v)", err)
	}
	if r := readReports(t, dir); len(r) != 6 {
		t.Errorf("%d reports, want one per run (6)", len(r))
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "svc-2.0.0.img")); err != nil {
		t.Errorf("the kept release's file is gone: %v", err)
	}
}

// TestParentMustBeSupported: the data source refuses to hand out a parent
// when no release qualifies, and says why, failing the build before it runs.
func TestParentMustBeSupported(t *testing.T) {
	dir := template(t, "svc.pkr.hcl", localTemplate(`keep_releases = 1
min_age = "0s"`))
	mustSucceed(t, packerEnv(dir, []string{"PACKER_LIFECYCLE_NOW=2026-03-01T00:00:00Z"}, "build", "-var", "version=1.0.0", "."))
	child := requireLifecycle + `
data "lifecycle-image" "parent" {
  family             = "svc"
  version_constraint = ">= 2.0"
}
source "file" "child" {
  source = data.lifecycle-image.parent.path
  target = "out/child.img"
}
build { sources = ["source.file.child"] }
`
	if err := os.MkdirAll(filepath.Join(dir, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "child", "child.pkr.hcl"), []byte(child), 0o644); err != nil {
		t.Fatal(err)
	}
	r := packer(dir, "build", "child")
	if r.code == 0 {
		t.Fatalf("child build started from an unsupported parent: %s", r)
	}
	mustContain(t, r.stdout+r.stderr, "no supported release of family svc, channel stable: passed over 1 outside >= 2.0")
	if _, err := os.Stat(filepath.Join(dir, "out", "child.img")); !os.IsNotExist(err) {
		t.Errorf("the child was built anyway")
	}
}

// TestArtifactWithoutFilesNeedsSweepOrBackend: a null build cannot be
// recorded in the local catalog; validate already says what to do.
func TestArtifactWithoutFilesNeedsSweepOrBackend(t *testing.T) {
	dir := template(t, "t.pkr.hcl", requireLifecycle+`
source "null" "x" { communicator = "none" }
build {
  sources = ["source.null.x"]
  post-processor "lifecycle" {
    family  = "svc"
    version = "1.0.0"
  }
}
`)
	for _, cmd := range []string{"validate", "build"} {
		r := packer(dir, cmd, ".")
		if r.code == 0 {
			t.Fatalf("%s accepted an artifact without files: %s", cmd, r)
		}
		mustContain(t, r.stdout+r.stderr, "sweep: the null builder produces no image to record; set sweep = true")
	}
}

// TestRestoreBringsBackAQuarantinedRelease: a disabled release's files come
// back from quarantine to where they were, byte for byte, on request.
func TestRestoreBringsBackAQuarantinedRelease(t *testing.T) {
	policy := `keep_releases = 1
min_age = "0s"
disable_after = "1d"`
	dir := sweepable(t, policy)
	mustSucceed(t, packerEnv(dir, atDay(1), "build", "-only=file.svc", "-var", "version=1.0.0", "."))
	original := sha256File(t, filepath.Join(dir, "out", "svc-1.0.0.img"))
	mustSucceed(t, packerEnv(dir, atDay(2), "build", "-only=file.svc", "-var", "version=2.0.0", "."))
	mustSucceed(t, packerEnv(dir, atDay(5), "build", "-only=sweep.*", "-var", "version=x", "."))
	if _, err := os.Stat(filepath.Join(dir, "out", "svc-1.0.0.img")); !os.IsNotExist(err) {
		t.Fatalf("svc 1.0.0 was not quarantined (err=%v)", err)
	}
	var id string
	for _, e := range readCatalog(t, dir).Entries {
		if e.Version == "1.0.0" {
			id = e.ID
		}
	}
	bad := packerEnv(dir, atDay(6), "build", "-only=sweep.*", "-var", "version=x", "-var", `restore=["svc-nope"]`, ".")
	if bad.code == 0 {
		t.Fatalf("restoring an unknown release succeeded: %s", bad)
	}
	mustContain(t, bad.stdout+bad.stderr, "restore: no release svc-nope in family svc")

	r := packerEnv(dir, atDay(6), "build", "-only=sweep.*", "-var", "version=x", "-var", `restore=["`+id+`"]`, ".")
	mustSucceed(t, r)
	mustContain(t, r.stdout, id+" 1.0.0 (stable): restore: requested")
	if got := sha256File(t, filepath.Join(dir, "out", "svc-1.0.0.img")); got != original {
		t.Errorf("restored file differs from the original")
	}
	for _, e := range readCatalog(t, dir).Entries {
		if e.ID == id && e.Stage != "active" {
			t.Errorf("restored release is %s, want active", e.Stage)
		}
	}
}

// TestInputArtifactSurvivesKeepInputArtifactFalse: the post-processor hands
// the input artifact on, so Packer must not destroy it even when the user
// asks not to keep input artifacts: that would delete the recorded release.
func TestInputArtifactSurvivesKeepInputArtifactFalse(t *testing.T) {
	dir := template(t, "svc.pkr.hcl", localTemplate(`keep_input_artifact = false`))
	mustSucceed(t, packer(dir, "build", "-var", "version=1.0.0", "."))
	if _, err := os.Stat(filepath.Join(dir, "out", "svc-1.0.0.img")); err != nil {
		t.Fatalf("Packer destroyed the recorded release's file: %v", err)
	}
}

// TestCorruptCatalogFailsLoudlyAndStaysAsItWas: a damaged catalog stops the
// build with the file named, and is never overwritten.
func TestCorruptCatalogFailsLoudlyAndStaysAsItWas(t *testing.T) {
	dir := template(t, "svc.pkr.hcl", localTemplate(``))
	mustSucceed(t, packer(dir, "build", "-var", "version=1.0.0", "."))
	path := filepath.Join(dir, ".packer-lifecycle", "catalog.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damaged := data[:len(data)/2]
	if err := os.WriteFile(path, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	r := packer(dir, "build", "-var", "version=2.0.0", ".")
	if r.code == 0 {
		t.Fatalf("build succeeded on a corrupt catalog: %s", r)
	}
	mustContain(t, r.stdout+r.stderr, path, "catalog.json.bak")
	if after, _ := os.ReadFile(path); string(after) != string(damaged) {
		t.Errorf("the corrupt catalog was rewritten")
	}
}

// TestDataSourceOutputs: every output of the data source, as a template
// reads it, matches the catalog entry of the newest supported release.
func TestDataSourceOutputs(t *testing.T) {
	dir := template(t, "svc.pkr.hcl", localTemplate(`channel = "rc"
parent  = "base-9"
expire_after = "30d"`))
	for i, v := range []string{"1.0.0", "1.1.0"} {
		mustSucceed(t, packerEnv(dir, atDay(1+i), "build", "-var", "version="+v, "."))
	}
	reader := requireLifecycle + `
data "lifecycle-image" "svc" {
  family  = "svc"
  channel = "rc"
}
source "null" "x" { communicator = "none" }
build {
  sources = ["source.null.x"]
  post-processor "shell-local" {
    inline = ["echo OUT id=${data.lifecycle-image.svc.id} version=${data.lifecycle-image.svc.version} channel=${data.lifecycle-image.svc.channel} parent=${data.lifecycle-image.svc.parent} released=${data.lifecycle-image.svc.released_at} expires=${data.lifecycle-image.svc.expires_at} path=${data.lifecycle-image.svc.path} files=${length(data.lifecycle-image.svc.files)} sha256=${data.lifecycle-image.svc.sha256} region=${data.lifecycle-image.svc.region} tag=${data.lifecycle-image.svc.tags["lifecycle:family"]}"]
  }
}
`
	if err := os.MkdirAll(filepath.Join(dir, "reader"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "reader", "reader.pkr.hcl"), []byte(reader), 0o644); err != nil {
		t.Fatal(err)
	}
	r := packerEnv(dir, atDay(3), "build", "reader")
	mustSucceed(t, r)
	var id string
	for _, e := range readCatalog(t, dir).Entries {
		if e.Version == "1.1.0" {
			id = e.ID
		}
	}
	path := filepath.Join(dir, "out", "svc-1.1.0.img")
	mustContain(t, r.stdout, "OUT id="+id+" version=1.1.0 channel=rc parent=base-9 released=2026-03-02T00:00:00Z expires=2026-04-01T00:00:00Z path="+path+" files=1 sha256="+sha256File(t, path)+" region=local tag=svc")

	// Once 1.1.0 has expired, 1.0.0 has too: nothing may be handed out.
	expired := packerEnv(dir, []string{"PACKER_LIFECYCLE_NOW=2026-04-02T00:00:00Z"}, "build", "reader")
	if expired.code == 0 {
		t.Fatalf("an expired release was handed out as a parent: %s", expired)
	}
	mustContain(t, expired.stdout+expired.stderr, "no supported release of family svc, channel rc: passed over")
}

// TestOneFailingImageDoesNotStopTheSweep: a release whose file changed since
// it was recorded cannot be quarantined; the other release is still
// disabled, the failure is named, and the run fails at the end.
func TestOneFailingImageDoesNotStopTheSweep(t *testing.T) {
	dir := sweepable(t, `keep_releases = 1
min_age = "0s"
disable_after = "2d"`)
	for i, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		mustSucceed(t, packerEnv(dir, atDay(1+i), "build", "-only=file.svc", "-var", "version="+v, "."))
	}
	// Days 2 and 3 deprecated 1.0.0 and 1.1.0; on day 6 both are due for
	// disabling. Tamper with 1.0.0's file.
	// Same size, other content: only the hash check before the move sees it.
	tampered := filepath.Join(dir, "out", "svc-1.0.0.img")
	data, err := os.ReadFile(tampered)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0xff
	if err := os.WriteFile(tampered, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := packerEnv(dir, atDay(6), "build", "-only=sweep.*", "-var", "version=x", ".")
	if r.code == 0 {
		t.Fatalf("a sweep with a failed action succeeded: %s", r)
	}
	mustContain(t, r.stdout+r.stderr, "1.0.0 (stable): FAILED disable: ", "1.1.0 (stable): disable: ", "1 of 2 lifecycle actions failed")
	stages := map[string]string{}
	for _, e := range readCatalog(t, dir).Entries {
		stages[e.Version] = e.Stage
	}
	if stages["1.0.0"] != "deprecated" || stages["1.1.0"] != "disabled" || stages["2.0.0"] != "active" {
		t.Errorf("stages after the sweep: %v", stages)
	}
	var failed, done int
	for _, rep := range readReports(t, dir) {
		for _, d := range rep.Decisions {
			switch {
			case d.Status == "failed" && d.Version == "1.0.0":
				failed++
			case d.Status == "done" && d.Version == "1.1.0" && d.Action == "disable":
				done++
			}
		}
	}
	if failed != 1 || done != 1 {
		t.Errorf("reports: %d failed disables of 1.0.0, %d done disables of 1.1.0; want 1 and 1", failed, done)
	}
}
