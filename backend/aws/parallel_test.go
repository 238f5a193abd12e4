package aws

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
)

// barrier holds the first n requests until all n are in flight together;
// one that waits in vain fails. Later requests pass.
type barrier struct {
	next http.RoundTripper
	n    int
	mu   sync.Mutex
	seen int
	all  chan struct{}
	vain bool // a request waited in vain
}

func (b *barrier) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.seen++
	if b.seen == b.n {
		close(b.all)
	}
	wait := b.seen <= b.n
	b.mu.Unlock()
	if wait {
		select {
		case <-b.all:
		case <-time.After(10 * time.Second):
			b.mu.Lock()
			b.vain = true
			b.mu.Unlock()
			return nil, errors.New("barrier: the other regions never came")
		}
	}
	return b.next.RoundTrip(r)
}

// TestEveryRegionIsWorkedOnAtOnceByDefault: each region has EC2 request
// buckets of its own, so by default no region waits for another: a List
// over five regions has all five in flight together.
func TestEveryRegionIsWorkedOnAtOnceByDefault(t *testing.T) {
	f := newFixture(t, Options{})
	regions := []string{"ap-southeast-2", "eu-central-1", "eu-west-1", "us-east-1", "us-west-2"}
	cfg := f.config("us-east-1", "AKIDOWNER")
	bar := &barrier{next: f.tr, n: len(regions), all: make(chan struct{})}
	cfg.HTTPClient = &http.Client{Transport: bar}
	be := f.backend(Options{Config: cfg, Regions: regions})
	l, err := be.List(f.ctx, backend.Query{Family: "web"})
	require.NoError(t, err)
	require.Empty(t, l.Failed)
	require.False(t, bar.vain, "every region is listed while the others are in flight")
}
