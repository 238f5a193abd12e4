package ec2emu

import "sync"

// inFlight is a gauge of the requests being served, per region and in all,
// with the most seen at once since the last ResetCounters. It has its own
// lock: it is entered before anything else a request waits for.
type inFlight struct {
	mu        sync.Mutex
	now, peak map[string]int
	all       int
	allPeak   int
}

// PeakInFlight is the most requests served at once since the counters were
// last reset: per region, and over all regions together.
type PeakInFlight struct {
	Regions map[string]int `json:"regions"`
	All     int            `json:"all"`
}

func (g *inFlight) enter(region string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.now == nil {
		g.now, g.peak = map[string]int{}, map[string]int{}
	}
	g.now[region]++
	g.peak[region] = max(g.peak[region], g.now[region])
	g.all++
	g.allPeak = max(g.allPeak, g.all)
}

func (g *inFlight) leave(region string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now[region]--
	g.all--
}

// reset starts the peaks again from what is in flight now.
func (g *inFlight) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.peak = map[string]int{}
	for r, n := range g.now {
		if n > 0 {
			g.peak[r] = n
		}
	}
	g.allPeak = g.all
}

func (g *inFlight) snapshot() PeakInFlight {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := PeakInFlight{Regions: map[string]int{}, All: g.allPeak}
	for r, n := range g.peak {
		out.Regions[r] = n
	}
	return out
}

// InFlightPeak returns the most requests served at once, per region and in
// all, since the counters were last reset (ResetCounters resets it too).
func (s *Server) InFlightPeak() PeakInFlight { return s.inflight.snapshot() }

// InFlightNow is how many requests are being served right now.
func (s *Server) InFlightNow() int {
	s.inflight.mu.Lock()
	defer s.inflight.mu.Unlock()
	return s.inflight.all
}
