package ec2emu

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

const ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"

// timeFormat is how EC2 prints timestamps (creationDate, launchTime, ...).
const timeFormat = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// response is a success body; every one embeds base, which carries the request id.
type response interface{ setRequestID(string) }

type base struct {
	RequestID string `xml:"requestId"`
}

func (b *base) setRequestID(id string) { b.RequestID = id }

// returnResp is the common `<return>true</return>` body.
type returnResp struct {
	base
	Return bool `xml:"return"`
}

func ok() (response, error) { return &returnResp{Return: true}, nil }

// emptyResp is for actions whose output has no members (CreateTags, DeleteSnapshot, ...).
type emptyResp struct{ base }

// APIError is an EC2 error: code, message and HTTP status.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, format string, args ...any) error {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// badParam is the usual 400 InvalidParameterValue.
func badParam(format string, args ...any) error {
	return errf(400, "InvalidParameterValue", format, args...)
}

// writeResponse marshals body as <ActionResponse xmlns=...> with the request id first.
func writeResponse(w http.ResponseWriter, action, reqID string, body response) {
	body.setRequestID(reqID)
	start := xml.StartElement{
		Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ec2NS}},
	}
	out, err := xml.Marshal(wrapped{start: start, body: body})
	if err != nil {
		writeError(w, reqID, errf(500, "InternalError", "marshal: %v", err))
		return
	}
	writeBody(w, http.StatusOK, out)
}

// writeBody sends the whole document with a Content-Length, in one write.
func writeBody(w http.ResponseWriter, status int, doc []byte) {
	body := append([]byte(xml.Header), doc...)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// wrapped lets the response element's name come from the action, not the Go type.
type wrapped struct {
	start xml.StartElement
	body  any
}

func (w wrapped) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	return e.EncodeElement(w.body, w.start)
}

type errorXML struct {
	XMLName   xml.Name  `xml:"Response"`
	Errors    []errItem `xml:"Errors>Error"`
	RequestID string    `xml:"RequestID"`
}

type errItem struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func apiError(err error) *APIError {
	if ae, ok := err.(*APIError); ok {
		return ae
	}
	return &APIError{Status: 500, Code: "InternalError", Message: err.Error()}
}

// writeError writes EC2's error envelope with the error's HTTP status.
func writeError(w http.ResponseWriter, reqID string, err error) {
	ae := apiError(err)
	out, _ := xml.Marshal(errorXML{Errors: []errItem{{ae.Code, ae.Message}}, RequestID: reqID})
	writeBody(w, ae.Status, out)
}

// tagXML is a <tagSet><item>.
type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}
