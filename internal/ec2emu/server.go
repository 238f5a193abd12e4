package ec2emu

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// call is one request being served: its parameters and who is asking where.
type call struct {
	s       *Server
	action  string
	form    url.Values
	region  string
	account string
	reg     *Region
	now     time.Time
}

type handler func(c *call) (response, error)

var scopeRE = regexp.MustCompile(`Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request`)

// scope extracts the access key and region from a SigV4 Authorization header (or a
// presigned X-Amz-Credential); signatures are deliberately not verified.
func scope(r *http.Request, form url.Values) (accessKey, region string) {
	h := r.Header.Get("Authorization")
	if m := scopeRE.FindStringSubmatch(h); m != nil {
		return m[1], m[2]
	}
	if cred := form.Get("X-Amz-Credential"); cred != "" {
		parts := strings.Split(cred, "/")
		if len(parts) >= 3 {
			return parts[0], parts[2]
		}
	}
	return "", ""
}

// ServeHTTP answers EC2 Query requests on any path but /_emu/ (admin hooks).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emu/") {
		s.serveAdmin(w, r)
		return
	}
	reqID := s.requestID()
	if err := r.ParseForm(); err != nil {
		writeError(w, reqID, errf(400, "MalformedQueryString", "cannot parse form: %v", err))
		return
	}
	c := s.newCall(r)
	if c.action == "" {
		writeError(w, reqID, errf(400, "MissingAction", "The request must contain the parameter Action"))
		return
	}
	resp, err := s.serve(c)
	if err != nil {
		writeError(w, reqID, err)
		return
	}
	writeResponse(w, c.action, reqID, resp)
}

func (s *Server) newCall(r *http.Request) *call {
	key, region := scope(r, r.Form)
	if region == "" {
		region = s.defaultRegion
	}
	s.mu.Lock()
	account := s.st.Accounts[key]
	s.mu.Unlock()
	if account == "" {
		account = DefaultAccount
	}
	return &call{s: s, action: r.Form.Get("Action"), form: r.Form, region: region, account: account}
}

// serve runs faults and rate limits outside the state lock (latency must not block other
// clients), then the handler under it.
func (s *Server) serve(c *call) (response, error) {
	s.count(c.region, c.action)
	if err := s.inject(c); err != nil {
		return nil, err
	}
	h, ok := s.handlers[c.action]
	if !ok {
		return nil, errf(400, "InvalidAction", "The action %s is not valid for this web service (not supported by ec2emu).", c.action)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied[c.account+"/"+c.action] {
		return nil, errf(403, "UnauthorizedOperation", "You are not authorized to perform this operation (%s).", c.action)
	}
	dry, err := c.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	if dry {
		return nil, errf(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	c.reg = s.st.region(c.region)
	c.now = s.clock.Now().UTC()
	return h(c)
}

func (s *Server) requestID() string {
	s.mu.Lock()
	s.reqSeq++
	n := s.reqSeq
	s.mu.Unlock()
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", n)
}

// newID allocates an id from the global sequence (ids are unique across regions).
func (c *call) newID(prefix string) string { return c.s.st.NewID(prefix) }

func formatID(prefix string, seq uint64) string {
	return fmt.Sprintf("%s-%017x", prefix, 0xabc0000+seq)
}

var idRE = regexp.MustCompile(`^[a-z]+-([0-9a-f]{8}|[0-9a-f]{17})$`)

// validID says whether id looks like prefix-<8 or 17 hex digits>.
func validID(id, prefix string) bool {
	return strings.HasPrefix(id, prefix+"-") && idRE.MatchString(id)
}

func (s *Server) dispatchTable() map[string]handler {
	return map[string]handler{
		"DescribeImages":                       describeImages,
		"DescribeImageAttribute":               describeImageAttribute,
		"ModifyImageAttribute":                 modifyImageAttribute,
		"CreateImage":                          createImage,
		"CopyImage":                            copyImage,
		"DeregisterImage":                      deregisterImage,
		"EnableImageDeprecation":               enableImageDeprecation,
		"DisableImageDeprecation":              disableImageDeprecation,
		"DisableImage":                         disableImage,
		"EnableImage":                          enableImage,
		"EnableImageDeregistrationProtection":  enableProtection,
		"DisableImageDeregistrationProtection": disableProtection,
		"DescribeSnapshots":                    describeSnapshots,
		"DeleteSnapshot":                       deleteSnapshot,
		"CreateTags":                           createTags,
		"DeleteTags":                           deleteTags,
		"DescribeTags":                         describeTags,
		"RunInstances":                         runInstances,
		"DescribeInstances":                    describeInstances,
		"StopInstances":                        stopInstances,
		"StartInstances":                       startInstances,
		"TerminateInstances":                   terminateInstances,
		"CreateLaunchTemplate":                 createLaunchTemplate,
		"CreateLaunchTemplateVersion":          createLaunchTemplateVersion,
		"DescribeLaunchTemplates":              describeLaunchTemplates,
		"DescribeLaunchTemplateVersions":       describeLaunchTemplateVersions,
		"DeleteLaunchTemplate":                 deleteLaunchTemplate,
		"DescribeImageReferences":              describeImageReferences,
		"DescribeRegions":                      describeRegions,
		"CreateKeyPair":                        createKeyPair,
		"DeleteKeyPair":                        deleteKeyPair,
		"DescribeKeyPairs":                     describeKeyPairs,
		"CreateSecurityGroup":                  createSecurityGroup,
		"DescribeSecurityGroups":               describeSecurityGroups,
		"AuthorizeSecurityGroupIngress":        authorizeIngress,
		"DeleteSecurityGroup":                  deleteSecurityGroup,
		"DescribeVolumes":                      describeVolumes,
		"DeleteVolume":                         deleteVolume,
	}
}
