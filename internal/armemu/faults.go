package armemu

import (
	"net/http"
	"strings"
	"time"
)

// FaultKind says what an injected fault answers.
type FaultKind int

const (
	// LatencyOnly adds Fault.Latency and then serves the request normally.
	LatencyOnly FaultKind = iota
	// Throttled answers 429 TooManyRequests with Retry-After: 1, as ARM's throttling does.
	Throttled
	// ServerError answers 500 InternalServerError.
	ServerError
	// Unavailable answers 503 ServiceUnavailable.
	Unavailable
	// LoseAnswer applies the request, then drops the connection without answering.
	LoseAnswer
	// OperationFails accepts a long-running mutation, whose operation then ends Failed.
	// It only matches mutations (PUT, PATCH, DELETE), so reads do not use it up.
	OperationFails
	// Conflict answers 409 Conflict without applying anything.
	Conflict
)

var faultKindNames = map[string]FaultKind{"LatencyOnly": LatencyOnly, "Throttled": Throttled, "ServerError": ServerError,
	"Unavailable": Unavailable, "LoseAnswer": LoseAnswer, "OperationFails": OperationFails, "Conflict": Conflict}

// ParseFaultKind maps a kind's name ("ServerError") to it.
func ParseFaultKind(name string) (FaultKind, bool) { k, ok := faultKindNames[name]; return k, ok }

// String is the kind's name.
func (k FaultKind) String() string {
	for n, x := range faultKindNames {
		if x == k {
			return n
		}
	}
	return "FaultKind(?)"
}

// Fault is injected into requests for Action ("" = every ARM action, e.g.
// "Microsoft.Compute/galleries/images/versions/delete"; "token" = the token POSTs and
// "discovery" = openid-configuration and instance discovery, which "" does not
// cover) in Subscription ("" = all). Probability 0
// means always (1); otherwise a fraction 0..1. Times limits the rule to that many
// requests (0: no limit).
type Fault struct {
	Action       string        `json:"action,omitempty"`
	Subscription string        `json:"subscription,omitempty"`
	Kind         FaultKind     `json:"kind"`
	Probability  float64       `json:"probability,omitempty"`
	Times        int           `json:"times,omitempty"`
	Latency      time.Duration `json:"latency,omitempty"`
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

// Deny makes action (an RBAC action, or "*") in scope (a subscription id, or "*")
// answer 403 AuthorizationFailed.
func (s *Server) Deny(scope, action string) {
	s.mu.Lock()
	s.denied[strings.ToLower(scope)+"|"+strings.ToLower(action)] = true
	s.mu.Unlock()
}

// isDenied is called with s.mu held.
func (s *Server) isDenied(sub, action string) bool {
	sub, action = strings.ToLower(sub), strings.ToLower(action)
	return s.denied[sub+"|"+action] || s.denied["*|"+action] || s.denied[sub+"|*"] || s.denied["*|*"]
}

// rollFaults picks the faults for one request: the first non-latency kind wins, the
// latencies add up.
func (s *Server) rollFaults(sub, action string, mutation bool) (kind FaultKind, latency time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if !f.matches(sub, action) || f.Times > 0 && s.faultHits[i] >= f.Times || f.Kind == OperationFails && !mutation {
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

func (f Fault) matches(sub, action string) bool {
	if f.Action == "" && !isARMAction(action) {
		return false
	}
	return (f.Action == "" || strings.EqualFold(f.Action, action)) && (f.Subscription == "" || strings.EqualFold(f.Subscription, sub))
}

// Call is one request the emulator received.
type Call struct {
	Subscription string    `json:"subscription,omitempty"`
	Action       string    `json:"action"` // the RBAC action, or "token", "discovery", "metadata"
	Verb         string    `json:"verb"`   // the HTTP method
	Path         string    `json:"path"`
	APIVersion   string    `json:"apiversion,omitempty"`
	Agent        string    `json:"agent,omitempty"` // the User-Agent: which client called
	Status       int       `json:"status"`          // 0: the answer was lost (LoseAnswer)
	Time         time.Time `json:"time"`
}

// Actions that are not ARM's: they go in the journal but not in Calls.
const (
	actionToken     = "token"
	actionDiscovery = "discovery"
	actionMetadata  = "metadata"
)

func isARMAction(a string) bool {
	return a != "" && a != actionToken && a != actionDiscovery && a != actionMetadata
}

func (s *Server) record(sub, action string, r *http.Request, status int, now time.Time) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if isARMAction(action) {
		s.calls[action]++
	}
	s.journal = append(s.journal, Call{Subscription: sub, Action: action, Verb: r.Method, Path: r.URL.Path,
		APIVersion: r.URL.Query().Get("api-version"), Agent: r.UserAgent(), Status: status, Time: now})
}

// Calls counts the ARM requests received per RBAC action, failed, throttled and
// faulted ones included ("Microsoft.Compute/locations/operations/read" for LRO polls).
func (s *Server) Calls() map[string]int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	out := make(map[string]int, len(s.calls))
	for a, n := range s.calls {
		out[a] = n
	}
	return out
}

// Journal copies the requests received, in order, token requests included.
func (s *Server) Journal() []Call {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return append([]Call(nil), s.journal...)
}

// ResetCounters zeroes the call counters, the throttling windows and the journal.
func (s *Server) ResetCounters() {
	s.faultMu.Lock()
	s.calls, s.journal, s.windows = map[string]int{}, nil, map[string]*window{}
	s.faultMu.Unlock()
}

// ARM's per-subscription, per-hour request budgets, reported in the
// x-ms-ratelimit-remaining-* headers (counted, not enforced).
var rateLimits = map[string]int{"reads": 12000, "writes": 1200, "deletes": 15000}

type window struct {
	hour time.Time
	n    int
}

// remaining counts one request of class ("reads", "writes", "deletes") in its hour
// window and returns what is left of the budget.
func (s *Server) remaining(scope, class string, now time.Time) int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	k := scope + "|" + class
	w := s.windows[k]
	h := now.Truncate(time.Hour)
	if w == nil || !w.hour.Equal(h) {
		w = &window{hour: h}
		s.windows[k] = w
	}
	w.n++
	return max(rateLimits[class]-w.n, 0)
}
