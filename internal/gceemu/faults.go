package gceemu

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// FaultKind says what an injected fault answers.
type FaultKind int

const (
	// LatencyOnly adds Fault.Latency and then serves the request normally.
	LatencyOnly FaultKind = iota
	// RateLimited answers 429 rateLimitExceeded.
	RateLimited
	// ServerError answers 503 backendError.
	ServerError
	// LoseAnswer applies the request, then drops the connection without answering.
	LoseAnswer
	// Unreachable makes the aggregatedList scope Fault.Scope (e.g. "zones/us-central1-b")
	// unreachable: the call still answers 200, the scope carrying the UNREACHABLE
	// warning and no items; with returnPartialSuccess it is also listed in
	// unreachables (where the list has that field).
	Unreachable
)

var faultKindNames = map[string]FaultKind{"LatencyOnly": LatencyOnly, "RateLimited": RateLimited,
	"ServerError": ServerError, "LoseAnswer": LoseAnswer, "Unreachable": Unreachable}

// ParseFaultKind maps a kind's name ("ServerError") to it.
func ParseFaultKind(name string) (FaultKind, bool) { k, ok := faultKindNames[name]; return k, ok }

// Fault is injected into requests for Method ("" = all, e.g. "compute.images.list") in
// Project ("" = all). Probability 0 means always (1); otherwise a fraction 0..1.
// Times limits the rule to that many requests (0: no limit).
type Fault struct {
	Method      string        `json:"method,omitempty"`
	Project     string        `json:"project,omitempty"`
	Kind        FaultKind     `json:"kind"`
	Probability float64       `json:"probability,omitempty"`
	Times       int           `json:"times,omitempty"`
	Latency     time.Duration `json:"latency,omitempty"`
	// Scope is the aggregatedList scope an Unreachable fault hides ("zones/z", "regions/r", "global").
	Scope string `json:"scope,omitempty"`
}

// SetFault adds a fault rule.
func (s *Server) SetFault(f Fault) {
	s.faultMu.Lock()
	s.faults = append(s.faults, f)
	s.faultHits = append(s.faultHits, 0)
	s.faultMu.Unlock()
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	s.faults, s.faultHits = nil, nil
	s.faultMu.Unlock()
}

// Deny makes method (an API method id, or "*") in project (or "*") answer 403 forbidden.
func (s *Server) Deny(project, method string) {
	s.mu.Lock()
	s.denied[project+"|"+method] = true
	s.mu.Unlock()
}

func (s *Server) isDenied(project, method string) bool {
	return s.denied[project+"|"+method] || s.denied["*|"+method] || s.denied[project+"|*"] || s.denied["*|*"]
}

// rollFaults picks the faults for one request: the first non-latency kind wins, the
// latencies add up. Unreachable faults are not rolled here but per scope.
func (s *Server) rollFaults(project, method string) (kind FaultKind, latency time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if f.Kind == Unreachable || !f.matches(project, method) || f.Times > 0 && s.faultHits[i] >= f.Times {
			continue
		}
		if f.Probability > 0 && f.Probability < 1 && s.rng.Float64() >= f.Probability {
			continue
		}
		s.faultHits[i]++
		latency += f.Latency
		if f.Kind != LatencyOnly && kind == LatencyOnly {
			kind = f.Kind
		}
	}
	return kind, latency
}

func (f Fault) matches(project, method string) bool {
	return (f.Method == "" || f.Method == method) && (f.Project == "" || f.Project == project)
}

// unreachable says whether an Unreachable fault hides scope for this aggregatedList.
func (s *Server) unreachable(project, method, scope string) bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if f.Kind != Unreachable || f.Scope != scope || !f.matches(project, method) || f.Times > 0 && s.faultHits[i] >= f.Times {
			continue
		}
		if f.Probability > 0 && f.Probability < 1 && s.rng.Float64() >= f.Probability {
			continue
		}
		s.faultHits[i]++
		return true
	}
	return false
}

// Quotas are per-project request quotas per minute of emulator time (0: unlimited).
type Quotas struct {
	ReadPerMinute          int `json:"readPerMinute,omitempty"`
	WritePerMinute         int `json:"writePerMinute,omitempty"`
	OperationReadPerMinute int `json:"operationReadPerMinute,omitempty"` // operations get/wait; 0: counted as reads
	// Status is 403 (default, GCE's "Quota exceeded for quota metric") or 429.
	Status int `json:"status,omitempty"`
}

