package local

import (
	"context"
	"fmt"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

var _ backend.Pinner = (*Backend)(nil)

// Pin pins (or unpins) existing releases in one catalog transaction, with a
// history event each: pin_releases and unpin_releases in a sweep. Only live
// entries with our managed-by marker are pinned; pinning what is pinned
// changes nothing. With dryRun it checks and writes nothing.
func (b *Backend) Pin(ctx context.Context, images []lifecycle.Image, pin, dryRun bool) []backend.Result {
	results := make([]backend.Result, len(images))
	for i, img := range images {
		results[i].Ref, results[i].Image = img.Ref(), img
	}
	now := b.now()
	run := func(doc *Document) error {
		for i, img := range images {
			e := doc.find(img.ID)
			switch {
			case e == nil || img.Region != Region:
				results[i].Err = fmt.Errorf("local catalog: pin %s: no such release", img.Ref())
				continue
			case !e.live() || !b.cat.ours(e):
				results[i].Err = fmt.Errorf("local catalog: pin %s: the release is %s, managed by %q", img.Ref(), e.Stage, e.Tags[lifecycle.TagManagedBy])
				continue
			case e.Pinned == pin:
				continue
			}
			results[i].Changed = true
			if dryRun {
				continue
			}
			e.Pinned = pin
			reason := "pinned: kept forever (pin_releases)"
			if !pin {
				reason = "unpinned: the rules apply again (unpin_releases)"
			}
			e.History = append(e.History, Event{Time: now, Action: ActionRecord, Reason: reason, From: e.Stage, To: e.Stage})
			results[i].Image = b.cat.current(e)
		}
		return nil
	}
	var err error
	if b.err != nil {
		err = b.err
	} else if dryRun {
		var doc *Document
		if doc, err = b.cat.Read(ctx); err == nil {
			err = run(doc)
		}
	} else {
		err = b.cat.Update(ctx, run)
	}
	if err != nil {
		for i := range results {
			if results[i].Err == nil {
				results[i].Err, results[i].Changed = err, false
			}
		}
	}
	return results
}
