package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stepClock advances one minute per call so history times are distinct and
// deterministic.
func stepClock() func() time.Time {
	n := 0
	return func() time.Time { n++; return t0.Add(time.Duration(n) * time.Minute) }
}

// setup returns a backend whose artifact root is a fresh temp dir, with the
// catalog in <root>/.packer-lifecycle (the default layout).
func setup(t *testing.T) (*Backend, string) {
	t.Helper()
	root := t.TempDir()
	return New(filepath.Join(root, DefaultDir), stepClock()), root
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func release(family, version string, files ...string) lifecycle.Image {
	return lifecycle.Image{
		Family: family, Version: version, Channel: "stable", Name: family + "-" + version,
		BuildTime: t0, Snapshots: files, Tags: map[string]string{"os": "debian"},
	}
}

func decision(id string, a lifecycle.Action) lifecycle.Decision {
	return lifecycle.Decision{Image: lifecycle.Image{ID: id}, Action: a, Reason: "test " + string(a)}
}

func mustRecord(t *testing.T, b *Backend, img lifecycle.Image) string {
	t.Helper()
	require.NoError(t, recordErr(b, img, false), "Record")
	files, err := b.describeFiles(img.Snapshots)
	require.NoError(t, err)
	if img.ID != "" {
		return img.ID
	}
	return makeID(img, files)
}

func mustApply(t *testing.T, b *Backend, d lifecycle.Decision) {
	t.Helper()
	require.NoError(t, applyOne(context.Background(), b, d, false), "Apply %s", d.Action)
}

func entry(t *testing.T, b *Backend, id string) Entry {
	t.Helper()
	doc, err := b.Catalog().Read(context.Background())
	require.NoError(t, err)
	e := doc.find(id)
	require.NotNil(t, e, "entry %s not in catalog", id)
	return *e
}

func list(t *testing.T, b *Backend, family string) []lifecycle.Image {
	t.Helper()
	imgs, err := listImages(context.Background(), b, backend.Query{Family: family})
	require.NoError(t, err)
	return imgs
}

func assertExists(t *testing.T, path string, content string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err, "expected %s", path)
	require.Equal(t, content, string(data), "content of %s", path)
}

func assertGone(t *testing.T, path string) {
	t.Helper()
	_, err := os.Lstat(path)
	require.Error(t, err, "%s still exists", path)
}

// tree is a snapshot of everything under dir: kind, mode, size, mtime,
// content hash and link target, so that any change on disk shows.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			v += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + sha(string(data))
		}
		out[p] = v
		return nil
	})
	require.NoError(t, err)
	return out
}

func assertSameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, v := range before {
		assert.Equal(t, v, after[p], "changed: %s", p)
	}
	for p := range after {
		_, ok := before[p]
		assert.True(t, ok, "created: %s", p)
	}
}

// editCatalog rewrites catalog.json by hand, the way a user or an attacker
// could, bypassing every check of the package.
func editCatalog(t *testing.T, b *Backend, fn func(*Document)) {
	t.Helper()
	data, err := os.ReadFile(b.Catalog().Path())
	require.NoError(t, err)
	var doc Document
	require.NoError(t, json.Unmarshal(data, &doc))
	fn(&doc)
	data, _ = json.MarshalIndent(&doc, "", "  ")
	require.NoError(t, os.WriteFile(b.Catalog().Path(), data, 0o644))
}

// TestHelperProcess is not a test: the subprocess tests re-exec the test
// binary into it (the os/exec pattern) to get real concurrent processes.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("LOCAL_HELPER_MODE")
	if mode == "" {
		return
	}
	root := os.Getenv("LOCAL_HELPER_ROOT")
	b := New(filepath.Join(root, DefaultDir), time.Now)
	rec := func(i int) {
		v := "1.0." + strconv.Itoa(i)
		f := writeFile(t, filepath.Join(root, "out", os.Getenv("LOCAL_HELPER_PREFIX")+v+".img"), "release "+v)
		img := release("fam", v, f)
		// Bulk makes each write take long enough for readers and the kill
		// to land in the middle of one.
		img.Tags["bulk"] = strings.Repeat("x", 16<<10)
		if err := recordErr(b, img, false); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	switch mode {
	case "record":
		n, _ := strconv.Atoi(os.Getenv("LOCAL_HELPER_N"))
		rec(n)
	case "loop":
		for i := 0; ; i++ {
			rec(i)
			fmt.Println(i) // tells the parent a write completed
		}
	}
	os.Exit(0)
}

func helperCmdEnv(root, mode string, extra ...string) []string {
	return append(append(os.Environ(), "LOCAL_HELPER_MODE="+mode, "LOCAL_HELPER_ROOT="+root), extra...)
}

func versions(imgs []lifecycle.Image) []string {
	var v []string
	for _, i := range imgs {
		v = append(v, i.Version)
	}
	return v
}

func contains(t *testing.T, err error, parts ...string) {
	t.Helper()
	require.Error(t, err, "expected an error containing %q", parts)
	for _, p := range parts {
		require.ErrorContains(t, err, p)
	}
}

// recordErr records and keeps only the error, for tests about refusals.
func recordErr(b *Backend, img lifecycle.Image, dryRun bool) error {
	_, err := recordOne(context.Background(), b, img, dryRun)
	return err
}

// Single-item forms of the batch methods, for tests about one image.

// applyOne carries one decision out. A decision built by hand (decision())
// names only an id: it is completed with the entry as it is now, as if a
// plan had just been made from it.
func applyOne(ctx context.Context, b *Backend, d lifecycle.Decision, dryRun bool) error {
	return b.Apply(ctx, []lifecycle.Decision{current(b, d)}, dryRun)[0].Err
}

func current(b *Backend, d lifecycle.Decision) lifecycle.Decision {
	if d.Image.Family == "" {
		if doc, err := b.Catalog().Read(context.Background()); err == nil {
			if e := doc.find(d.Image.ID); e != nil {
				pinned, protected := d.Image.Pinned, d.Image.Protected
				d.Image = b.cat.current(e)
				d.Image.Pinned, d.Image.Protected = d.Image.Pinned || pinned, d.Image.Protected || protected
			}
		}
		d.Image.Region = Region
	}
	return d
}

func recordOne(ctx context.Context, b *Backend, img lifecycle.Image, dryRun bool) (lifecycle.Image, error) {
	r := b.Record(ctx, []lifecycle.Image{img}, dryRun)[0]
	return r.Image, r.Err
}

func listImages(ctx context.Context, b *Backend, q backend.Query) ([]lifecycle.Image, error) {
	l, err := b.List(ctx, q)
	return l.Images, err
}

// usageOf keeps the two-value shape of the tests; Usage itself fails closed.
func usageOf(ctx context.Context, b *Backend, imgs []lifecycle.Image) (lifecycle.Usage, error) {
	return b.Usage(ctx, imgs), nil
}
