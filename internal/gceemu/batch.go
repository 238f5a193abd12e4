package gceemu

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
)

// serveBatch answers a multipart/mixed batch (what gcloud sends when one command makes
// several calls, e.g. `images list` over the standard image projects): every part is
// an HTTP request served as if it came alone; the answer is multipart/mixed too.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		writeError(w, invalid("batch request is not multipart: %q", r.Header.Get("Content-Type")))
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, invalid("bad batch part: %v", err))
			return
		}
		id := part.Header.Get("Content-ID")
		sub, err := http.ReadRequest(bufio.NewReader(part))
		if err != nil {
			writeError(w, invalid("bad batch part request: %v", err))
			return
		}
		sub = sub.WithContext(r.Context())
		if sub.Header.Get("Authorization") == "" {
			sub.Header.Set("Authorization", r.Header.Get("Authorization"))
		}
		rec := httptest.NewRecorder()
		s.serveHTTP(rec, sub)
		res := rec.Result()
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/http")
		if id != "" {
			h.Set("Content-ID", "<response-"+strings.Trim(id, "<>")+">")
		}
		pw, _ := mw.CreatePart(h)
		fmt.Fprintf(pw, "HTTP/1.1 %d %s\r\n", res.StatusCode, http.StatusText(res.StatusCode))
		fmt.Fprintf(pw, "Content-Type: %s\r\n", res.Header.Get("Content-Type"))
		fmt.Fprintf(pw, "Content-Length: %d\r\n\r\n", rec.Body.Len())
		_, _ = pw.Write(rec.Body.Bytes())
	}
	_ = mw.Close()
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(200)
	_, _ = w.Write(out.Bytes())
}
