package armemu

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	mrand "math/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultSubscriptions are the subscriptions New knows unless WithSubscriptions says otherwise.
var DefaultSubscriptions = []string{"00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000b2"}

const (
	// DefaultTenant is the one Entra ID tenant the emulator serves.
	DefaultTenant = "00000000-0000-0000-0000-00000000c0de"
	// DefaultClientID and DefaultClientSecret are the registered app's credentials.
	DefaultClientID     = "00000000-0000-0000-0000-0000000000c1"
	DefaultClientSecret = "emu-secret"
	// CloudName is the cloud's name in the metadata document.
	CloudName = "AzureLifecycleEmu"
)

// msalDiscoveryHost is where MSAL sends instance discovery for an authority host it
// does not know (authority.go: defaultHost). HTTPClient routes it to the emulator.
const msalDiscoveryHost = "login.microsoftonline.com"

// Server is the emulator.
type Server struct {
	mu        sync.Mutex
	clock     Clock
	base      string // https://127.0.0.1:PORT/
	addr      string // the listener, for HTTPClient's discovery-host redirect
	subs      []string
	tenant    string
	clients   map[string]string // client id -> secret
	polls     int
	pageSize  int
	lifetime  time.Duration // of the access tokens issued
	key       []byte        // signs the access tokens
	res       map[string]*entry
	deployOps map[string][]any // deployment id (lower case) -> its operations
	ops       map[string]*operation
	opSeq     uint64
	denied    map[string]bool // scope|action

	caPEM  []byte
	pool   *x509.CertPool
	leaf   tls.Certificate
	client *http.Client

	faultMu     sync.Mutex
	rng         *mrand.Rand
	faults      []Fault
	faultHits   []int
	calls       map[string]int
	journal     []Call
	sshCommands []SSHCommand
	windows     map[string]*window // subscription|class -> requests this hour
}

// Option configures New.
type Option func(*Server)

// WithClock sets the clock (default: the real clock).
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithSubscriptions sets the known subscriptions (default DefaultSubscriptions); others answer 404.
func WithSubscriptions(ids ...string) Option {
	return func(s *Server) { s.subs = append([]string(nil), ids...) }
}

// WithTenant sets the tenant id (default DefaultTenant).
func WithTenant(id string) Option { return func(s *Server) { s.tenant = id } }

// WithClientSecret registers an app's credentials, replacing the default one.
func WithClientSecret(clientID, secret string) Option {
	return func(s *Server) { s.clients = map[string]string{clientID: secret} }
}

// WithOperationPolls makes every long-running operation answer InProgress to its
// first n status GETs before its terminal state (default 0: the change is applied at
// once and the first poll is terminal).
func WithOperationPolls(n int) Option { return func(s *Server) { s.polls = n } }

// WithPageSize sets how many items a list answers before a nextLink (default 50).
func WithPageSize(n int) Option { return func(s *Server) { s.pageSize = n } }

// WithTokenLifetime sets how long issued access tokens live (default 3599s, as Entra
// ID's). Tokens expire per the emulator clock while MSAL caches them per the real
// one, so a test that moves the clock past a token's life gets 401
// ExpiredAuthenticationToken from a cached token; a long lifetime avoids that.
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.lifetime = d } }

// WithSeed seeds the fault-injection random source (default 1).
func WithSeed(seed int64) Option { return func(s *Server) { s.rng = mrand.New(mrand.NewSource(seed)) } }

