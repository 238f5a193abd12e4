package ec2emu

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"
)

// A minimal STS on the same endpoint (AWS_ENDPOINT_URL_STS): AssumeRole
// answers temporary credentials whose access key belongs to the role's
// account, and records what it was asked (the external id included) for
// tests. Everything else is InvalidAction.

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

// AssumeRoleCall is one AssumeRole request as received.
type AssumeRoleCall struct {
	CallerKey, RoleARN, ExternalID, SessionName, Duration string
	// The temporary credentials answered.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Why it was refused (AccessDenied); empty when it was answered.
	Denied string
}

var stsRoleRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/(.+)$`)

func isSTS(r *http.Request) bool {
	_, _, signedFor := scope(r, r.Form)
	return signedFor == "sts" || r.Form.Get("Version") == "2011-06-15"
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"AssumeRoleResponse"`
	NS      string   `xml:"xmlns,attr"`
	Result  struct {
		Credentials     stsCredentials `xml:"Credentials"`
		AssumedRoleUser struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
	} `xml:"AssumeRoleResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type stsError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	NS      string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, reqID string) {
	key, region, _ := scope(r, r.Form)
	if region == "" {
		region = s.defaultRegion
	}
	action := r.Form.Get("Action")
	s.count(region, action)
	fail := func(status int, code, msg string) {
		var e stsError
		e.NS, e.RequestID = stsNS, reqID
		e.Error.Type, e.Error.Code, e.Error.Message = "Sender", code, msg
		out, _ := xml.Marshal(e)
		writeBody(w, status, out)
	}
	if action != "AssumeRole" {
		fail(400, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service (not supported by ec2emu).", action))
		return
	}
	arn := r.Form.Get("RoleArn")
	m := stsRoleRE.FindStringSubmatch(arn)
	if m == nil {
		fail(400, "ValidationError", "RoleArn is not a role ARN")
		return
	}
	s.mu.Lock()
	caller := s.st.Accounts[key]
	if caller == "" {
		caller = DefaultAccount
	}
	if s.isDenied(caller, "AssumeRole") {
		s.mu.Unlock()
		fail(403, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/caller is not authorized to perform: sts:AssumeRole on resource: %s", caller, arn))
		return
	}
	if why := s.trusts(caller, arn, r.Form.Get("ExternalId")); why != "" {
		// STS does not say why; the call log does, for tests.
		s.assumed = append(s.assumed, AssumeRoleCall{CallerKey: key, RoleARN: arn, ExternalID: r.Form.Get("ExternalId"), SessionName: r.Form.Get("RoleSessionName"), Denied: why})
		s.mu.Unlock()
		fail(403, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::%s:user/caller is not authorized to perform: sts:AssumeRole on resource: %s", caller, arn))
		return
	}
	s.stsSeq++
	n := s.stsSeq
	c := AssumeRoleCall{CallerKey: key, RoleARN: arn, ExternalID: r.Form.Get("ExternalId"), SessionName: r.Form.Get("RoleSessionName"),
		Duration:    r.Form.Get("DurationSeconds"),
		AccessKeyID: fmt.Sprintf("ASIAEMU%013d", n), SecretAccessKey: fmt.Sprintf("emu-sts-secret-%08d", n), SessionToken: fmt.Sprintf("emu-sts-session-token-%08d", n)}
	s.st.Accounts[c.AccessKeyID] = m[1]
	s.assumed = append(s.assumed, c)
	s.mu.Unlock()

	var resp assumeRoleResponse
	resp.NS, resp.RequestID = stsNS, reqID
	// The SDK checks the expiry against the wall clock, not the emulator's.
	resp.Result.Credentials = stsCredentials{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	resp.Result.AssumedRoleUser.Arn = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", m[1], m[2], c.SessionName)
	resp.Result.AssumedRoleUser.AssumedRoleID = "AROAEMU:" + c.SessionName
	out, _ := xml.Marshal(resp)
	writeBody(w, http.StatusOK, out)
}

// Role is the trust policy of a role: who may assume it.
type Role struct {
	// The accounts allowed to assume it; empty: any.
	Trusted []string
	// The external id the trust policy asks for; empty: none.
	ExternalID string
}

// AddRole creates a role. Once any role exists, only the roles added can
// be assumed, each by whom its trust names: as in IAM, a role that does
// not exist or does not trust the caller answers AccessDenied.
func (s *Server) AddRole(arn string, trust Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.roles == nil {
		s.roles = map[string]Role{}
	}
	s.roles[arn] = trust
}

// trusts is why caller may not assume arn with externalID ("" if it may).
func (s *Server) trusts(caller, arn, externalID string) string {
	if s.roles == nil {
		return ""
	}
	role, ok := s.roles[arn]
	switch {
	case !ok:
		return "no such role"
	case len(role.Trusted) > 0 && !slices.Contains(role.Trusted, caller):
		return "the role's trust policy does not name the caller's account"
	case role.ExternalID != externalID:
		return "the external id does not match the role's trust policy"
	}
	return ""
}

// AssumeRoleCalls are the AssumeRole requests received so far.
func (s *Server) AssumeRoleCalls() []AssumeRoleCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AssumeRoleCall(nil), s.assumed...)
}
