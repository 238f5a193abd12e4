package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gofrs/flock"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func TestRecordListRoundTrip(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "disk.qcow2"), "disk bytes")
	m := writeFile(t, filepath.Join(root, "out", "sub", "manifest.json"), "{}")
	img := release("web", "1.2.3", a, m)
	img.ExpiresAt = t0.AddDate(0, 1, 0)
	img.Parent = "base-1.0.0-000000000000"
	id := mustRecord(t, b, img)

	got := list(t, b, "web")
	if len(got) != 1 {
		t.Fatalf("List: %d images, want 1", len(got))
	}
	g := got[0]
	if g.ID != id || g.Region != "local" || !g.Managed || g.Owner != "" || g.Stage != lifecycle.StageActive ||
		g.Version != "1.2.3" || g.Channel != "stable" || g.Parent != img.Parent || !g.ExpiresAt.Equal(img.ExpiresAt) ||
		!g.BuildTime.Equal(t0) || g.ReleasedAt.IsZero() || g.StageSince.IsZero() || g.Tags["os"] != "debian" || g.State != "available" {
		t.Fatalf("List image = %+v", g)
	}
	if !reflect.DeepEqual(g.Snapshots, []string{a, m}) {
		t.Fatalf("Snapshots = %v", g.Snapshots)
	}
	e := entry(t, b, id)
	want := []FileRef{{Path: a, Size: 10, SHA256: sha("disk bytes")}, {Path: m, Size: 2, SHA256: sha("{}")}}
	if !reflect.DeepEqual(e.Files, want) {
		t.Fatalf("files = %+v, want %+v", e.Files, want)
	}
	if len(e.History) != 1 || e.History[0].Action != ActionRecord {
		t.Fatalf("history = %+v", e.History)
	}
	// Other family and channel filters.
	if n := len(list(t, b, "db")); n != 0 {
		t.Fatalf("other family listed %d", n)
	}
	if imgs, _ := listImages(context.Background(), b, backend.Query{Family: "web", Channel: "rc"}); len(imgs) != 0 {
		t.Fatalf("channel filter ignored: %v", imgs)
	}
}

func TestRecordIdempotent(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "disk.img"), "v1")
	img := release("web", "1.0.0", a)
	id := mustRecord(t, b, img)
	before, _ := os.ReadFile(b.Catalog().Path())
	fi1, _ := os.Stat(b.Catalog().Path())
	id2 := mustRecord(t, b, img)
	after, _ := os.ReadFile(b.Catalog().Path())
	fi2, _ := os.Stat(b.Catalog().Path())
	if id != id2 || !bytes.Equal(before, after) {
		t.Fatalf("second Record changed the catalog:\n%s\n---\n%s", before, after)
	}
	// Not even rewritten: the backup must keep the real previous version.
	if !os.SameFile(fi1, fi2) {
		t.Fatal("idempotent Record rewrote catalog.json")
	}
	if n := len(list(t, b, "web")); n != 1 {
		t.Fatalf("%d entries after re-record, want 1", n)
	}
	// A different build gets a different id.
	writeFile(t, a, "v2")
	if id3 := mustRecord(t, b, img); id3 == id {
		t.Fatalf("different content, same id %s", id3)
	}

	// The first build's file was overwritten by the second: no two live
	// entries ever claim one path.
	if e := entry(t, b, id); e.Stage != lifecycle.StageDeregistered || !strings.Contains(e.History[len(e.History)-1].Reason, "overwritten by build") {
		t.Fatalf("entry whose file was overwritten: %+v", e)
	}

	// A fixed id never has its files rewritten: a record never merges two
	// builds into one release.
	img.ID = "web-fixed"
	mustRecord(t, b, img)
	writeFile(t, a, "v3")
	contains(t, recordErr(b, img, false), "a record never rewrites a release")
	if e := entry(t, b, "web-fixed"); e.Files[0].SHA256 != sha("v2") || len(e.History) != 1 {
		t.Fatalf("re-record with new content changed the entry: %+v", e)
	}
	mustApply(t, b, decision("web-fixed", lifecycle.ActionDeprecate))
	contains(t, recordErr(b, img, false), "a record never rewrites a release")
	// The same build again, of a deprecated release: nothing to record (and
	// no error, which would make Packer delete the file in place).
	writeFile(t, a, "v2")
	res := b.Record(context.Background(), []lifecycle.Image{img}, false)[0]
	require.NoError(t, res.Err)
	require.False(t, res.Changed)
	require.Contains(t, res.Note, "stays deprecated")
	require.Equal(t, lifecycle.StageDeprecated, entry(t, b, "web-fixed").Stage)
	mustApply(t, b, decision("web-fixed", lifecycle.ActionDisable))
	writeFile(t, a, "v2") // rebuilt where it was before quarantine
	contains(t, recordErr(b, img, false), "web-fixed already exists and is disabled")
}

