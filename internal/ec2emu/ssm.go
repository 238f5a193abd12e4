package ec2emu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Parameter is an SSM parameter; those of data type aws:ec2:image hold AMI ids and
// are what DescribeImageReferences reports as ssm:Parameter references.
type Parameter struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	DataType     string    `json:"dataType"`
	Value        string    `json:"value"`
	Version      int64     `json:"version"`
	LastModified time.Time `json:"lastModified"`
}

// SSM speaks the JSON 1.1 protocol: X-Amz-Target AmazonSSM.<Action>, a JSON body, and
// errors as {"__type": code, "message": …}.
func ssmService() *service {
	return &service{
		name: "ssm",
		handlers: map[string]handler{
			"PutParameter":    putParameter,
			"GetParameter":    getParameter,
			"DeleteParameter": deleteParameter,
		},
		respond: writeJSON,
		fail:    writeJSONError,
		denied: func(c *call) error {
			return errf(400, "AccessDeniedException", "User: arn:aws:iam::%s:user/ec2emu is not authorized to perform: ssm:%s with an explicit deny", c.account, c.action)
		},
	}
}

// jsonService maps an X-Amz-Target to a JSON-protocol service and action.
func (s *Server) jsonService(target string) (svc *service, action string) {
	prefix, action, _ := strings.Cut(target, ".")
	if prefix == "AmazonSSM" {
		return s.ssm, action
	}
	return nil, ""
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, reqID, target string) {
	svc, action := s.jsonService(target)
	if svc == nil {
		writeJSONError(w, reqID, errf(400, "UnknownOperationException", "ec2emu does not serve %s", target))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSONError(w, reqID, errf(400, "SerializationException", "%v", err))
		return
	}
	c := s.newCall(r, url.Values{})
	c.svc, c.action, c.body = svc, action, body
	resp, err := s.serve(c)
	if err != nil {
		svc.fail(w, reqID, err)
		return
	}
	svc.respond(w, action, reqID, resp)
}

// jsonResp is a JSON protocol answer.
type jsonResp struct {
	noID
	v any
}

func writeJSON(w http.ResponseWriter, _, reqID string, body response) {
	out, err := json.Marshal(body.(*jsonResp).v)
	if err != nil {
		writeJSONError(w, reqID, err)
		return
	}
	writeJSONBody(w, reqID, http.StatusOK, out)
}

func writeJSONError(w http.ResponseWriter, reqID string, err error) {
	ae := apiError(err)
	out, _ := json.Marshal(map[string]string{"__type": ae.Code, "message": ae.Message})
	w.Header().Set("X-Amzn-ErrorType", ae.Code)
	writeJSONBody(w, reqID, ae.Status, out)
}

func writeJSONBody(w http.ResponseWriter, reqID string, status int, body []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// decode reads the JSON input into v.
func (c *call) decode(v any) error {
	if err := json.Unmarshal(c.body, v); err != nil {
		return errf(400, "SerializationException", "cannot parse the request: %v", err)
	}
	return nil
}

func (c *call) parameters(create bool) map[string]*Parameter {
	m := c.reg.Parameters[c.account]
	if m == nil && create {
		m = map[string]*Parameter{}
		c.reg.Parameters[c.account] = m
	}
	return m
}

func (c *call) parameterARN(name string) string {
	return "arn:aws:ssm:" + c.region + ":" + c.account + ":parameter/" + strings.TrimPrefix(name, "/")
}

func putParameter(c *call) (response, error) {
	var in struct {
		Name, Value, Type, DataType string
		Overwrite                   bool
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if in.Name == "" || in.Value == "" {
		return nil, errf(400, "ValidationException", "Name and Value are required")
	}
	if in.DataType == "" {
		in.DataType = "text"
	}
	if in.DataType != "text" && in.DataType != "aws:ec2:image" {
		return nil, errf(400, "InvalidDataType", "The data type %s is not supported", in.DataType)
	}
	// Parameter Store validates aws:ec2:image values as AMI ids (SSM user guide,
	// "Native parameter support for Amazon Machine Image IDs").
	if in.DataType == "aws:ec2:image" && !validID(in.Value, "ami") {
		return nil, errf(400, "ValidationException", "The value %s is not a valid AMI id for data type aws:ec2:image", in.Value)
	}
	params := c.parameters(true)
	p := params[in.Name]
	switch {
	case p != nil && !in.Overwrite:
		return nil, errf(400, "ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	case p == nil && in.Type == "":
		return nil, errf(400, "ValidationException", "A parameter type is required when you create a parameter.")
	case p == nil:
		p = &Parameter{Name: in.Name}
		params[in.Name] = p
	}
	if in.Type != "" {
		p.Type = in.Type
	}
	p.Value, p.DataType, p.LastModified = in.Value, in.DataType, c.now
	p.Version++
	return &jsonResp{v: map[string]any{"Version": p.Version, "Tier": "Standard"}}, nil
}

func (c *call) findParameter(name string) (*Parameter, error) {
	if p := c.parameters(false)[name]; p != nil {
		return p, nil
	}
	return nil, errf(400, "ParameterNotFound", "Parameter %s not found.", name)
}

func getParameter(c *call) (response, error) {
	var in struct{ Name string }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	p, err := c.findParameter(in.Name)
	if err != nil {
		return nil, err
	}
	return &jsonResp{v: map[string]any{"Parameter": map[string]any{
		"Name": p.Name, "Type": p.Type, "Value": p.Value, "Version": p.Version, "DataType": p.DataType,
		"ARN": c.parameterARN(p.Name), "LastModifiedDate": float64(p.LastModified.UnixMilli()) / 1000,
	}}}, nil
}

func deleteParameter(c *call) (response, error) {
	var in struct{ Name string }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if _, err := c.findParameter(in.Name); err != nil {
		return nil, err
	}
	delete(c.parameters(false), in.Name)
	return &jsonResp{v: map[string]any{}}, nil
}

// parameterRefs lists the caller's aws:ec2:image parameters that hold imageID.
func (c *call) parameterRefs(imageID string) []imageRefXML {
	params := c.parameters(false)
	var out []imageRefXML
	for _, name := range sortedKeys(params) {
		if p := params[name]; p.DataType == "aws:ec2:image" && p.Value == imageID {
			out = append(out, imageRefXML{c.parameterARN(name), imageID, "ssm:Parameter"})
		}
	}
	return out
}
