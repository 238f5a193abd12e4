package ec2emu

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// call is one request being served: its parameters and who is asking where.
type call struct {
	s       *Server
	svc     *service
	action  string
	form    url.Values // Query protocol parameters
	body    []byte     // JSON protocol input
	region  string
	account string
	reg     *Region
	now     time.Time
	req     *http.Request // for the crash point: who is calling, and when they hang up
	// loseAnswer: serve the call, then hang up without answering.
	loseAnswer bool
}

type handler func(c *call) (response, error)

// service is one AWS API served on the endpoint: its operations and how it writes
// answers and errors on the wire.
type service struct {
	name     string // SigV4 signing name
	handlers map[string]handler
	respond  func(w http.ResponseWriter, action, reqID string, body response)
	fail     func(w http.ResponseWriter, reqID string, err error)
	denied   func(c *call) error
}

var scopeRE = regexp.MustCompile(`Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request`)

// scope extracts the access key, region and signing name from a SigV4 Authorization
// header (or a presigned X-Amz-Credential); signatures are deliberately not verified.
func scope(r *http.Request, form url.Values) (accessKey, region, service string) {
	h := r.Header.Get("Authorization")
	if m := scopeRE.FindStringSubmatch(h); m != nil {
		return m[1], m[2], m[3]
	}
	if cred := form.Get("X-Amz-Credential"); cred != "" {
		parts := strings.Split(cred, "/")
		if len(parts) >= 4 {
			return parts[0], parts[2], parts[3]
		}
	}
	return "", "", ""
}

// ServeHTTP answers EC2, Auto Scaling and STS (AssumeRole) Query requests, SSM JSON
// requests and Recycle Bin REST-JSON requests on one endpoint; /_emu/ is the admin hook.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emu/") {
		s.serveAdmin(w, r)
		return
	}
	reqID := s.requestID()
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveJSON(w, r, reqID, target)
		return
	}
	if isRbin(r) {
		s.serveRbin(w, r, reqID)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, reqID, errf(400, "MalformedQueryString", "cannot parse form: %v", err))
		return
	}
	if isSTS(r) {
		s.serveSTS(w, r, reqID)
		return
	}
	c := s.newCall(r, r.Form)
	// aws-sdk-go v1 clients (amazon-ami-management) send Auto Scaling requests to the
	// EC2 endpoint: the signing name or the API version tells them apart.
	c.svc = s.ec2
	if _, _, signedFor := scope(r, r.Form); signedFor == "autoscaling" || r.Form.Get("Version") == autoscalingVersion {
		c.svc = s.autoscaling
	}
	if c.action == "" {
		c.svc.fail(w, reqID, errf(400, "MissingAction", "The request must contain the parameter Action"))
		return
	}
	resp, err := s.serve(c)
	if c.loseAnswer {
		s.bump(s.failed, c.region, c.action)
		panic(http.ErrAbortHandler) // net/http closes the connection, answering nothing
	}
	if err != nil {
		c.svc.fail(w, reqID, err)
		return
	}
	c.svc.respond(w, c.action, reqID, resp)
}

func (s *Server) newCall(r *http.Request, form url.Values) *call {
	key, region, _ := scope(r, form)
	if region == "" {
		region = s.defaultRegion
	}
	return &call{s: s, action: form.Get("Action"), form: form, region: region, account: s.AccountOf(key), req: r}
}

// serve runs faults and rate limits outside the state lock (latency must not block other
// clients), then the handler under it.
func (s *Server) serve(c *call) (response, error) {
	s.inflight.enter(c.region)
	defer s.inflight.leave(c.region)
	s.count(c.region, c.action)
	s.bump(s.byAccount, c.account, c.region+" "+c.action)
	if err := s.inject(c); err != nil {
		return nil, err
	}
	h, ok := c.svc.handlers[c.action]
	if !ok {
		return nil, errf(400, "InvalidAction", "The action %s is not valid for this web service (not supported by ec2emu).", c.action)
	}
	resp, err := s.handle(c, h)
	if err == nil && mutating(c.action) {
		// The effect is applied: journal it, then maybe crash the caller
		// before it hears back.
		if err := s.served(c); err != nil {
			return nil, err
		}
	}
	return resp, err
}

// handle runs the handler under the state lock.
func (s *Server) handle(c *call, h handler) (response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isDenied(c.account, c.action) {
		return nil, c.svc.denied(c)
	}
	if c.svc == s.ec2 {
		dry, err := c.boolean("DryRun")
		if err != nil {
			return nil, err
		}
		if dry {
			return nil, errf(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
		}
	}
	c.reg = s.st.region(c.region)
	c.now = s.clock.Now().UTC()
	return h(c)
}

func (s *Server) requestID() string {
	s.mu.Lock()
	s.reqSeq++
	n := s.reqSeq
	s.mu.Unlock()
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", n)
}

// newID allocates an id from the global sequence (ids are unique across regions).
func (c *call) newID(prefix string) string { return c.s.st.NewID(prefix) }

func formatID(prefix string, seq uint64) string {
	return fmt.Sprintf("%s-%017x", prefix, 0xabc0000+seq)
}

var idRE = regexp.MustCompile(`^[a-z]+-([0-9a-f]{8}|[0-9a-f]{17})$`)

// validID says whether id looks like prefix-<8 or 17 hex digits>.
func validID(id, prefix string) bool {
	return strings.HasPrefix(id, prefix+"-") && idRE.MatchString(id)
}
