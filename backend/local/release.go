package local

import (
	"context"
	"fmt"
	"os"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Files describes a release's files for the data source. It fails unless
// the entry is a live release (not pending, not retired) whose every file
// is at its recorded path with its recorded size: a template must never
// start from a release whose files are gone.
func (b *Backend) Files(ctx context.Context, ref lifecycle.Ref) ([]backend.File, error) {
	doc, err := b.read(ctx)
	if err != nil {
		return nil, err
	}
	e := doc.find(ref.ID)
	switch {
	case e == nil || ref.Region != Region:
		return nil, fmt.Errorf("local catalog: no release %s", ref)
	case e.Pending:
		return nil, fmt.Errorf("local catalog: release %s is pending: the run that recorded it has not finished", ref.ID)
	case !e.live():
		return nil, fmt.Errorf("local catalog: release %s is %s", ref.ID, e.Stage)
	}
	out := make([]backend.File, 0, len(e.Files))
	for _, f := range e.Files {
		if f.Deleted || f.Quarantined != "" {
			return nil, fmt.Errorf("local catalog: release %s is %s: %s is not in place", ref.ID, e.Stage, f.Path)
		}
		abs := b.cat.absPath(f.Path)
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("local catalog: release %s: its file %w", ref.ID, err)
		}
		if !fi.Mode().IsRegular() || fi.Size() != f.Size {
			return nil, fmt.Errorf("local catalog: release %s: %s is not the recorded file (size %d, recorded %d)", ref.ID, abs, fi.Size(), f.Size)
		}
		out = append(out, backend.File{Path: abs, Size: f.Size, SHA256: f.SHA256})
	}
	return out, nil
}