func TestRecordRefusesToReviveATombstone(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "disk.img"), "reproducible")
	img := release("web", "1.0.0", a)
	id := mustRecord(t, b, img)
	for _, act := range []lifecycle.Action{lifecycle.ActionDeprecate, lifecycle.ActionDisable} {
		mustApply(t, b, decision(id, act))
	}
	d := decision(id, lifecycle.ActionDeregister)
	d.DeleteSnapshots = true
	mustApply(t, b, d)
	// A byte-identical rebuild gets the same id: it must not silently
	// become (and stay) the tombstone.
	writeFile(t, a, "reproducible")
	contains(t, recordErr(b, img, false), id+" already exists and is deregistered")
	if e := entry(t, b, id); e.Stage != lifecycle.StageDeregistered || len(e.History) != 4 {
		t.Fatalf("tombstone changed: %+v", e)
	}
}

func TestRecordRejectsMissingFile(t *testing.T) {
	b, root := setup(t)
	err := recordErr(b, release("web", "1", filepath.Join(root, "out", "nope.img")), false)
	contains(t, err, "nope.img", "does not exist")
	if _, statErr := os.Stat(b.Catalog().Dir()); statErr == nil {
		t.Fatal("failed Record created the catalog dir")
	}
}

func TestConcurrentWriterProcesses(t *testing.T) {
	root := t.TempDir()
	var cmds []*exec.Cmd
	for i := 0; i < 10; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = helperCmdEnv(root, "record", "LOCAL_HELPER_N="+strconv.Itoa(i))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("helper %d stderr: %s", i, stderr.String())
			}
		})
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("helper %d: %v", i, err)
		}
	}
	b := New(filepath.Join(root, DefaultDir), stepClock())
	if got := versions(list(t, b, "fam")); len(got) != 10 {
		t.Fatalf("%d releases listed, want 10: %v", len(got), got)
	}
}

