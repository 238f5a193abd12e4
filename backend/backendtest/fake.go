package backendtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Fake is an in-memory backend for unit tests of the shell. It keeps the
// contract (it passes Run itself), records every call, and fails what a
// test tells it to.
type Fake struct {
	mu     sync.Mutex
	Now    func() time.Time
	Images map[lifecycle.Ref]lifecycle.Image
	Uses   lifecycle.Usage
	// Fail makes an operation ("record", "apply", "forget", "list",
	// "usage") fail for a ref (the zero Ref: for every item).
	Fail map[string]map[lifecycle.Ref]error
	// FailedRegions are reported as failed by List, with nothing listed.
	FailedRegions map[string]error
	// Calls counts calls per operation; Applied lists what Apply carried
	// out (dry runs excluded), in order.
	Calls   map[string]int
	Applied []lifecycle.Decision
	// Batches lists every batch Apply was given, context included.
	Batches [][]lifecycle.Decision
	// Regions a build produces an image in (default: "fake").
	Regions []string
	// crash makes the next action fail after it was carried out.
	crash bool
	seq   int
}

var _ backend.Backend = (*Fake)(nil)

// NewFake returns an empty fake whose clock is now.
func NewFake(now func() time.Time) *Fake {
	return &Fake{Now: now, Images: map[lifecycle.Ref]lifecycle.Image{}, Uses: lifecycle.Usage{},
		Fail: map[string]map[lifecycle.Ref]error{}, FailedRegions: map[string]error{}, Calls: map[string]int{}}
}

// FailOn makes op fail for ref (the zero Ref: every item).
func (f *Fake) FailOn(op string, ref lifecycle.Ref, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail[op] == nil {
		f.Fail[op] = map[lifecycle.Ref]error{}
	}
	f.Fail[op][ref] = err
}

func (f *Fake) failure(op string, ref lifecycle.Ref) error {
	if err := f.Fail[op][ref]; err != nil {
		return err
	}
	return f.Fail[op][lifecycle.Ref{}]
}

func (f *Fake) Name() string { return "fake" }

// NewReleases makes one image per region (Regions, default "fake"), each
// holding the artifact's files.
func (f *Fake) NewReleases(a packersdk.Artifact, release lifecycle.Image) ([]lifecycle.Image, error) {
	if len(a.Files()) == 0 {
		return nil, errors.New("fake: no files")
	}
	regions := f.Regions
	if len(regions) == 0 {
		regions = []string{"fake"}
	}
	var out []lifecycle.Image
	for _, r := range regions {
		img := release
		img.Region, img.Snapshots = r, slices.Clone(a.Files())
		out = append(out, img)
	}
	return out, nil
}

func (f *Fake) List(ctx context.Context, q backend.Query) (backend.Listing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls["list"]++
	if err := f.failure("list", lifecycle.Ref{}); err != nil {
		return backend.Listing{}, err
	}
	var l backend.Listing
	for region, err := range f.FailedRegions {
		l.Failed = append(l.Failed, backend.RegionError{Region: region, Err: err})
	}
	for _, ref := range f.sortedRefs() {
		img := f.Images[ref]
		if !q.Matches(img) || f.FailedRegions[img.Region] != nil {
			continue
		}
		if img.Stage == lifecycle.StageDeregistered {
			continue
		}
		l.Images = append(l.Images, img)
	}
	return l, nil
}

func (f *Fake) sortedRefs() []lifecycle.Ref {
	refs := slices.Collect(maps.Keys(f.Images))
	slices.SortFunc(refs, func(a, b lifecycle.Ref) int { return strings.Compare(a.String(), b.String()) })
	return refs
}

func (f *Fake) Usage(ctx context.Context, images []lifecycle.Image) lifecycle.Usage {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls["usage"]++
	u := lifecycle.Usage{}
	for _, img := range images {
		if err := f.failure("usage", img.Ref()); err != nil {
			u[img.Ref()] = append(u[img.Ref()], lifecycle.Consumer{Kind: lifecycle.ConsumerUnknown, ID: err.Error()})
		}
		u[img.Ref()] = append(u[img.Ref()], f.Uses[img.Ref()]...)
	}
	return u
}

