package gceemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/api/compute/v1"
)

// req is one API request being served.
type req struct {
	s          *Server
	r          *http.Request
	project    string
	p          *project // nil for public image projects
	args       []string // the {} segments of the route
	body       []byte
	q          url.Values
	now        time.Time
	method     string
	loseAnswer bool
	warnings   []*compute.OperationWarnings // added to the operation the request answers with
}

type handlerFunc func(c *req) (any, *apiError)

type route struct {
	verb, pattern, method string
	h                     handlerFunc
	segs                  []string
}

var routes []*route

func handle(verb, pattern, method string, h handlerFunc) {
	var segs []string
	if pattern != "" {
		segs = strings.Split(pattern, "/")
	}
	routes = append(routes, &route{verb: verb, pattern: pattern, method: method, h: h, segs: segs})
}

func match(verb string, parts []string) (*route, []string) {
	for _, rt := range routes {
		if rt.verb != verb || len(rt.segs) != len(parts) {
			continue
		}
		var args []string
		ok := true
		for i, seg := range rt.segs {
			if seg == "{}" {
				args = append(args, parts[i])
			} else if seg != parts[i] {
				ok = false
				break
			}
		}
		if ok {
			return rt, args
		}
	}
	return nil, nil
}

const apiPrefix = "/compute/v1/projects/"

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/_emu/"):
		s.serveAdmin(w, r)
		return
	case r.URL.Path == "/batch/compute/v1" || r.URL.Path == "/batch":
		s.serveBatch(w, r)
		return
	case !strings.HasPrefix(r.URL.Path, apiPrefix):
		writeError(w, errf(404, "notFound", "gceemu does not serve %s %s", r.Method, r.URL.Path))
		return
	}
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, apiPrefix), "/")
	parts := strings.Split(rest, "/")
	projectID, parts := parts[0], parts[1:]
	verb := r.Method
	if verb == http.MethodPost && r.Header.Get("X-HTTP-Method-Override") != "" {
		verb = r.Header.Get("X-HTTP-Method-Override")
	}
	rt, args := match(verb, parts)
	if rt == nil {
		writeError(w, errf(400, "invalid", "gceemu does not serve %s %s", verb, r.URL.Path))
		return
	}
	c := &req{s: s, r: r, project: projectID, args: args, q: r.URL.Query(), method: rt.method}
	s.count(projectID, rt.method)
	status, v, err := s.serve(c, rt)
	now := s.Now()
	if c.loseAnswer {
		s.record(projectID, rt.method, r, 0, now)
		panic(http.ErrAbortHandler) // net/http drops the connection, answering nothing
	}
	s.record(projectID, rt.method, r, status, now)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, v)
}

// serve runs auth, faults and quotas outside the state lock, then the handler under it.
func (s *Server) serve(c *req, rt *route) (int, any, *apiError) {
	fail := func(e *apiError) (int, any, *apiError) { return e.Code, nil, e }
	if s.token != "" && c.r.Header.Get("Authorization") != "Bearer "+s.token {
		return fail(errf(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."))
	}
	kind, latency := s.rollFaults(c.project, c.method)
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-c.r.Context().Done():
			t.Stop()
			return fail(errf(408, "requestTimeout", "The client went away after %s.", latency))
		}
	}
	switch kind {
	case RateLimited:
		return fail(errf(429, "rateLimitExceeded", "Rate Limit Exceeded (injected)"))
	case ServerError:
		return fail(errf(503, "backendError", "Internal error. Please try again or contact Google Support. (injected)"))
	case LoseAnswer:
		c.loseAnswer = true
	}
	if e := s.takeQuota(c.project, class(c.method), s.Now()); e != nil {
		return fail(e)
	}
	if c.r.Body != nil {
		b, err := io.ReadAll(c.r.Body)
		if err != nil {
			return fail(invalid("cannot read body: %v", err))
		}
		c.body = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.now = s.clock.Now()
	c.p = s.projects[c.project]
	if c.p == nil {
		if !isPublicImageProject(c.project) || !strings.HasPrefix(c.method, "compute.images.") || !isRead(c.method) {
			return fail(notFound("projects/" + c.project))
		}
	}
	if s.isDenied(c.project, c.method) {
		return fail(errf(403, "forbidden", "Required '%s' permission for '%s'", permission(c.method), relPath(c.project, strings.Join(c.argsPath(), "/"))))
	}
	v, e := rt.h(c)
	if e != nil {
		return fail(e)
	}
	return 200, v, nil
}

func (c *req) argsPath() []string {
	rest := strings.Trim(strings.TrimPrefix(c.r.URL.Path, apiPrefix+c.project), "/")
	if rest == "" {
		return nil
	}
	return strings.Split(rest, "/")
}

// permission is the IAM permission GCE names when it refuses a method.
func permission(method string) string {
	m := strings.TrimPrefix(method, "compute.")
	res, verb, _ := strings.Cut(m, ".")
	switch verb {
	case "insert":
		verb = "create"
	case "getFromFamily":
		verb = "useReadOnly"
	case "deprecate":
		verb = "deprecate"
	case "patch":
		verb = "update"
	}
	return "compute." + res + "." + verb
}

// decode reads the JSON body into v.
func (c *req) decode(v any) *apiError {
	if len(c.body) == 0 {
		return invalid("Required field 'resource' not specified")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return errf(400, "parseError", "Invalid JSON payload received. %v", err)
	}
	return nil
}

// publicImageProjects are gcloud's standard image projects: `gcloud compute images
// list` asks them too, and sees them empty.
var publicImageProjects = []string{"centos-cloud", "cos-cloud", "debian-cloud", "fedora-coreos-cloud",
	"opensuse-cloud", "oracle-linux-cloud", "rhel-cloud", "rhel-sap-cloud", "rocky-linux-accelerator-cloud",
	"rocky-linux-cloud", "suse-cloud", "suse-sap-cloud", "ubuntu-os-accelerator-images", "ubuntu-os-cloud",
	"ubuntu-os-pro-cloud", "windows-cloud", "windows-sql-cloud"}

func isPublicImageProject(p string) bool {
	for _, x := range publicImageProjects {
		if x == p {
			return true
		}
	}
	return false
}

// clone deep-copies a compute struct so answers never share state with the store.
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	out := new(T)
	_ = json.Unmarshal(b, out)
	return out
}
