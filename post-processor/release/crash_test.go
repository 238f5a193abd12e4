package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/crashpoint"
)

// The local backend makes no network call for an emulator to count, so a
// crash test runs the release run in a child process (this test binary,
// re-executed into TestLocalCrashChild) that arms internal/crashpoint to
// SIGKILL itself right after its Nth file-system step (a file moved or
// deleted, a directory removed, the catalog's temp file written, backed up
// or renamed into place). crashpoint is armed only by test code in the same
// process: a plugin binary has no way to arm it.

// Child environment: the work directory, the version to build, the time,
// and the step to die after (0: none; the child then prints its step count).
const (
	envCrashDir  = "LIFECYCLE_CRASH_CHILD_DIR"
	envCrashVer  = "LIFECYCLE_CRASH_CHILD_VERSION"
	envCrashAt   = "LIFECYCLE_CRASH_CHILD_AT"
	crashPolicy  = `keep 1, min_age 0s, disable_after 7d, deregister_after 7d`
	stepsPrefix  = "CRASHPOINT STEPS "
	localCrashT0 = "2026-05-01T12:00:00Z"
)

// localBuild runs one build of family svc (version v) in this process, in
// the working directory, as Packer would: the file builder's artifact is
// out/svc-<v>.img, the catalog ./.packer-lifecycle.
func localBuild(v string) error {
	file := filepath.Join("out", "svc-"+v+".img")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(file, []byte("svc "+v+"\n"), 0o644); err != nil {
		return err
	}
	var p PostProcessor
	if err := p.Configure(map[string]interface{}{
		"family": "svc", "version": v, "keep_releases": 1, "min_age": "0s", "disable_after": "7d", "deregister_after": "7d",
		"allow_simulated_time": true,
	}); err != nil {
		return err
	}
	in := &packersdk.MockArtifact{BuilderIdValue: "packer.file", IdValue: file, FilesValue: []string{file}}
	_, _, _, err := p.PostProcess(context.Background(), newUI(), in)
	return err
}

// TestLocalCrashChild is the child process of TestLocalCrashConverges.
func TestLocalCrashChild(t *testing.T) {
	if os.Getenv(envCrashDir) == "" {
		t.Skip("the child process of TestLocalCrashConverges")
	}
	at, err := strconv.Atoi(os.Getenv(envCrashAt))
	require.NoError(t, err)
	steps := 0
	defer crashpoint.Arm(func(what string) {
		steps++
		if steps == at {
			fmt.Printf("kill -9 after step %d: %s\n", steps, what)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way: never return into the run
		}
	})()
	require.NoError(t, localBuild(os.Getenv(envCrashVer)))
	fmt.Printf("%s%d\n", stepsPrefix, steps)
}

// runChild runs one build in a child process at now, dying after step at
// (0: never); it returns the output and whether SIGKILL ended it.
func runChild(t *testing.T, dir, version string, now time.Time, at int) (string, bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLocalCrashChild$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashVer+"="+version, envCrashAt+"="+strconv.Itoa(at),
		clock.Env+"="+now.Format(time.RFC3339))
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return string(out), true
		}
	}
	require.NoError(t, err, "child:\n%s", out)
	return string(out), false
}

// localState is what a run leaves: every entry of the catalog (stage,
// times, files, and its history as the stage transitions, from -> to: a
// deregistration killed after deleting the files and before its catalog
// write is recorded by the re-run as a record of the vanished files),
// and every file under dir but the reports and the catalog's backup and
// lock, by content hash.
func localState(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	data, err := os.ReadFile(filepath.Join(dir, ".packer-lifecycle", "catalog.json"))
	require.NoError(t, err)
	var cat struct {
		Entries []map[string]any `json:"entries"`
	}
	require.NoError(t, json.Unmarshal(data, &cat), "catalog.json is valid JSON")
	for _, e := range cat.Entries {
		var hist []string
		for _, h := range e["history"].([]any) {
			ev := h.(map[string]any)
			hist = append(hist, fmt.Sprintf("%v->%v", ev["from"], ev["to"]))
		}
		delete(e, "history")
		body, _ := json.Marshal(e)
		out["entry "+e["version"].(string)] = string(body) + " history: " + strings.Join(hist, ", ")
	}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel == filepath.Join(".packer-lifecycle", "reports") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Base(p) {
		case "catalog.json", "catalog.json.bak", "catalog.lock":
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out["file "+rel] = hex.EncodeToString(sum[:8])
		return nil
	}))
	return out
}