func TestConcurrentWriterGoroutines(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, DefaultDir)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		f := writeFile(t, filepath.Join(root, "out", strconv.Itoa(i)+".img"), "release "+strconv.Itoa(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A Backend each: the flock is per open file, so goroutines
			// exclude each other exactly like processes do.
			errs <- recordErr(New(dir, stepClock()), release("fam", "1.0."+strconv.Itoa(i), f), false)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(list(t, New(dir, nil), "fam")); n != 10 {
		t.Fatalf("%d releases listed, want 10", n)
	}
}

func TestKilledWriterLeavesReadableCatalog(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = helperCmdEnv(root, "loop")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// While writes complete, read the catalog without any lock, as a
	// careless tool would: every read must parse (rename is atomic). Then
	// kill the writer, most likely in the middle of the next write.
	acked := make(chan struct{}, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			acked <- struct{}{}
		}
		close(acked)
	}()
	seen, reads := 0, 0
	path := filepath.Join(root, DefaultDir, catalogName)
	for seen < 20 {
		select {
		case _, ok := <-acked:
			if !ok {
				t.Fatalf("helper stopped after %d writes", seen)
			}
			seen++
		default:
			data, err := os.ReadFile(path)
			if err == nil {
				reads++
				var doc Document
				if err := json.Unmarshal(data, &doc); err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("lock-free reader saw a half-written catalog (%d bytes): %v", len(data), err)
				}
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	t.Logf("%d writes acknowledged, %d lock-free reads", seen, reads)

	b := New(filepath.Join(root, DefaultDir), stepClock())
	got := versions(list(t, b, "fam"))
	if len(got) < seen {
		t.Fatalf("%d releases, but %d writes were acknowledged", len(got), seen)
	}
	for i, v := range got { // a prefix of the writes, in order
		if v != "1.0."+strconv.Itoa(i) {
			t.Fatalf("release %d is %s: not a prefix of the writes: %v", i, v, got)
		}
	}
	// The next writer cleans up after the killed one and succeeds.
	f := writeFile(t, filepath.Join(root, "out", "after.img"), "after")
	mustRecord(t, b, release("fam", "2.0.0", f))
	if tmps, _ := filepath.Glob(filepath.Join(b.Catalog().Dir(), tmpPattern)); len(tmps) != 0 {
		t.Fatalf("stale temp files left: %v", tmps)
	}
	if n := len(list(t, b, "fam")); n != len(got)+1 {
		t.Fatalf("%d releases after recovery, want %d", n, len(got)+1)
	}
}

func TestCorruptCatalog(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	id := mustRecord(t, b, release("web", "1.0.0", a))
	mustApply(t, b, decision(id, lifecycle.ActionDeprecate)) // so a .bak exists
	if _, err := os.Stat(b.Catalog().Path() + ".bak"); err != nil {
		t.Fatalf("no backup kept: %v", err)
	}

	// Line 3 gets a stray character.
	good, _ := os.ReadFile(b.Catalog().Path())
	lines := bytes.SplitAfterN(good, []byte("\n"), 3)
	bad := bytes.Join([][]byte{lines[0], lines[1], []byte("  #"), lines[2]}, nil)
	if err := os.WriteFile(b.Catalog().Path(), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	b2 := writeFile(t, filepath.Join(root, "out", "b.img"), "b")

	checks := map[string]error{
		"Record": recordErr(b, release("web", "2.0.0", b2), false),
		"Apply":  applyOne(context.Background(), b, decision(id, lifecycle.ActionDisable), false),
		"DryRun": applyOne(context.Background(), b, decision(id, lifecycle.ActionDisable), true),
	}
	_, checks["List"] = listImages(context.Background(), b, backend.Query{Family: "web"})
	for name, err := range checks {
		t.Run(name, func(t *testing.T) {
			contains(t, err, b.Catalog().Path(), "line 3, column 3", "catalog.json.bak")
		})
	}
	after, _ := os.ReadFile(b.Catalog().Path())
	if !bytes.Equal(after, bad) {
		t.Fatal("corrupt catalog was modified")
	}
	assertExists(t, a, "a") // Apply did not move the file either

	// Truncation (a writer without temp+rename) is reported too.
	os.WriteFile(b.Catalog().Path(), good[:len(good)/2], 0o644)
	_, err := listImages(context.Background(), b, backend.Query{Family: "web"})
	contains(t, err, "is corrupt", "unexpected end of JSON input")

	// A catalog from a newer plugin is refused, not rewritten.
	os.WriteFile(b.Catalog().Path(), []byte(`{"schema": 2, "entries": []}`), 0o644)
	contains(t, recordErr(b, release("web", "2.0.0", b2), false), "schema 2")
}

func TestLockWaitHonorsContext(t *testing.T) {
	b, root := setup(t)
	a := writeFile(t, filepath.Join(root, "out", "a.img"), "a")
	mustRecord(t, b, release("web", "1.0.0", a))
	// Another "process" holds the write lock.
	f := flock.New(filepath.Join(b.Catalog().Dir(), lockName), flock.SetFlag(os.O_RDWR))
	if err := f.Lock(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := listImages(ctx, b, backend.Query{Family: "web"})
	contains(t, err, "waiting for lock", "context canceled")
	f.Unlock()
	if n := len(list(t, b, "web")); n != 1 {
		t.Fatalf("after release: %d", n)
	}
}
