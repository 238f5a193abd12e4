package gceemu

import (
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/api/compute/v1"
)

// DefaultProjects are the projects New knows unless WithProjects says otherwise.
var DefaultProjects = []string{"lifecycle-test", "lifecycle-other"}

// DefaultZones are the zones New serves unless WithZones says otherwise.
var DefaultZones = []string{"us-central1-a", "us-central1-b", "europe-west1-b"}

// Server is the emulator.
type Server struct {
	mu       sync.Mutex
	clock    Clock
	base     string // e.g. http://127.0.0.1:PORT/
	projects map[string]*project
	order    []string // project ids in WithProjects order
	zones    []string
	polls    int
	token    string
	nextID   uint64
	opSeq    uint64
	rng      *rand.Rand
	denied   map[string]bool // project + "|" + method

	faultMu   sync.Mutex
	faults    []Fault
	faultHits []int
	quotas    *Quotas
	windows   map[string]*window // project|class -> requests in the current minute
	calls     map[string]map[string]int
	journal   []Call
}

type project struct {
	id        string
	number    uint64
	images    map[string]*compute.Image
	labelGen  map[string]int // resource key -> label generation, for fingerprints
	policies  map[string]*compute.Policy
	disks     map[string]map[string]*compute.Disk                 // zone -> name
	instances map[string]map[string]*compute.Instance             // zone -> name
	templates map[string]map[string]*compute.InstanceTemplate     // "" (global) or region -> name
	igms      map[string]map[string]*compute.InstanceGroupManager // zone or region -> name
	ops       map[string]*opState
	requests  map[string]string // method|requestId -> operation name
}

func newProject(id string, number uint64) *project {
	return &project{id: id, number: number, images: map[string]*compute.Image{}, labelGen: map[string]int{},
		policies: map[string]*compute.Policy{}, disks: map[string]map[string]*compute.Disk{},
		instances: map[string]map[string]*compute.Instance{}, templates: map[string]map[string]*compute.InstanceTemplate{},
		igms: map[string]map[string]*compute.InstanceGroupManager{}, ops: map[string]*opState{}, requests: map[string]string{}}
}

// Option configures New.
type Option func(*Server)

// WithClock sets the clock (default: the real clock).
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithProjects sets the known projects (default DefaultProjects); others answer 404.
func WithProjects(ids ...string) Option {
	return func(s *Server) { s.order = append([]string(nil), ids...) }
}

// WithZones sets the zones (default DefaultZones); regions are derived from them.
func WithZones(zones ...string) Option {
	return func(s *Server) { s.zones = append([]string(nil), zones...) }
}

// WithOperationPolls makes every operation answer RUNNING to its first n gets before
// DONE (default 0: operations are DONE at once). wait always answers DONE, as GCE's
// wait blocks until the operation is done.
func WithOperationPolls(n int) Option { return func(s *Server) { s.polls = n } }

// WithQuotas turns on per-minute, per-project request quotas.
func WithQuotas(q Quotas) Option { return func(s *Server) { s.quotas = &q } }

// WithRequireToken refuses requests whose Authorization is not "Bearer tok" with 401.
func WithRequireToken(tok string) Option { return func(s *Server) { s.token = tok } }

// WithBaseURL sets the base URL selfLinks use before Listen (Listen sets it otherwise).
func WithBaseURL(u string) Option {
	return func(s *Server) { s.base = strings.TrimSuffix(u, "/") + "/" }
}

// WithSeed seeds the fault-injection random source (default 1).
func WithSeed(seed int64) Option { return func(s *Server) { s.rng = rand.New(rand.NewSource(seed)) } }

// New returns an emulator with empty projects.
func New(opts ...Option) *Server {
	s := &Server{clock: realClock{}, base: "http://gceemu.invalid/", order: DefaultProjects, zones: DefaultZones,
		nextID: 1000000000000000000, rng: rand.New(rand.NewSource(1)), denied: map[string]bool{},
		windows: map[string]*window{}, calls: map[string]map[string]int{}}
	for _, o := range opts {
		o(s)
	}
	s.projects = map[string]*project{}
	for i, id := range s.order {
		s.projects[id] = newProject(id, uint64(100000000000+i))
	}
	return s
}

// Listen serves the emulator on addr (e.g. 127.0.0.1:0) and returns its base URL,
// "http://127.0.0.1:PORT/". Clients use option.WithEndpoint(baseURL+"compute/v1/").
func (s *Server) Listen(addr string) (baseURL string, closeFn func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	baseURL = fmt.Sprintf("http://%s/", ln.Addr().String())
	s.mu.Lock()
	s.base = baseURL
	s.mu.Unlock()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return baseURL, srv.Close, nil
}

// SetBaseURL changes the base URL of selfLinks made from now on (for httptest servers).
func (s *Server) SetBaseURL(u string) {
	s.mu.Lock()
	s.base = strings.TrimSuffix(u, "/") + "/"
	s.mu.Unlock()
}

// BaseURL is the base URL selfLinks are made from.
func (s *Server) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// Handler serves the API under /compute/v1/, batches under /batch/compute/v1 and the
// admin hooks under /_emu/.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Now is the emulator clock's time.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	c := s.clock
	s.mu.Unlock()
	return c.Now()
}

// FakeClock returns the clock if it is a *FakeClock, installing one at the current
// time otherwise, so admin hooks can always move time.
func (s *Server) FakeClock() *FakeClock {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fc, ok := s.clock.(*FakeClock); ok {
		return fc
	}
	fc := NewFakeClock(s.clock.Now())
	s.clock = fc
	return fc
}

// Projects lists the known project ids.
func (s *Server) Projects() []string { return append([]string(nil), s.order...) }

// Zones lists the served zones.
func (s *Server) Zones() []string { return append([]string(nil), s.zones...) }

// Regions lists the regions of the served zones, sorted.
func (s *Server) Regions() []string {
	seen := map[string]bool{}
	var out []string
	for _, z := range s.zones {
		r := regionOf(z)
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func regionOf(zone string) string {
	if i := strings.LastIndex(zone, "-"); i > 0 {
		return zone[:i]
	}
	return zone
}

func (s *Server) hasZone(z string) bool {
	for _, x := range s.zones {
		if x == z {
			return true
		}
	}
	return false
}

func (s *Server) hasRegion(r string) bool {
	for _, x := range s.Regions() {
		if x == r {
			return true
		}
	}
	return false
}

// newID allocates a resource id; callers hold s.mu.
func (s *Server) newID() uint64 {
	s.nextID += 7919
	return s.nextID
}

// link is the selfLink of a project-relative path; callers hold s.mu.
func (s *Server) link(project, rel string) string {
	return s.base + "compute/v1/projects/" + project + "/" + rel
}

// relPath is the "projects/p/..." form GCE uses in error messages.
func relPath(project, rel string) string { return "projects/" + project + "/" + rel }
