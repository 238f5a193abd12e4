// Package ec2emu is an in-process and stand-alone emulator of the EC2 Query API, good
// enough for aws-sdk-go-v2, awscli and Packer's amazon plugin to accept it as EC2.
package ec2emu

import (
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultAccount owns requests whose access key was not registered with AddAccount.
const DefaultAccount = "123456789012"

// DefaultRegions is what DescribeRegions lists unless WithRegions says otherwise.
var DefaultRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1",
	"eu-central-1", "ap-southeast-1", "ap-northeast-1",
}

// Server is the emulator; it is an http.Handler.
type Server struct {
	mu            sync.Mutex
	st            *State
	clock         Clock
	defaultRegion string
	regions       []string
	ec2           *service
	autoscaling   *service
	ssm           *service
	rbin          *service
	denied        map[string]bool // account + "/" + action -> unauthorized
	pendingLooks  int
	seed          int64
	launchDelay   time.Duration
	deregVisible  time.Duration
	usageDelay    time.Duration
	reqSeq        uint64
	stsSeq        uint64
	assumed       []AssumeRoleCall
	roles         map[string]Role // role ARN -> trust; none: any role may be assumed

	faultMu    sync.Mutex
	faults     []Fault
	faultHits  []int // requests each fault rule was applied to (for Times)
	rng        *rand.Rand
	limits     *RateLimits
	buckets    map[string]*bucket
	calls      map[string]map[string]int
	byAccount  map[string]map[string]int // account -> "region action" -> calls
	throttled  map[string]map[string]int
	failed     map[string]map[string]int
	journal    []Call
	journalSeq int
	crash      *crashState
	inflight   inFlight

	keyOnce sync.Once
	keyPEM  string
	keyFP   string
}

// Option configures New.
type Option func(*Server)

// WithClock sets the clock (default: the real UTC clock).
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithDefaultRegion sets the region of unsigned requests (default us-east-1).
func WithDefaultRegion(r string) Option { return func(s *Server) { s.defaultRegion = r } }

// WithRegions sets what DescribeRegions reports.
func WithRegions(rs ...string) Option { return func(s *Server) { s.regions = rs } }

// WithSeed seeds the fault-injection random source (default 1) for reproducible runs.
// The seed also orders DescribeImages results, whose order EC2 does not guarantee.
func WithSeed(seed int64) Option {
	return func(s *Server) { s.seed, s.rng = seed, rand.New(rand.NewSource(seed)) }
}

// DefaultLaunchReportDelay is how late lastLaunchedTime follows a launch: EC2 updates
// it "within 24 hours" (EC2 user guide, "Check when an Amazon EC2 AMI was last used").
const DefaultLaunchReportDelay = 24 * time.Hour

// WithLaunchReportDelay sets how long after a launch lastLaunchedTime reports it.
func WithLaunchReportDelay(d time.Duration) Option { return func(s *Server) { s.launchDelay = d } }

// DefaultDeregisteredVisibility is how long a deregistered image is still listed, with
// state deregistered ("recently deregistered images appear in the returned results for
// a short interval", DescribeImages API reference).
const DefaultDeregisteredVisibility = time.Hour

// WithDeregisteredVisibility sets how long deregistered images stay visible.
func WithDeregisteredVisibility(d time.Duration) Option {
	return func(s *Server) { s.deregVisible = d }
}

// WithRateLimits turns on EC2-style token buckets.
func WithRateLimits(l RateLimits) Option { return func(s *Server) { s.SetRateLimits(&l) } }

// WithPendingLooks makes CreateImage and CopyImage images answer "pending" to the first
// n DescribeImages calls that show them, so waiters can be exercised. Default 0: the
// Packer image waiter has a 15 s minimum delay, so images are available at once.
func WithPendingLooks(n int) Option { return func(s *Server) { s.pendingLooks = n } }

// New returns an emulator with empty state.
func New(opts ...Option) *Server {
	s := &Server{
		st:            newState(),
		clock:         realClock{},
		defaultRegion: "us-east-1",
		regions:       DefaultRegions,
		denied:        map[string]bool{},
		rng:           rand.New(rand.NewSource(1)),
		seed:          1,
		launchDelay:   DefaultLaunchReportDelay,
		deregVisible:  DefaultDeregisteredVisibility,
		usageDelay:    DefaultUsageReportDelay,
		buckets:       map[string]*bucket{},
		calls:         map[string]map[string]int{},
		byAccount:     map[string]map[string]int{},
		throttled:     map[string]map[string]int{},
		failed:        map[string]map[string]int{},
	}
	s.ec2, s.autoscaling, s.ssm, s.rbin = ec2Service(), autoscalingService(), ssmService(), rbinService()
	for _, o := range opts {
		o(s)
	}
	return s
}

// Now is the emulator clock's current time.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	c := s.clock
	s.mu.Unlock()
	return c.Now().UTC()
}

// SetClock replaces the clock.
func (s *Server) SetClock(c Clock) {
	s.mu.Lock()
	s.clock = c
	s.mu.Unlock()
}

// FakeClock returns the clock if it is a *FakeClock, installing one at the current time
// otherwise, so admin hooks can always move time.
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

// AccountOf is the account an access key belongs to (DefaultAccount for
// a key it does not know, as the server treats it).
func (s *Server) AccountOf(accessKey string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.st.Accounts[accessKey]; a != "" {
		return a
	}
	return DefaultAccount
}

// AddAccount maps an access key id to an account id (owner id).
func (s *Server) AddAccount(accessKey, accountID string) {
	s.mu.Lock()
	s.st.Accounts[accessKey] = accountID
	s.mu.Unlock()
}

// Listen serves the emulator on addr (e.g. 127.0.0.1:0) and returns its base URL.
func (s *Server) Listen(addr string) (url string, closeFn func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return fmt.Sprintf("http://%s", ln.Addr().String()), srv.Close, nil
}
