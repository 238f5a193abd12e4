package ec2emu

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Call is one served request that changed something (a mutating action that
// succeeded), as the journal keeps it: which, where, on what, and who asked.
type Call struct {
	Seq       int               `json:"seq"`
	Region    string            `json:"region"`
	Action    string            `json:"action"`
	Resources []string          `json:"resources,omitempty"` // ImageId, SnapshotId, ResourceId.N, … of the request
	Params    map[string]string `json:"params,omitempty"`    // every parameter but Action and Version
	UserAgent string            `json:"userAgent,omitempty"`
	Remote    string            `json:"remote,omitempty"` // the caller's address
}

// mutating says whether an action may change state: everything but reads.
func mutating(action string) bool {
	for _, p := range []string{"Describe", "List", "Get"} {
		if strings.HasPrefix(action, p) {
			return false
		}
	}
	return action != ""
}

var resourceParam = regexp.MustCompile(`^(ImageId|SnapshotId|SourceImageId|InstanceId|ResourceId)(\.\d+)?$`)

// CrashPoint crashes the caller of the After-th (1-based) served mutating
// call it counts: the call's effect is applied, then the emulator SIGKILLs
// the process owning the calling connection (found through /proc; Linux
// only) and holds the answer until that connection is gone, so the caller
// never learns that its call succeeded: a kill -9 right after the call.
type CrashPoint struct {
	After int `json:"after"`
	// Actions restricts the count to these actions (empty: every mutating one).
	Actions []string `json:"actions,omitempty"`
	// UserAgent restricts the count to callers whose User-Agent contains it.
	UserAgent string `json:"userAgent,omitempty"`
}

func (p CrashPoint) counts(c Call) bool {
	return (len(p.Actions) == 0 || slices.Contains(p.Actions, c.Action)) && strings.Contains(c.UserAgent, p.UserAgent)
}

// Crash is what a fired crash point did: the call it followed and the
// process it killed, or why it could not.
type Crash struct {
	Call Call   `json:"call"`
	PID  int    `json:"pid,omitempty"`
	Exe  string `json:"exe,omitempty"` // the killed process's executable
	Err  string `json:"error,omitempty"`
}

type crashState struct {
	point CrashPoint
	seen  int
	fired *Crash
	done  chan Crash // buffered: receives the crash once
	// recorded is closed once fired is set; firing says the kill has
	// begun, so Crashed waits for its record: the killed caller's exit can
	// reach a test before the handler has written it down.
	recorded chan struct{}
	firing   bool
}

// ArmCrash arms a crash point (replacing any armed one); the channel
// receives the crash once it happened.
func (s *Server) ArmCrash(p CrashPoint) <-chan Crash {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.crash = &crashState{point: p, done: make(chan Crash, 1), recorded: make(chan struct{})}
	return s.crash.done
}

// Crashed says whether the armed crash point fired, and how.
func (s *Server) Crashed() (Crash, bool) {
	s.faultMu.Lock()
	cs := s.crash
	if cs == nil || !cs.firing {
		s.faultMu.Unlock()
		return Crash{}, false
	}
	s.faultMu.Unlock()
	<-cs.recorded
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return *cs.fired, true
}

// Journal copies the served mutating calls, in the order they were served.
func (s *Server) Journal() []Call {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return slices.Clone(s.journal)
}

// served journals a mutating call whose effect is applied and, when it is
// the armed crash point's, kills its caller. The error is the answer the
// killed caller never reads.
func (s *Server) served(c *call) error {
	entry := Call{Region: c.region, Action: c.action, Params: map[string]string{}}
	if c.req != nil {
		entry.UserAgent, entry.Remote = c.req.UserAgent(), c.req.RemoteAddr
	}
	for _, k := range slices.Sorted(maps.Keys(c.form)) {
		if k == "Action" || k == "Version" {
			continue
		}
		v := c.form.Get(k)
		entry.Params[k] = v
		if resourceParam.MatchString(k) {
			entry.Resources = append(entry.Resources, v)
		}
	}
	s.faultMu.Lock()
	s.journalSeq++
	entry.Seq = s.journalSeq
	s.journal = append(s.journal, entry)
	cs := s.crash
	fire := false
	if cs != nil && !cs.firing && cs.point.counts(entry) {
		cs.seen++
		fire = cs.seen == cs.point.After
		cs.firing = fire
	}
	s.faultMu.Unlock()
	if !fire {
		return nil
	}
	crash := Crash{Call: entry}
	var err error
	if c.req == nil {
		err = fmt.Errorf("no connection to find the caller by")
	} else if crash.PID, crash.Exe, err = killPeer(c.req.RemoteAddr); err == nil {
		// Hold the answer until the killed caller's connection is gone;
		// the bound only keeps a wrong kill from hanging the emulator.
		select {
		case <-c.req.Context().Done():
		case <-time.After(time.Minute):
			err = fmt.Errorf("process %d killed, but its connection stayed open", crash.PID)
		}
	}
	if err != nil {
		crash.Err = err.Error()
	}
	s.faultMu.Lock()
	cs.fired = &crash
	s.faultMu.Unlock()
	close(cs.recorded)
	cs.done <- crash
	return errf(500, "InternalError", "ec2emu crash point: the caller was killed after this call took effect")
}
