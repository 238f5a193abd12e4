package ec2emu

import (
	"encoding/json"
	"net/http"
	"time"
)

// serveAdmin is the JSON test hook for other processes (the stand-alone command):
//
//	GET  /_emu/state    -> State JSON          POST /_emu/state    <- State JSON (replaces)
//	GET  /_emu/calls    -> {"calls":{region:{action:n}},"throttled":{…},
//	                        "peakInFlight":{"regions":{region:n},"all":n}}
//	POST /_emu/clock    <- {"now":"RFC3339"} or {"advance":"1h"}; -> {"now":…}
//	GET  /_emu/clock    -> {"now":…}
//	POST /_emu/accounts <- {"accessKey":"…","accountId":"…"}
//	POST /_emu/deny     <- {"account":"…" or "*","action":"…"}
//	POST /_emu/faults   <- [Fault…] (replaces; [] clears)
//	POST /_emu/fixture  <- Fixture; -> FixtureResult
//	POST /_emu/reset-counters (calls, throttles, failures, in-flight peaks and the journal)
//	GET  /_emu/journal  -> [Call…]: every served mutating call, in order
//	POST /_emu/crash    <- CrashPoint: kill -9 the caller of the Nth mutating call
//	GET  /_emu/crash    -> {"fired":bool,"crash":Crash}
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_emu/state":
		w.Header().Set("Content-Type", "application/json")
		_ = s.SaveState(w)
	case "POST /_emu/state":
		adminResult(w, nil, s.LoadState(r.Body))
	case "GET /_emu/calls":
		adminResult(w, map[string]any{"calls": s.Snapshot(), "throttled": s.ThrottleSnapshot(), "peakInFlight": s.InFlightPeak()}, nil)
	case "GET /_emu/clock", "POST /_emu/clock":
		s.adminClock(w, r)
	case "POST /_emu/accounts":
		var a struct{ AccessKey, AccountID string }
		err := json.NewDecoder(r.Body).Decode(&a)
		if err == nil {
			s.AddAccount(a.AccessKey, a.AccountID)
		}
		adminResult(w, nil, err)
	case "POST /_emu/deny":
		var d struct{ Account, Action string }
		err := json.NewDecoder(r.Body).Decode(&d)
		if err == nil {
			s.Deny(d.Account, d.Action)
		}
		adminResult(w, nil, err)
	case "POST /_emu/faults":
		var fs []Fault
		err := json.NewDecoder(r.Body).Decode(&fs)
		if err == nil {
			s.ClearFaults()
			for _, f := range fs {
				s.SetFault(f)
			}
		}
		adminResult(w, nil, err)
	case "POST /_emu/fixture":
		var f Fixture
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			adminResult(w, nil, err)
			return
		}
		adminResult(w, s.Build(f), nil)
	case "GET /_emu/journal":
		adminResult(w, s.Journal(), nil)
	case "POST /_emu/crash":
		var p CrashPoint
		err := json.NewDecoder(r.Body).Decode(&p)
		if err == nil {
			s.ArmCrash(p)
		}
		adminResult(w, nil, err)
	case "GET /_emu/crash":
		c, fired := s.Crashed()
		adminResult(w, map[string]any{"fired": fired, "crash": c}, nil)
	case "POST /_emu/reset-counters":
		s.ResetCounters()
		adminResult(w, nil, nil)
	default:
		http.Error(w, "unknown admin route "+route, http.StatusNotFound)
	}
}

func (s *Server) adminClock(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req struct {
			Now     time.Time `json:"now"`
			Advance string    `json:"advance"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			adminResult(w, nil, err)
			return
		}
		fc := s.FakeClock()
		if !req.Now.IsZero() {
			fc.Set(req.Now)
		}
		if req.Advance != "" {
			d, err := time.ParseDuration(req.Advance)
			if err != nil {
				adminResult(w, nil, err)
				return
			}
			fc.Advance(d)
		}
	}
	adminResult(w, map[string]any{"now": s.Now()}, nil)
}

func adminResult(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	if v == nil {
		v = map[string]bool{"ok": true}
	}
	_ = json.NewEncoder(w).Encode(v)
}
