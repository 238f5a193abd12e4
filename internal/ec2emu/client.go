package ec2emu

import (
	"bytes"
	"io"
	"net/http"
)

// HTTPClient returns an http.Client for aws-sdk-go-v2 clients that talk to the emulator.
//
// Why: smithy-go wraps request bodies in a reader whose WriteTo returns io.EOF once the
// SDK has closed it, and the SDK closes it as soon as response headers arrive. Against a
// server as fast as this one, net/http's write loop can still be draining the body at
// that moment; it then fails with EOF and closes the connection under the response,
// giving "failed to decode response body ... use of closed network connection" on
// responses larger than the 4 KiB read buffer. Copying the body into memory first
// removes the race. Real EC2 is too slow to trigger it.
func HTTPClient() *http.Client {
	return &http.Client{Transport: bufferingTransport{http.DefaultTransport.(*http.Transport).Clone()}}
}

type bufferingTransport struct{ next http.RoundTripper }

func (t bufferingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		r.ContentLength = int64(len(b))
	}
	return t.next.RoundTrip(r)
}
