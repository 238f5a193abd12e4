package armemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// tokenLifetime is what Entra ID grants an app token, give or take its jitter.
const tokenLifetime = 3599 * time.Second

// claims are the access token claims the emulator writes and ARM checks.
type claims struct {
	Aud   string `json:"aud"`
	Iss   string `json:"iss"`
	Tid   string `json:"tid"`
	Oid   string `json:"oid"`
	Sub   string `json:"sub"`
	AppID string `json:"appid"`
	Idtyp string `json:"idtyp"`
	Ver   string `json:"ver"`
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
	Nbf   int64  `json:"nbf"`
}

// objectID is the service principal's object id: stable per app, distinct from the app id.
func objectID(clientID string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("armemu/"+strings.ToLower(clientID))).String()
}

var b64 = base64.RawURLEncoding

// issue signs an HS256 JWT: clients never verify app tokens, the emulator does.
func (s *Server) issue(c claims) string {
	head := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT","kid":"armemu"}`))
	body, _ := json.Marshal(c)
	signing := head + "." + b64.EncodeToString(body)
	return signing + "." + b64.EncodeToString(s.sign(signing))
}

func (s *Server) sign(in string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(in))
	return m.Sum(nil)
}

// authenticate checks an ARM request's bearer token; callers hold s.mu.
func (s *Server) authenticate(r *http.Request, now time.Time) (*claims, *armError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errf(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, errf(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format.")
	}
	invalid := errf(401, "InvalidAuthenticationToken", "The access token is invalid.")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, invalid
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, s.sign(parts[0]+"."+parts[1])) {
		return nil, invalid
	}
	raw, err := b64.DecodeString(parts[1])
	var c claims
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return nil, invalid
	}
	if !strings.EqualFold(c.Tid, s.tenant) {
		return nil, errf(401, "InvalidAuthenticationTokenTenant", "The access token is from the wrong issuer '%s'. It must match the tenant 'https://sts.windows.net/%s/' associated with this subscription.", c.Iss, s.tenant)
	}
	if !sameURL(c.Aud, s.base) {
		return nil, errf(401, "InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences '%s'.", c.Aud, s.base)
	}
	if now.Unix() >= c.Exp {
		return nil, errf(401, "ExpiredAuthenticationToken", "The access token expiry UTC time '%s' is earlier than current UTC time '%s'.",
			time.Unix(c.Exp, 0).UTC().Format("1/2/2006 3:04:05 PM"), now.UTC().Format("1/2/2006 3:04:05 PM"))
	}
	if now.Add(5*time.Minute).Unix() < c.Nbf {
		return nil, errf(401, "InvalidAuthenticationToken", "The access token is not yet valid.")
	}
	return &c, nil
}