func (f *Fake) Record(ctx context.Context, images []lifecycle.Image, dryRun bool) []backend.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls["record"]++
	out := make([]backend.Result, len(images))
	for i, img := range images {
		if img.ID == "" {
			f.seq++
			img.ID = fmt.Sprintf("img-%s-%s-%d", img.Family, img.Version, f.seq)
			for _, old := range f.Images { // the same build again keeps its id
				if old.Region == img.Region && old.Family == img.Family && old.Version == img.Version && slices.Equal(old.Snapshots, img.Snapshots) {
					img.ID = old.ID
				}
			}
		}
		out[i] = backend.Result{Ref: img.Ref(), Image: img}
		if err := f.failure("record", img.Ref()); err != nil {
			out[i].Err = err
			continue
		}
		old, ok := f.Images[img.Ref()]
		if ok && old.State == img.State {
			out[i].Image = old
			continue
		}
		out[i].Changed = true
		if !dryRun {
			f.Images[img.Ref()] = img
		}
	}
	return out
}

func (f *Fake) Apply(ctx context.Context, ds []lifecycle.Decision, dryRun bool) []backend.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls["apply"]++
	f.Batches = append(f.Batches, slices.Clone(ds))
	out := make([]backend.Result, len(ds))
	now := f.Now()
	for i, d := range ds {
		out[i] = backend.Result{Ref: d.Image.Ref(), Image: d.Image}
		if !d.Action.Mutates() {
			continue
		}
		if err := ctx.Err(); err != nil {
			out[i].Err = err
			continue
		}
		cur, ok := f.Images[d.Image.Ref()]
		if !ok {
			out[i].Err = fmt.Errorf("fake: no image %s", d.Image.Ref())
			continue
		}
		if err := f.failure("apply", d.Image.Ref()); err != nil {
			out[i].Err = err
			continue
		}
		err := lifecycle.CheckTransition(cur, d, f.Uses[cur.Ref()], now)
		switch {
		case errors.Is(err, lifecycle.ErrAlreadyDone):
			if lifecycle.MarkerOnly(cur, d) {
				out[i].Changed = true
				if !dryRun {
					cur.SupersededBy = d.SupersededBy
					f.Images[cur.Ref()] = cur
					f.Applied = append(f.Applied, d)
				}
				continue
			}
			if cur.Stage != d.Target() && !dryRun {
				f.Images[cur.Ref()] = lifecycle.Apply(cur, d, now)
				out[i].Changed = true
			}
			continue
		case err != nil:
			out[i].Err = err
			continue
		}
		out[i].Changed = true
		if dryRun {
			continue
		}
		done := lifecycle.Apply(cur, d, now)
		if f.crash { // the action happened, its stage record did not
			f.crash = false
			done.Stage, done.StageSince = cur.Stage, cur.StageSince
			f.Images[cur.Ref()] = done
			out[i].Err, out[i].Changed = errors.New("fake: crashed before the stage record"), false
			continue
		}
		f.Images[cur.Ref()] = done
		f.Applied = append(f.Applied, d)
	}
	return out
}

func (f *Fake) Forget(ctx context.Context, refs []lifecycle.Ref) []backend.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls["forget"]++
	out := make([]backend.Result, len(refs))
	for i, ref := range refs {
		out[i].Ref = ref
		if err := f.failure("forget", ref); err != nil {
			out[i].Err = err
			continue
		}
		if img, ok := f.Images[ref]; ok && img.State == backend.StatePending {
			delete(f.Images, ref)
			out[i].Changed = true
		}
	}
	return out
}

// FakeHarness runs the conformance suite on the fake itself.
func FakeHarness() Harness {
	return Harness{
		New: func(t *testing.T, now func() time.Time) backend.Backend { return NewFake(now) },
		Build: func(t *testing.T, be backend.Backend, family, version string) lifecycle.Image {
			imgs, err := be.NewReleases(&packersdk.MockArtifact{FilesValue: []string{family + "-" + version + ".img"}},
				lifecycle.Image{Family: family, Version: version, Channel: "stable", BuildTime: t0, Managed: true,
					Stage: lifecycle.StageActive, State: lifecycle.StateAvailable})
			if err != nil {
				t.Fatal(err)
			}
			return imgs[0]
		},
		Crash: func(t *testing.T, be backend.Backend) { be.(*Fake).crash = true },
		BreakUsage: func(t *testing.T, be backend.Backend, img lifecycle.Image) {
			be.(*Fake).FailOn("usage", img.Ref(), errors.New("lookup failed"))
		},
		BreakListing: func(t *testing.T, be backend.Backend) {
			be.(*Fake).FailedRegions["fake"] = errors.New("region down")
		},
	}
}
