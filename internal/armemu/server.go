package armemu

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// call is one ARM request being served.
type call struct {
	s          *Server
	r          *http.Request
	rt         *route
	sub        string   // the subscription, as the emulator spells it; "" for tenant-level
	args       []string // the {} segments of the route
	body       []byte
	q          url.Values
	api        string
	now        time.Time
	who        *claims
	hdr        http.Header // added to the answer
	loseAnswer bool
	opFails    bool // an OperationFails fault: the LRO this request starts ends Failed
}

type handlerFunc func(c *call) (int, any, *armError)

// apiSet names the api-versions a resource provider type accepts.
type apiSet int

const (
	apiAny apiSet = iota // subscriptions, tenants, operation status: any api-version
	apiGallery
	apiCompute
)

// galleryAPIs are Microsoft.Compute/galleries* versions: azure-arm v1.4.5 sends
// 2021-10-01, az 2.45 2022-03-03 (or 2022-01-03), armcompute v7.3.0 2025-03-03.
var galleryAPIs = []string{"2018-06-01", "2019-03-01", "2019-07-01", "2019-12-01", "2020-09-30", "2021-07-01", "2021-10-01",
	"2022-01-03", "2022-03-03", "2022-08-03", "2023-07-03", "2024-03-03", "2025-03-03"}

// computeAPIs are virtualMachines/virtualMachineScaleSets versions: azure-arm sends
// 2021-11-01 (2018-06-01 in templates), armcompute v7.3.0 2025-04-01.
var computeAPIs = []string{"2018-06-01", "2019-07-01", "2020-06-01", "2020-12-01", "2021-03-01", "2021-04-01", "2021-07-01",
	"2021-11-01", "2022-03-01", "2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01",
	"2024-07-01", "2024-11-01", "2025-04-01"}

type route struct {
	verb     string
	segs     []string // "{}" matches any segment; literals match ignoring case, as ARM's do
	action   string   // the RBAC action
	typ      string   // resource type named by api-version errors
	apis     apiSet
	mutation bool // a long-running PUT/PATCH/DELETE
	h        handlerFunc
}

var routes []*route

func handle(verb, pattern, action, typ string, apis apiSet, h handlerFunc) {
	routes = append(routes, &route{verb: verb, segs: strings.Split(pattern, "/"), action: action, typ: typ, apis: apis,
		mutation: verb == http.MethodPut || verb == http.MethodPatch || verb == http.MethodDelete, h: h})
}

