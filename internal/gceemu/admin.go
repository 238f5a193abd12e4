package gceemu

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/compute/v1"
)

// serveAdmin answers the hooks a test outside the process (cmd/gceemu) drives:
//
//	GET    /_emu/calls                   project -> method -> count
//	GET    /_emu/journal                 the calls, in order
//	POST   /_emu/reset                   zero the counters and the journal
//	POST   /_emu/faults                  add a Fault (JSON; kind by name: "ServerError")
//	DELETE /_emu/faults                  remove every fault
//	POST   /_emu/deny?project=p&method=m answer 403 to m in p
//	POST   /_emu/clock?advance=168h      move the clock (a FakeClock from then on)
//	POST   /_emu/images/PROJECT          store an image (compute.Image JSON) as PutImage
//	GET    /_emu/images/PROJECT          the project's images
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/_emu/")
	bad := func(format string, args ...any) { writeError(w, invalid(format, args...)) }
	switch {
	case path == "calls" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.AllCalls())
	case path == "journal" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Journal())
	case path == "reset" && r.Method == http.MethodPost:
		s.ResetCounters()
		writeJSON(w, 200, struct{}{})
	case path == "faults" && r.Method == http.MethodPost:
		var f struct {
			Fault
			Kind    string `json:"kind"`
			Latency string `json:"latency"`
		}
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			bad("fault: %v", err)
			return
		}
		k, ok := ParseFaultKind(f.Kind)
		if !ok {
			bad("fault: unknown kind %q", f.Kind)
			return
		}
		f.Fault.Kind = k
		if f.Latency != "" {
			d, err := time.ParseDuration(f.Latency)
			if err != nil {
				bad("fault: latency: %v", err)
				return
			}
			f.Fault.Latency = d
		}
		s.SetFault(f.Fault)
		writeJSON(w, 200, struct{}{})
	case path == "faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		writeJSON(w, 200, struct{}{})
	case path == "deny" && r.Method == http.MethodPost:
		q := r.URL.Query()
		if q.Get("project") == "" || q.Get("method") == "" {
			bad("deny needs project and method")
			return
		}
		s.Deny(q.Get("project"), q.Get("method"))
		writeJSON(w, 200, struct{}{})
	case path == "clock" && r.Method == http.MethodPost:
		d, err := time.ParseDuration(r.URL.Query().Get("advance"))
		if err != nil || d < 0 {
			bad("clock: advance must be a non-negative duration: %q", r.URL.Query().Get("advance"))
			return
		}
		fc := s.FakeClock()
		fc.Advance(d)
		writeJSON(w, 200, map[string]string{"now": Timestamp(fc.Now())})
	case strings.HasPrefix(path, "images/") && r.Method == http.MethodPost:
		var img compute.Image
		if err := json.NewDecoder(r.Body).Decode(&img); err != nil || img.Name == "" {
			bad("image: a compute.Image with a name is needed (%v)", err)
			return
		}
		writeJSON(w, 200, s.PutImage(strings.TrimPrefix(path, "images/"), &img))
	case strings.HasPrefix(path, "images/") && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Images(strings.TrimPrefix(path, "images/")))
	default:
		writeError(w, errf(404, "notFound", "gceemu has no admin hook %s %s", r.Method, r.URL.Path))
	}
}