// lastEvent is the last history event of version's entry.
func lastEvent(t *testing.T, dir, version string) (action, reason string) {
	data, err := os.ReadFile(filepath.Join(dir, ".packer-lifecycle", "catalog.json"))
	require.NoError(t, err)
	var cat struct {
		Entries []struct {
			Version string
			History []struct{ Action, Reason string }
		}
	}
	require.NoError(t, json.Unmarshal(data, &cat))
	for _, e := range cat.Entries {
		if e.Version == version && len(e.History) > 0 {
			last := e.History[len(e.History)-1]
			return last.Action, last.Reason
		}
	}
	return "", ""
}

func copyTree(t *testing.T, src, dst string) {
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	}))
}

// TestLocalCrashConverges: a build whose run deprecates one release,
// disables (quarantines) another and deregisters a third (deleting its
// file) is killed -9 after each of its file-system steps in turn; the same
// build run again at the same time succeeds and leaves exactly what one
// clean run leaves: the catalog's entries, stages, times, files and history
// (no stage skipped or recorded twice), and every file on disk (nothing of
// a kept release lost, nothing retired twice). Every step, in every mode:
// each costs a fraction of a second.
func TestLocalCrashConverges(t *testing.T) {
	t0, _ := time.Parse(time.RFC3339, localCrashT0)
	fixture := t.TempDir()
	t.Chdir(fixture)
	// 1.0.0 at day 0, 1.1.0 at day 2 (1.0.0 deprecated), 1.2.0 at day 10
	// (1.0.0 disabled, 1.1.0 deprecated); then 1.3.0 at day 20 is the run
	// crashed: 1.2.0 deprecated, 1.1.0 disabled, 1.0.0 deregistered.
	for _, b := range []struct {
		v   string
		day int
	}{{"1.0.0", 0}, {"1.1.0", 2}, {"1.2.0", 10}} {
		t.Setenv(clock.Env, t0.AddDate(0, 0, b.day).Format(time.RFC3339))
		require.NoError(t, localBuild(b.v))
	}
	at := t0.AddDate(0, 0, 20)

	clean := t.TempDir()
	copyTree(t, fixture, clean)
	out, killed := runChild(t, clean, "1.3.0", at, 0)
	require.False(t, killed)
	i := strings.Index(out, stepsPrefix)
	require.GreaterOrEqual(t, i, 0, out)
	n, err := strconv.Atoi(strings.Fields(out[i+len(stepsPrefix):])[0])
	require.NoError(t, err)
	want := localState(t, clean)
	for v, stage := range map[string]string{"1.0.0": "deregistered", "1.1.0": "disabled", "1.2.0": "deprecated", "1.3.0": "active"} {
		require.Contains(t, want["entry "+v], `"stage":"`+stage+`"`, "the clean run: %s", v)
	}
	require.NotContains(t, want, "file out/svc-1.0.0.img", "deregistered with its file")
	require.NotContains(t, want, "file out/svc-1.1.0.img", "quarantined")
	require.Contains(t, want, "file out/svc-1.2.0.img")

	t.Logf("%d file-system steps in the clean run (%s); crashing after each", n, crashPolicy)
	for k := 1; k <= n; k++ {
		t.Run(fmt.Sprintf("after-%d", k), func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, fixture, dir)
			out, killed := runChild(t, dir, "1.3.0", at, k)
			require.True(t, killed, "the child was to die after step %d:\n%s", k, out)
			t.Log(strings.TrimSpace(out[strings.LastIndex(out, "kill -9"):]))
			_, killed = runChild(t, dir, "1.3.0", at, 0)
			require.False(t, killed)
			require.Equal(t, want, localState(t, dir), "the re-run converges to the clean run's state")
			if action, reason := lastEvent(t, dir, "1.0.0"); action == "record" {
				require.Contains(t, reason, "a deregistration interrupted before its catalog write", "the history says why the files are gone")
				t.Logf("1.0.0: %s", reason)
			}
			temps, _ := filepath.Glob(filepath.Join(dir, ".packer-lifecycle", "catalog-*.tmp"))
			require.Empty(t, temps, "no temp file of the killed writer left")
		})
	}
}
