package local

import (
	"context"
	"fmt"
)

// ReleaseFile is one artifact file of a release, where a template can read it.
type ReleaseFile struct {
	Abs    string // absolute path at its recorded place
	Size   int64
	SHA256 string
}

// Release is a live entry with its files.
type Release struct {
	ID    string
	Files []ReleaseFile
}

// Release describes a live catalog entry's files for the data source. An
// entry that is retired or has files in quarantine is an error: its files
// are not where the catalog recorded them.
func (b *Backend) Release(ctx context.Context, id string) (Release, error) {
	if b.err != nil {
		return Release{}, b.err
	}
	doc, err := b.cat.Read(ctx)
	if err != nil {
		return Release{}, err
	}
	e := doc.find(id)
	if e == nil {
		return Release{}, fmt.Errorf("local catalog: no release %s", id)
	}
	r := Release{ID: id}
	for _, f := range e.Files {
		if f.Deleted || f.Quarantined != "" {
			return Release{}, fmt.Errorf("local catalog: release %s is %s: %s is not in place", id, e.Stage, f.Path)
		}
		r.Files = append(r.Files, ReleaseFile{Abs: b.cat.absPath(f.Path), Size: f.Size, SHA256: f.SHA256})
	}
	return r, nil
}
