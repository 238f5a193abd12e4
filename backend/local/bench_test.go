package local

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
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
