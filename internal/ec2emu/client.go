package ec2emu

import (
	"bytes"
	"io"
	"net/http"
)

// HTTPClient returns an http.Client for aws-sdk-go-v2 clients that talk to the emulator.
//
// Why: a client-side race between smithy-go and net/http, not an emulator bug (the
// emulator reads the whole form body before it answers, sends a correct Content-Length
// and keeps the connection alive, as EC2 does). smithy-go hands net/http the body as
// a safeReadCloser, which is not a known in-memory reader, so net/http flushes the
// headers and writes the body straight to the socket; after Content-Length bytes it
// drains the body once more through its WriteTo. smithy-go closes the body as soon as
// Client.Do returns (i.e. when response headers arrive), after which WriteTo returns
// io.EOF as an error. Over loopback the emulator answers within microseconds, so the
// drain can come after the close: net/http's write loop then closes the connection
// under the response, and a body larger than the 4 KiB read buffer fails with "failed
// to decode response body ... use of closed network connection" (about 1 call in 30
// in a tight loop). The SDK's standard retryer treats that error as retryable, so
// real clients (Packer's amazon plugin, our AWS backend) recover with a backoff.
// Copying the body into memory first makes net/http write the request in one flush
// after draining, which removes the race. Real EC2 is too far away to trigger it.
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
