package gcp

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	compute "google.golang.org/api/compute/v1"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/gceemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

const (
	project = "lifecycle-test"
	other   = "lifecycle-other"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// clockFunc lets the emulator read the test's clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// emu is an in-process Compute Engine emulator, a transport that can break
// chosen requests, and backends talking to it.
type emu struct {
	t   *testing.T
	s   *gceemu.Server
	url string
	tr  *breaker
	now func() time.Time
}

func newEmu(t *testing.T, now func() time.Time) *emu {
	s := gceemu.New(gceemu.WithClock(clockFunc(now)), gceemu.WithProjects(project, other))
	url, closeFn, err := s.Listen("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeFn() })
	return &emu{t: t, s: s, url: url, tr: &breaker{next: http.DefaultTransport}, now: now}
}

// backend is a backend on the emulator whose retries do not sleep.
func (e *emu) backend(opts Options) *Backend {
	if opts.Projects == nil {
		opts.Projects = []string{project}
	}
	opts.Client = Client{
		HTTPClient: &http.Client{Transport: &Retrying{Next: e.tr, Attempts: 4, Sleep: noSleep}},
		Endpoint:   e.url + "compute/v1/",
	}
	be, err := New(context.Background(), opts, e.now)
	require.NoError(e.t, err)
	return be
}

// image seeds a READY image as a build leaves it (no lifecycle labels).
func (e *emu) image(p, name string, labels map[string]string) *compute.Image {
	return e.s.PutImage(p, &compute.Image{Name: name, Labels: labels, ArchiveSizeBytes: 3 << 30, DiskSizeGb: 10})
}

// built is what NewReleases makes of a googlecompute artifact for name.
func (e *emu) built(be *Backend, p, name, family, version string) lifecycle.Image {
	imgs, err := be.NewReleases(fakeArtifact{id: name, text: "A disk image was created in the '" + p + "' project: " + name},
		lifecycle.Image{Family: family, Version: version, Channel: "stable", ReleasedAt: e.now().Truncate(time.Second)})
	require.NoError(e.t, err)
	require.Len(e.t, imgs, 1)
	return imgs[0]
}

// imageName is a Compute Engine name for a family's version.
func imageName(family, version string) string {
	return family + "-" + strings.NewReplacer(".", "-", "+", "-").Replace(version)
}

// breaker fails requests that match a rule with a 503, without the
// emulator seeing them.
type breaker struct {
	next  http.RoundTripper
	mu    sync.Mutex
	rules []func(r *http.Request) bool
}

func (b *breaker) breakWhen(f func(r *http.Request) bool) {
	b.mu.Lock()
	b.rules = append(b.rules, f)
	b.mu.Unlock()
}

func (b *breaker) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	rules := b.rules
	b.mu.Unlock()
	for _, f := range rules {
		if f(r) {
			return &http.Response{StatusCode: 403, Status: "403 Forbidden", Header: http.Header{"Content-Type": {"application/json"}},
				Body: http.NoBody, Request: r}, nil
		}
	}
	return b.next.RoundTrip(r)
}