func sameURL(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// serveAuthority answers the Entra ID endpoints MSAL and adal use:
//
//	GET  /common/discovery/instance             instance discovery (MSAL, unless disabled)
//	GET  /{tenant}/v2.0/.well-known/openid-configuration
//	GET  /{tenant}/.well-known/openid-configuration
//	POST /{tenant}/oauth2/v2.0/token            client credentials, scope={resource}/.default
//	POST /{tenant}/oauth2/token                 client credentials, resource= (adal, azure-arm v1)
func (s *Server) serveAuthority(w http.ResponseWriter, r *http.Request, parts []string) {
	action := actionDiscovery
	if len(parts) >= 2 && strings.EqualFold(parts[1], "oauth2") {
		action = actionToken
	}
	now := s.Now()
	status, v, lose := s.authority(r, parts, action, now)
	if lose {
		s.record("", action, r, 0, now)
		panic(http.ErrAbortHandler)
	}
	s.record("", action, r, status, now)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("x-ms-request-id", uuid.NewString())
	if e, ok := v.(*aadError); ok {
		writeJSON(w, e.Status, s.aadBody(e, now))
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) authority(r *http.Request, parts []string, action string, now time.Time) (int, any, bool) {
	kind, latency := s.rollFaults("", action, false)
	if latency > 0 && !wait(r, latency) {
		return 408, aadErrf(408, "temporarily_unavailable", 50000, "The client went away after %s.", latency), false
	}
	switch kind {
	case Throttled:
		return 429, aadErrf(429, "temporarily_unavailable", 50196, "The server has temporarily throttled the request. (injected)"), false
	case ServerError, Conflict, OperationFails:
		return 500, aadErrf(500, "server_error", 50000, "There was an error issuing a token. (injected)"), false
	case Unavailable:
		return 503, aadErrf(503, "temporarily_unavailable", 50000, "The service is temporarily unavailable. (injected)"), false
	}
	lose := kind == LoseAnswer
	if len(parts) == 3 && strings.EqualFold(parts[1], "discovery") && strings.EqualFold(parts[2], "instance") && r.Method == http.MethodGet {
		st, v := s.instanceDiscovery(r)
		return st, v, lose
	}
	if len(parts) == 0 {
		return 404, aadErrf(404, "invalid_request", 90001, "armemu does not serve %s %s", r.Method, r.URL.Path), false
	}
	tenant := parts[0]
	rest := strings.ToLower(strings.Join(parts[1:], "/"))
	// "adfs" is an alias of the tenant: an authority ending in /adfs is the only one
	// MSAL for Python (az) does not send to login.microsoftonline.com for instance
	// discovery, so `az cloud register --endpoint-active-directory {base}adfs` works offline.
	if !strings.EqualFold(tenant, s.tenant) && !strings.EqualFold(tenant, "adfs") {
		return 400, aadErrf(400, "invalid_tenant", 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant), false
	}
	switch {
	case r.Method == http.MethodGet && rest == "v2.0/.well-known/openid-configuration":
		return 200, s.openIDConfig("v2.0"), lose
	case r.Method == http.MethodGet && rest == ".well-known/openid-configuration":
		return 200, s.openIDConfig(""), lose
	case r.Method == http.MethodGet && (rest == "discovery/v2.0/keys" || rest == "discovery/keys"):
		return 200, map[string]any{"keys": []any{}}, lose // HS256 tokens: nothing to publish
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/token":
		st, v := s.token(r, true, now)
		return st, v, lose
	case r.Method == http.MethodPost && rest == "oauth2/token":
		st, v := s.token(r, false, now)
		return st, v, lose
	}
	return 404, aadErrf(404, "invalid_request", 90001, "armemu does not serve %s %s", r.Method, r.URL.Path), false
}

// instanceDiscovery vouches for the emulator's host only: MSAL asks it about the
// authority host and then reads the tenant's openid-configuration from the answer.
func (s *Server) instanceDiscovery(r *http.Request) (int, any) {
	base := s.BaseURL()
	u, err := url.Parse(r.URL.Query().Get("authorization_endpoint"))
	host := strings.TrimSuffix(strings.TrimPrefix(base, "https://"), "/")
	if err != nil || !strings.EqualFold(u.Host, host) {
		return 400, aadErrf(400, "invalid_instance", 50049, "Unknown or invalid instance.")
	}
	tenant := strings.Split(strings.Trim(u.Path, "/"), "/")[0]
	return 200, map[string]any{
		"tenant_discovery_endpoint": base + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	}
}

func (s *Server) openIDConfig(ver string) map[string]any {
	base := s.BaseURL()
	t := base + s.tenant
	if ver == "" {
		return map[string]any{"token_endpoint": t + "/oauth2/token", "authorization_endpoint": t + "/oauth2/authorize",
			"issuer": t + "/", "jwks_uri": base + "common/discovery/keys", "token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_types_supported": []string{"code", "id_token", "code id_token", "token id_token", "token"},
			"subject_types_supported":  []string{"pairwise"}, "id_token_signing_alg_values_supported": []string{"RS256"},
			"tenant_region_scope": "WW", "cloud_instance_name": "emu.invalid"}
	}
	return map[string]any{
		"token_endpoint": t + "/oauth2/v2.0/token", "authorization_endpoint": t + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint": t + "/oauth2/v2.0/devicecode", "end_session_endpoint": t + "/oauth2/v2.0/logout",
		"issuer": t + "/v2.0", "jwks_uri": t + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported": []string{"openid", "profile", "email", "offline_access"}, "request_uri_parameter_supported": false,
		"claims_supported":    []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"},
		"tenant_region_scope": "WW", "cloud_instance_name": "emu.invalid", "cloud_graph_host_name": "graph.emu.invalid", "msgraph_host": "graph.emu.invalid",
	}
}

// token answers the client-credentials grant of the v2 (scope) or v1 (resource) endpoint.
func (s *Server) token(r *http.Request, v2 bool, now time.Time) (int, any) {
	if err := r.ParseForm(); err != nil {
		return 400, aadErrf(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		return 400, aadErrf(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'. armemu serves client_credentials only.", gt)
	}
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok { // client_secret_basic
		id, secret = u, p
	}
	if id == "" {
		return 400, aadErrf(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
	}
	want, known := s.clientSecret(id)
	switch {
	case !known:
		return 400, aadErrf(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", id, s.tenant)
	case f.Get("client_assertion") != "":
		return 401, aadErrf(401, "invalid_client", 700027, "Client assertion failed signature validation: armemu accepts client secrets only.")
	case secret == "":
		return 401, aadErrf(401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
	case subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1:
		return 401, aadErrf(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", id)
	}
	var aud string
	if v2 {
		for _, sc := range strings.Fields(f.Get("scope")) {
			if strings.HasSuffix(sc, ".default") {
				aud = strings.TrimSuffix(strings.TrimSuffix(sc, ".default"), "/")
				break
			}
		}
		if aud == "" {
			return 400, aadErrf(400, "invalid_scope", 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", f.Get("scope"))
		}
		// ARM's own resource id ends in "/" (https://management.core.windows.net/):
		// keep the emulator's that way so tokens name the base URL exactly.
		if sameURL(aud, s.BaseURL()) {
			aud = s.BaseURL()
		}
	} else if aud = f.Get("resource"); aud == "" {
		// MSAL sends scope= to the ADFS-style (v1) endpoint too.
		if sc := strings.Fields(f.Get("scope")); len(sc) > 0 && strings.HasSuffix(sc[0], ".default") {
			aud = strings.TrimSuffix(strings.TrimSuffix(sc[0], ".default"), "/")
			if sameURL(aud, s.BaseURL()) {
				aud = s.BaseURL()
			}
		} else {
			return 400, aadErrf(400, "invalid_request", 900144, "The request body must contain the following parameter: 'resource'.")
		}
	}
	base := s.BaseURL()
	iss := base + s.tenant + "/"
	if v2 {
		iss = base + s.tenant + "/v2.0"
	}
	oid := objectID(id)
	exp := now.Add(s.lifetime)
	tok := s.issue(claims{Aud: aud, Iss: iss, Tid: s.tenant, Oid: oid, Sub: oid, AppID: id, Idtyp: "app", Ver: map[bool]string{true: "2.0", false: "1.0"}[v2],
		Exp: exp.Unix(), Iat: now.Unix(), Nbf: now.Add(-5 * time.Minute).Unix()})
	secs := int(s.lifetime / time.Second)
	if v2 {
		return 200, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok}
	}
	// v1 writes its numbers as strings.
	return 200, map[string]any{"token_type": "Bearer", "expires_in": strconv.Itoa(secs), "ext_expires_in": strconv.Itoa(secs),
		"expires_on": strconv.FormatInt(exp.Unix(), 10), "not_before": strconv.FormatInt(now.Unix(), 10), "resource": aud, "access_token": tok}
}

func (s *Server) clientSecret(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.clients {
		if strings.EqualFold(k, id) {
			return v, true
		}
	}
	return "", false
}

// aadBody is Entra ID's error JSON; the description carries the AADSTS code and
// trace lines as the real one does, since clients show only the description.
func (s *Server) aadBody(e *aadError, now time.Time) map[string]any {
	trace, corr := uuid.NewString(), uuid.NewString()
	ts := now.UTC().Format("2006-01-02 15:04:05Z")
	return map[string]any{"error": e.Err,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.Code, e.Desc, trace, corr, ts),
		"error_codes":       []int{e.Code}, "timestamp": ts, "trace_id": trace, "correlation_id": corr,
		"error_uri": s.BaseURL() + "error?code=" + strconv.Itoa(e.Code)}
}

// wait sleeps for an injected latency unless the client goes away first.
func wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
