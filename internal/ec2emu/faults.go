package ec2emu

import (
	"strings"
	"time"
)

// FaultKind says what an injected fault answers.
type FaultKind int

const (
	// LatencyOnly adds Fault.Latency and then serves the request normally.
	LatencyOnly FaultKind = iota
	// Throttle answers 503 RequestLimitExceeded (retried by the SDK).
	Throttle
	// ServerError answers 500 InternalError.
	ServerError
	// Unavailable answers 503 Unavailable.
	Unavailable
	// LoseAnswer serves the request, then closes the connection without
	// answering: the call took effect and the client cannot know (a reset,
	// a timeout), so it sends it again.
	LoseAnswer
)

// Fault is injected into a fraction (Probability, 0..1) of requests for Action ("" = all)
// in Region ("" = all): Region with Probability 1 and Kind Unavailable is a region that
// answers nothing but 503.
type Fault struct {
	Action      string        `json:"action,omitempty"`
	Region      string        `json:"region,omitempty"`
	Probability float64       `json:"probability"`
	Kind        FaultKind     `json:"kind"`
	Latency     time.Duration `json:"latency,omitempty"`
	// Times limits the rule to that many requests (0: no limit).
	Times int `json:"times,omitempty"`
}

// SetFault adds a fault rule; ClearFaults removes all.
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

// Bucket is a token bucket: Burst tokens, refilled at Rate per second of emulator time.
type Bucket struct {
	Burst float64 `json:"burst"`
	Rate  float64 `json:"rate"`
}

// RateLimits are EC2's per account and region request buckets.
type RateLimits struct {
	Describe  Bucket            `json:"describe"`
	Mutating  Bucket            `json:"mutating"`
	Tags      Bucket            `json:"tags"`
	Delete    Bucket            `json:"delete"`
	CopyImage Bucket            `json:"copyImage"`
	PerAction map[string]Bucket `json:"perAction,omitempty"` // overrides by action
}

// DefaultRateLimits are the numbers EC2 documents (see ec2-notes.md).
func DefaultRateLimits() RateLimits {
	return RateLimits{
		Describe: Bucket{100, 20}, Mutating: Bucket{50, 5}, Tags: Bucket{100, 10},
		Delete: Bucket{100, 5}, CopyImage: Bucket{100, 1},
	}
}

// SetRateLimits turns token buckets on (nil turns them off) and refills every bucket.
func (s *Server) SetRateLimits(l *RateLimits) {
	s.faultMu.Lock()
	s.limits = l
	s.buckets = map[string]*bucket{}
	s.faultMu.Unlock()
}

func (l *RateLimits) bucketFor(action string) (string, Bucket) {
	if b, ok := l.PerAction[action]; ok {
		return action, b
	}
	switch {
	case strings.HasPrefix(action, "Describe"), strings.HasPrefix(action, "List"), strings.HasPrefix(action, "Get"):
		return "describe", l.Describe
	case action == "CreateTags" || action == "DeleteTags":
		return "tags", l.Tags
	case action == "DeregisterImage" || action == "DeleteSnapshot":
		return "delete", l.Delete
	case action == "CopyImage":
		return "copy", l.CopyImage
	}
	return "mutating", l.Mutating
}

type bucket struct {
	tokens float64
	last   time.Time
}

// take refills from the emulator clock, so a frozen fake clock never refills and tests
// are deterministic.
func (b *bucket) take(cfg Bucket, now time.Time) bool {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(cfg.Burst, b.tokens+elapsed*cfg.Rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// inject applies faults then rate limits; it runs before the state lock is taken.
func (s *Server) inject(c *call) error {
	kind, latency := s.rollFaults(c.region, c.action)
	if latency > 0 {
		// Real time: latency is for benchmarks and hung regions, not for
		// logic. A client that gives up ends the wait, as with EC2.
		var gone <-chan struct{}
		if c.req != nil {
			gone = c.req.Context().Done()
		}
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-gone:
			return errf(408, "RequestTimeout", "The client went away after %s.", latency)
		}
	}
	switch kind {
	case Throttle:
		s.bump(s.throttled, c.region, c.action)
		return errf(503, "RequestLimitExceeded", "Request limit exceeded (injected).")
	case ServerError:
		s.bump(s.failed, c.region, c.action)
		return errf(500, "InternalError", "An internal error has occurred (injected).")
	case Unavailable:
		s.bump(s.failed, c.region, c.action)
		return errf(503, "Unavailable", "The server is overloaded or unavailable (injected).")
	case LoseAnswer:
		c.loseAnswer = true
	}
	if !s.takeToken(c) {
		s.bump(s.throttled, c.region, c.action)
		return errf(503, "RequestLimitExceeded", "Request limit exceeded.")
	}
	return nil
}

func (s *Server) rollFaults(region, action string) (kind FaultKind, latency time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if f.Action != "" && f.Action != action || f.Region != "" && f.Region != region {
			continue
		}
		if f.Times > 0 && s.faultHits[i] >= f.Times {
			continue
		}
		if s.rng.Float64() >= f.Probability {
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

func (s *Server) takeToken(c *call) bool {
	now := s.Now()
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.limits == nil {
		return true
	}
	class, cfg := s.limits.bucketFor(c.action)
	k := c.account + "|" + c.region + "|" + class
	b := s.buckets[k]
	if b == nil {
		b = &bucket{tokens: cfg.Burst, last: now}
		s.buckets[k] = b
	}
	return b.take(cfg, now)
}

func (s *Server) count(region, action string) { s.bump(s.calls, region, action) }

func (s *Server) bump(m map[string]map[string]int, region, action string) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if m[region] == nil {
		m[region] = map[string]int{}
	}
	m[region][action]++
}

func (s *Server) read(m map[string]map[string]int, region, action string) int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return m[region][action]
}

// Calls counts every request received for region and action, throttled ones included.
func (s *Server) Calls(region, action string) int { return s.read(s.calls, region, action) }

// CallsBy counts the calls of action in region made with account's
// credentials.
func (s *Server) CallsBy(region, action, account string) int {
	return s.read(s.byAccount, account, region+" "+action)
}

// Throttled counts RequestLimitExceeded answers (injected or from rate limits).
func (s *Server) Throttled(region, action string) int { return s.read(s.throttled, region, action) }

// Failed counts injected 500/503 server faults and lost answers.
func (s *Server) Failed(region, action string) int { return s.read(s.failed, region, action) }

// Snapshot copies the call counters: region -> action -> count.
func (s *Server) Snapshot() map[string]map[string]int { return s.copyCounters(s.calls) }

// FailedSnapshot copies the counters of injected 500/503 server faults.
func (s *Server) FailedSnapshot() map[string]map[string]int { return s.copyCounters(s.failed) }

// ThrottleSnapshot copies the throttle counters.
func (s *Server) ThrottleSnapshot() map[string]map[string]int { return s.copyCounters(s.throttled) }

func (s *Server) copyCounters(m map[string]map[string]int) map[string]map[string]int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	out := map[string]map[string]int{}
	for r, acts := range m {
		out[r] = map[string]int{}
		for a, n := range acts {
			out[r][a] = n
		}
	}
	return out
}

// ResetCounters zeroes call, throttle and failure counters, empties the
// journal, and starts the in-flight peaks again from what is in flight now.
func (s *Server) ResetCounters() {
	s.inflight.reset()
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.calls, s.throttled, s.failed = map[string]map[string]int{}, map[string]map[string]int{}, map[string]map[string]int{}
	s.byAccount = map[string]map[string]int{}
	s.journal = nil
}
