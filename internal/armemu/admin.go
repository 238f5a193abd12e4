package armemu

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
)

// serveAdmin answers the hooks a test outside the process (cmd/armemu) drives,
// unauthenticated:
//
//	GET    /_emu/calls                          action -> count
//	GET    /_emu/journal                        the calls, in order
//	POST   /_emu/reset                          zero the counters and the journal
//	POST   /_emu/faults                         add a Fault (JSON; kind by name: "Throttled", latency "2s")
//	DELETE /_emu/faults                         remove every fault
//	POST   /_emu/deny?scope=SUB&action=A        answer 403 to A in SUB ("*" for either)
//	POST   /_emu/clock?advance=168h | ?set=RFC3339   move the clock (a FakeClock from then on)
//	GET    /_emu/ca.pem                         the CA certificate
//	POST   /_emu/galleries/S/RG/G?location=L    store a gallery
//	POST   /_emu/images/S/RG/G/I                store a definition (GalleryImage JSON)
//	POST   /_emu/versions/S/RG/G/I/V            store a version (GalleryImageVersion JSON)
//	GET    /_emu/versions/S/RG/G/I              a definition's versions
//	POST   /_emu/vms/S/RG/NAME?location=L       store a VM (ImageReference JSON)
//	POST   /_emu/scalesets/S/RG/NAME?location=L store a scale set (ImageReference JSON)
//	DELETE /_emu/vms/S/RG/NAME, /_emu/scalesets/S/RG/NAME
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/_emu/"), "/")
	segs := strings.Split(path, "/")
	q := r.URL.Query()
	bad := func(format string, args ...any) {
		writeJSON(w, 400, errf(400, "InvalidParameter", format, args...).body())
	}
	location := q.Get("location")
	if location == "" {
		location = "westeurope"
	}
	ok := func(v any) { writeJSON(w, 200, v) }
	switch {
	case path == "calls" && r.Method == http.MethodGet:
		ok(s.Calls())
	case path == "journal" && r.Method == http.MethodGet:
		ok(s.Journal())
	case path == "reset" && r.Method == http.MethodPost:
		s.ResetCounters()
		ok(struct{}{})
	case path == "ca.pem" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.CACertPEM())
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
		k, known := ParseFaultKind(f.Kind)
		if !known {
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
		ok(struct{}{})
	case path == "faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		ok(struct{}{})
	case path == "deny" && r.Method == http.MethodPost:
		if q.Get("scope") == "" || q.Get("action") == "" {
			bad("deny needs scope and action")
			return
		}
		s.Deny(q.Get("scope"), q.Get("action"))
		ok(struct{}{})
	case path == "clock" && r.Method == http.MethodPost:
		fc := s.FakeClock()
		if t := q.Get("set"); t != "" {
			at, err := time.Parse(time.RFC3339, t)
			if err != nil {
				bad("clock: set must be an RFC 3339 time: %q", t)
				return
			}
			fc.Set(at)
		} else {
			d, err := time.ParseDuration(q.Get("advance"))
			if err != nil || d < 0 {
				bad("clock: advance must be a non-negative duration: %q", q.Get("advance"))
				return
			}
			fc.Advance(d)
		}
		ok(map[string]string{"now": fc.Now().UTC().Format(time.RFC3339)})
	case segs[0] == "galleries" && len(segs) == 4 && r.Method == http.MethodPost:
		ok(map[string]string{"id": s.PutGallery(segs[1], segs[2], segs[3], location)})
	case segs[0] == "images" && len(segs) == 5 && r.Method == http.MethodPost:
		var def armcompute.GalleryImage
		if err := json.NewDecoder(r.Body).Decode(&def); err != nil {
			bad("image: a GalleryImage is needed: %v", err)
			return
		}
		if !s.has(galleryID(segs[1], segs[2], segs[3])) {
			bad("image: no gallery %s", galleryID(segs[1], segs[2], segs[3]))
			return
		}
		ok(map[string]string{"id": s.PutImageDefinition(segs[1], segs[2], segs[3], segs[4], def)})
	case segs[0] == "versions" && len(segs) == 6 && r.Method == http.MethodPost:
		var v armcompute.GalleryImageVersion
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			bad("version: a GalleryImageVersion is needed: %v", err)
			return
		}
		if !s.has(imageID(segs[1], segs[2], segs[3], segs[4])) {
			bad("version: no image definition %s", imageID(segs[1], segs[2], segs[3], segs[4]))
			return
		}
		ok(s.PutImageVersion(segs[1], segs[2], segs[3], segs[4], segs[5], v))
	case segs[0] == "versions" && len(segs) == 5 && r.Method == http.MethodGet:
		ok(s.ImageVersions(segs[1], segs[2], segs[3], segs[4]))
	case (segs[0] == "vms" || segs[0] == "scalesets") && len(segs) == 4 && r.Method == http.MethodPost:
		var ref armcompute.ImageReference
		if err := json.NewDecoder(r.Body).Decode(&ref); err != nil {
			bad("%s: an ImageReference is needed: %v", segs[0], err)
			return
		}
		if segs[0] == "vms" {
			ok(map[string]string{"id": s.PutVM(segs[1], segs[2], segs[3], location, ref)})
		} else {
			ok(map[string]string{"id": s.PutScaleSet(segs[1], segs[2], segs[3], location, ref)})
		}
	case (segs[0] == "vms" || segs[0] == "scalesets") && len(segs) == 4 && r.Method == http.MethodDelete:
		id := vmID(segs[1], segs[2], segs[3])
		if segs[0] == "scalesets" {
			id = vmssID(segs[1], segs[2], segs[3])
		}
		s.DeleteVM(id)
		ok(struct{}{})
	default:
		writeJSON(w, 404, errf(404, "NotFound", "armemu has no admin hook %s %s", r.Method, r.URL.Path).body())
	}
}

func (s *Server) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res[key(id)] != nil
}
