package local

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// BenchmarkRecordIntoCatalog: one Record into a catalog that already holds N
// releases. Every write rewrites catalog.json (temp file, fsync, rename), so
// this is the cost the JSON-file choice pays as a catalog grows.
func BenchmarkRecordIntoCatalog(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			t := &testing.T{}
			root := b.TempDir()
			be := New(filepath.Join(root, DefaultDir), nil)
			f := writeFile(t, filepath.Join(root, "out", "disk.img"), "x")
			err := be.Catalog().Update(context.Background(), func(doc *Document) error {
				for i := range n {
					doc.Entries = append(doc.Entries, Entry{ID: fmt.Sprintf("web-0.%d-0", i), Family: "web",
						Version: fmt.Sprintf("0.%d", i), Channel: "stable", Stage: "active", Managed: true,
						Files: []FileRef{{Path: fmt.Sprintf("out/old-%d.img", i), Size: 1, SHA256: sha("x")}}})
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				img := release("web", fmt.Sprintf("1.%d", i), f)
				img.ID = fmt.Sprintf("web-1.%d", i)
				if _, err := recordOne(context.Background(), be, img, false); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if imgs, _ := listImages(context.Background(), be, backend.Query{Family: "web"}); len(imgs) < n {
				b.Fatalf("catalog lost entries: %d < %d", len(imgs), n)
			}
		})
	}
}

// BenchmarkSweep: a sweep that disables 1,000 releases (their files move to
// quarantine) through the backend as the shell drives it: List, Usage,
// Plan, Apply. One run is one catalog transaction; the goal is
// 1,000 retirements in at most 2 s.
func BenchmarkSweep(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	now := t0.Add(60 * 24 * time.Hour)
	for b.Loop() {
		b.StopTimer()
		root := b.TempDir()
		be := New(filepath.Join(root, DefaultDir), func() time.Time { return now })
		t := &testing.T{}
		err := be.Catalog().Update(ctx, func(doc *Document) error {
			for i := range n + 1 {
				v := fmt.Sprintf("1.%d.0", i)
				p := writeFile(t, filepath.Join(root, "out", v+".img"), v)
				e := Entry{ID: "web-" + v, Family: "web", Version: v, Channel: "stable", Stage: lifecycle.StageDeprecated,
					StageSince: t0, DeprecatedAt: t0, BuildTime: t0.Add(time.Duration(i) * time.Minute), ReleasedAt: t0, Managed: true,
					Files: []FileRef{{Path: p, Size: int64(len(v)), SHA256: sha(v)}}}
				if i == n {
					e.Stage, e.DeprecatedAt = lifecycle.StageActive, time.Time{}
				}
				doc.Entries = append(doc.Entries, e)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		pol := lifecycle.DefaultPolicy()
		pol.KeepReleases = 1
		b.StartTimer()

		l, err := be.List(ctx, backend.Query{Family: "web"})
		if err != nil {
			b.Fatal(err)
		}
		plan := lifecycle.Plan(l.Images, be.Usage(ctx, l.Images), pol, now, nil)
		var todo []lifecycle.Decision
		for _, d := range plan {
			if d.Action.Mutates() {
				todo = append(todo, d)
			}
		}
		done := 0
		for _, r := range be.Apply(ctx, todo, false) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			done++
		}
		if done != n {
			b.Fatalf("%d retirements, want %d", done, n)
		}
	}
	b.ReportMetric(float64(n), "retirements/op")
}