// SetQuotas replaces the quotas (nil turns them off) and empties the windows.
func (s *Server) SetQuotas(q *Quotas) {
	s.faultMu.Lock()
	s.quotas, s.windows = q, map[string]*window{}
	s.faultMu.Unlock()
}

type window struct {
	minute time.Time
	n      int
}

// takeQuota counts one request of class against the project's minute window.
func (s *Server) takeQuota(project, class string, now time.Time) *apiError {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	q := s.quotas
	if q == nil {
		return nil
	}
	limit, metric := q.ReadPerMinute, "Read requests"
	switch class {
	case "write":
		limit, metric = q.WritePerMinute, "Queries"
	case "opread":
		if q.OperationReadPerMinute > 0 {
			limit, metric = q.OperationReadPerMinute, "Operation read requests"
		} else {
			class = "read"
		}
	}
	if limit <= 0 {
		return nil
	}
	k := project + "|" + class
	w := s.windows[k]
	m := now.Truncate(time.Minute)
	if w == nil || !w.minute.Equal(m) {
		w = &window{minute: m}
		s.windows[k] = w
	}
	if w.n >= limit {
		code := q.Status
		if code == 0 {
			code = 403
		}
		return errf(code, "rateLimitExceeded", "Quota exceeded for quota metric '%s' and limit '%s per minute' of service 'compute.googleapis.com' for consumer 'project_number:%s'.", metric, metric, project)
	}
	w.n++
	return nil
}

// Call is one request the emulator received.
type Call struct {
	Project string    `json:"project"`
	Method  string    `json:"method"`
	Verb    string    `json:"verb"` // the HTTP method
	Path    string    `json:"path"`
	Query   string    `json:"query,omitempty"`
	Agent   string    `json:"agent,omitempty"` // the User-Agent: which client called
	Status  int       `json:"status"`          // 0: the answer was lost (LoseAnswer)
	Time    time.Time `json:"time"`
}

func (s *Server) count(project, method string) {
	s.faultMu.Lock()
	if s.calls[project] == nil {
		s.calls[project] = map[string]int{}
	}
	s.calls[project][method]++
	s.faultMu.Unlock()
}

func (s *Server) record(project, method string, r *http.Request, status int, now time.Time) {
	q := r.URL.Query()
	s.faultMu.Lock()
	s.journal = append(s.journal, Call{Project: project, Method: method, Verb: r.Method, Path: r.URL.Path, Query: encodeQuery(q), Agent: r.UserAgent(), Status: status, Time: now})
	s.faultMu.Unlock()
}

func encodeQuery(q url.Values) string {
	q.Del("alt")
	q.Del("prettyPrint")
	return q.Encode()
}

// Calls counts the requests received for project and method id (e.g.
// "compute.images.list"), failed, throttled and faulted ones included.
func (s *Server) Calls(project, method string) int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.calls[project][method]
}

// CallsIn copies the counters of one project: method id -> count.
func (s *Server) CallsIn(project string) map[string]int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	out := map[string]int{}
	for m, n := range s.calls[project] {
		out[m] = n
	}
	return out
}

// AllCalls copies every counter: project -> method id -> count.
func (s *Server) AllCalls() map[string]map[string]int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	out := map[string]map[string]int{}
	for p, ms := range s.calls {
		out[p] = map[string]int{}
		for m, n := range ms {
			out[p][m] = n
		}
	}
	return out
}

// TotalCalls counts every API request received.
func (s *Server) TotalCalls() int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	n := 0
	for _, ms := range s.calls {
		for _, c := range ms {
			n += c
		}
	}
	return n
}

// Journal copies the requests received, in order.
func (s *Server) Journal() []Call {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return append([]Call(nil), s.journal...)
}

// ResetCounters zeroes the call counters and empties the journal and quota windows.
func (s *Server) ResetCounters() {
	s.faultMu.Lock()
	s.calls, s.journal, s.windows = map[string]map[string]int{}, nil, map[string]*window{}
	s.faultMu.Unlock()
}

// class is the quota class of a method.
func class(method string) string {
	switch {
	case strings.HasSuffix(method, "Operations.get"), strings.HasSuffix(method, "Operations.wait"):
		return "opread"
	case isRead(method):
		return "read"
	}
	return "write"
}

func isRead(method string) bool {
	i := strings.LastIndex(method, ".")
	v := method[i+1:]
	return v == "get" || v == "list" || v == "aggregatedList" || v == "getFromFamily" || v == "getIamPolicy" ||
		v == "wait" || v == "getSerialPortOutput"
}