// New returns an emulator with empty subscriptions and a fresh CA.
func New(opts ...Option) *Server {
	s := &Server{clock: realClock{}, base: "https://armemu.invalid/", subs: DefaultSubscriptions, tenant: DefaultTenant,
		clients: map[string]string{DefaultClientID: DefaultClientSecret}, pageSize: 50, lifetime: tokenLifetime, res: map[string]*entry{}, deployOps: map[string][]any{},
		ops: map[string]*operation{}, denied: map[string]bool{}, rng: mrand.New(mrand.NewSource(1)),
		calls: map[string]int{}, windows: map[string]*window{}}
	for _, o := range opts {
		o(s)
	}
	if s.pageSize <= 0 {
		s.pageSize = 50
	}
	if s.lifetime <= 0 {
		s.lifetime = tokenLifetime
	}
	s.key = make([]byte, 32)
	if _, err := rand.Read(s.key); err != nil {
		panic(err)
	}
	if err := s.makeCerts(); err != nil {
		panic(fmt.Sprintf("armemu: cannot make certificates: %v", err))
	}
	s.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12},
		DialContext:     s.dial,
		// HTTP/1.1 only: LoseAnswer then drops a connection rather than resetting a stream.
		ForceAttemptHTTP2: false,
		Proxy:             nil,
	}}
	return s
}

// makeCerts makes a self-signed CA and a serving certificate for the loopback names
// and MSAL's discovery host. Validity is real time: clients check it against theirs.
func (s *Server) makeCerts() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "armemu test CA", Organization: []string{"packer-plugin-lifecycle"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ = x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", msalDiscoveryHost}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	s.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	s.pool = x509.NewCertPool()
	s.pool.AddCert(ca)
	s.leaf = tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
	return nil
}

// dial routes MSAL's instance discovery host to the emulator; everything else dials
// as asked (loopback, in tests).
func (s *Server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, _, err := net.SplitHostPort(addr); err == nil && strings.EqualFold(host, msalDiscoveryHost) {
		s.mu.Lock()
		addr = s.addr
		s.mu.Unlock()
		if addr == "" {
			return nil, fmt.Errorf("armemu: %s is routed to the emulator, which is not listening", msalDiscoveryHost)
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Listen serves the emulator over HTTPS on addr (e.g. 127.0.0.1:0) and returns its
// base URL, "https://127.0.0.1:PORT/": the ARM endpoint, the authority host and the
// token audience all at once.
func (s *Server) Listen(addr string) (base string, closeFn func() error, err error) {
	return s.ListenWith(addr, nil)
}

// ListenWith is Listen with the handler wrapped (nil: as it is), for a test that
// acts around a request, such as killing its caller once it took effect.
func (s *Server) ListenWith(addr string, wrap func(http.Handler) http.Handler) (base string, closeFn func() error, err error) {
	h := s.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	base = fmt.Sprintf("https://%s/", ln.Addr().String())
	s.mu.Lock()
	s.base, s.addr = base, ln.Addr().String()
	s.mu.Unlock()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{s.leaf}, MinVersion: tls.VersionTLS12},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no HTTP/2, as in the client
		// Handshake failures of clients that do not trust the CA are theirs to report.
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return base, srv.Close, nil
}

// Handler serves ARM, the token endpoints, the metadata document and /_emu/.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// BaseURL is the base URL status links, nextLinks and tokens are made from.
func (s *Server) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base
}

// CACertPEM is the emulator CA's certificate, PEM-encoded (for REQUESTS_CA_BUNDLE, SSL_CERT_FILE).
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// CertPool is a pool holding only the emulator's CA.
func (s *Server) CertPool() *x509.CertPool { return s.pool.Clone() }

// HTTPClient trusts the emulator's CA and sends MSAL's instance discovery host
// (login.microsoftonline.com) to the emulator, so instance discovery works offline.
func (s *Server) HTTPClient() *http.Client { return s.client }

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

// Subscriptions lists the known subscription ids.
func (s *Server) Subscriptions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.subs...)
}

// Tenant is the tenant id.
func (s *Server) Tenant() string { return s.tenant }

// subscription returns the known subscription id equal to id ignoring case; callers hold s.mu.
func (s *Server) subscription(id string) (string, bool) {
	for _, x := range s.subs {
		if strings.EqualFold(x, id) {
			return x, true
		}
	}
	return "", false
}