// match finds the route; wrongVerb says the path is served under another method.
func match(verb string, parts []string) (rt *route, args []string, wrongVerb bool) {
	for _, r := range routes {
		if len(r.segs) != len(parts) {
			continue
		}
		var a []string
		ok := true
		for i, seg := range r.segs {
			if seg == "{}" {
				a = append(a, parts[i])
			} else if !strings.EqualFold(seg, parts[i]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if r.verb == verb || verb == http.MethodHead && r.verb == http.MethodGet {
			return r, a, false
		}
		wrongVerb = true
	}
	return nil, nil, wrongVerb
}

func splitPath(p string) []string {
	var out []string
	for _, x := range strings.Split(p, "/") {
		if x != "" {
			if u, err := url.PathUnescape(x); err == nil {
				x = u
			}
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	switch {
	case strings.HasPrefix(r.URL.Path, "/_emu/"):
		s.serveAdmin(w, r)
	case len(parts) == 2 && strings.EqualFold(parts[0], "metadata") && strings.EqualFold(parts[1], "endpoints"):
		s.serveMetadata(w, r)
	case len(parts) > 0 && (strings.EqualFold(parts[0], "subscriptions") || strings.EqualFold(parts[0], "tenants") || strings.EqualFold(parts[0], "providers")):
		s.serveARM(w, r, parts)
	default:
		s.serveAuthority(w, r, parts)
	}
}

func (s *Server) serveARM(w http.ResponseWriter, r *http.Request, parts []string) {
	c := &call{s: s, r: r, q: r.URL.Query(), api: r.URL.Query().Get("api-version"), hdr: http.Header{}}
	if len(parts) > 1 && strings.EqualFold(parts[0], "subscriptions") {
		c.sub = parts[1]
		s.mu.Lock()
		if known, ok := s.subscription(parts[1]); ok {
			c.sub = known
		}
		s.mu.Unlock()
	}
	rt, args, wrongVerb := match(r.Method, parts)
	c.rt, c.args = rt, args
	action := ""
	if rt != nil {
		action = rt.action
	}
	status, v, e := s.serveCall(c, wrongVerb)
	now := s.Now()
	if c.loseAnswer {
		s.record(c.sub, action, r, 0, now)
		panic(http.ErrAbortHandler) // net/http drops the connection, answering nothing
	}
	if e != nil {
		status = e.Status
	}
	s.record(c.sub, action, r, status, now)
	s.armHeaders(w, c, now)
	switch {
	case e != nil:
		if e.Status == 401 {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s%s", error="invalid_token", error_description="%s"`, s.BaseURL(), s.tenant, e.Message))
		}
		writeJSON(w, e.Status, e.body())
	case v == nil || r.Method == http.MethodHead:
		w.WriteHeader(status)
	default:
		writeJSON(w, status, v)
	}
}

// armHeaders are on every ARM answer: request ids and the throttling budget left.
func (s *Server) armHeaders(w http.ResponseWriter, c *call, now time.Time) {
	h := w.Header()
	for k, vs := range c.hdr {
		h[k] = vs
	}
	id := uuid.NewString()
	corr := c.r.Header.Get("x-ms-correlation-request-id")
	if corr == "" {
		corr = id
	}
	h.Set("x-ms-request-id", id)
	h.Set("x-ms-correlation-request-id", corr)
	h.Set("x-ms-routing-request-id", "EMU:"+now.UTC().Format("20060102T150405Z")+":"+id)
	h.Set("Cache-Control", "no-cache")
	scope, prefix := c.sub, "x-ms-ratelimit-remaining-subscription-"
	if c.sub == "" {
		scope, prefix = "tenant", "x-ms-ratelimit-remaining-tenant-"
	}
	switch c.r.Method {
	case http.MethodGet, http.MethodHead:
		h.Set(prefix+"reads", strconv.Itoa(s.remaining(scope, "reads", now)))
	case http.MethodDelete:
		h.Set(prefix+"deletes", strconv.Itoa(s.remaining(scope, "deletes", now)))
		h.Set(prefix+"writes", strconv.Itoa(s.remaining(scope, "writes", now)))
	default:
		h.Set(prefix+"writes", strconv.Itoa(s.remaining(scope, "writes", now)))
	}
}

// serveCall checks the api-version, the token, faults, the subscription and RBAC
// outside or under the state lock, then runs the handler under it.
func (s *Server) serveCall(c *call, wrongVerb bool) (int, any, *armError) {
	fail := func(e *armError) (int, any, *armError) { return e.Status, nil, e }
	if c.rt == nil {
		if wrongVerb {
			return fail(errf(405, "MethodNotAllowed", "The requested resource does not support http method '%s'.", c.r.Method))
		}
		return fail(errf(404, "InvalidResourceType", "armemu does not serve %s %s", c.r.Method, c.r.URL.Path))
	}
	if c.api == "" {
		return fail(errf(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."))
	}
	if e := checkAPI(c.rt, c.api); e != nil {
		return fail(e)
	}
	s.mu.Lock()
	who, e := s.authenticate(c.r, s.clock.Now())
	s.mu.Unlock()
	if e != nil {
		return fail(e)
	}
	c.who = who
	kind, latency := s.rollFaults(c.sub, c.rt.action, c.rt.mutation)
	if latency > 0 && !wait(c.r, latency) {
		return fail(errf(408, "RequestTimeout", "The client went away after %s.", latency))
	}
	switch kind {
	case Throttled:
		c.hdr.Set("Retry-After", "1")
		c.hdr.Set("x-ms-ratelimit-remaining-resource", "Microsoft.Compute/HighCostGet3Min;0,Microsoft.Compute/HighCostGet30Min;0")
		return fail(errf(429, "TooManyRequests", "The request is being throttled as the limit has been reached for operation type - %s. For more information, refer to - https://aka.ms/ARMThrottling (injected)", throttleWindow(c.r.Method)))
	case ServerError:
		return fail(errf(500, "InternalServerError", "Encountered internal server error. Diagnostic information: timestamp '%s'. (injected)", s.Now().UTC().Format("20060102T150405Z")))
	case Unavailable:
		c.hdr.Set("Retry-After", "1")
		return fail(errf(503, "ServiceUnavailable", "The service is unavailable now, please try again later. (injected)"))
	case Conflict:
		return fail(errf(409, "Conflict", "The request conflicts with the current state of the resource. (injected)"))
	case LoseAnswer:
		c.loseAnswer = true
	case OperationFails:
		c.opFails = true
	}
	if c.r.Body != nil {
		b, err := io.ReadAll(c.r.Body)
		if err != nil {
			return fail(errf(400, "InvalidRequestContent", "cannot read the request body: %v", err))
		}
		c.body = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.now = s.clock.Now()
	if len(c.args) > 0 && strings.EqualFold(c.rt.segs[0], "subscriptions") {
		if _, ok := s.subscription(c.args[0]); !ok {
			return fail(errf(404, "SubscriptionNotFound", "The subscription '%s' could not be found.", c.args[0]))
		}
	}
	if s.isDenied(c.sub, c.rt.action) {
		return fail(errf(403, "AuthorizationFailed", "The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
			who.AppID, who.Oid, c.rt.action, scopeOf(c.r.URL.Path)))
	}
	return c.rt.h(c)
}

func throttleWindow(verb string) string {
	if verb == http.MethodGet || verb == http.MethodHead {
		return "Read_ObservationWindow_00:05:00"
	}
	return "Write_ObservationWindow_00:05:00"
}

// scopeOf is the request path as ARM names a scope: no trailing slash.
func scopeOf(p string) string { return "/" + strings.Trim(p, "/") }

func checkAPI(rt *route, v string) *armError {
	var ok []string
	switch rt.apis {
	case apiGallery:
		ok = galleryAPIs
	case apiCompute:
		ok = computeAPIs
	default:
		if _, err := time.Parse("2006-01-02", strings.TrimSuffix(strings.SplitN(v, "-preview", 2)[0], "-")); err != nil {
			return errf(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported versions are '2016-06-01,2020-01-01,2022-12-01'.", v)
		}
		return nil
	}
	for _, x := range ok {
		if x == v {
			return nil
		}
	}
	return errf(400, "NoRegisteredProviderFound", "No registered resource provider found for location 'westeurope' and API version '%s' for type '%s'. The supported api-versions are '%s'.", v, rt.typ, strings.Join(ok, ", "))
}

// decode reads the JSON body into v.
func (c *call) decode(v any) *armError {
	if len(c.body) == 0 {
		return errf(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: the body is empty.")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return errf(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v", err)
	}
	return nil
}

// page answers one page of a list, with a nextLink (api-version kept) when more follow.
func (c *call) page(items []any) (int, any, *armError) {
	skip := 0
	if t := c.q.Get("$skiptoken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return 0, nil, invalidParam("$skiptoken", "The value '%s' of parameter '$skiptoken' is invalid.", t)
		}
		skip = min(n, len(items))
	}
	end := min(skip+c.s.pageSize, len(items))
	out := map[string]any{"value": append([]any{}, items[skip:end]...)}
	if end < len(items) {
		q := url.Values{}
		for k, v := range c.q {
			q[k] = v
		}
		q.Set("$skiptoken", strconv.Itoa(end))
		out["nextLink"] = c.s.base + strings.TrimPrefix(c.r.URL.EscapedPath(), "/") + "?" + q.Encode()
	}
	return 200, out, nil
}

// sortedByID sorts entries for stable listing.
func sortedByID(es []*entry) []*entry {
	sort.Slice(es, func(i, j int) bool { return strings.ToLower(es[i].id) < strings.ToLower(es[j].id) })
	return es
}
