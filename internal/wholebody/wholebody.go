// Package wholebody gives AWS SDK clients an HTTP client that hands net/http
// each request body whole, in memory.
//
// Why: a client-side race between smithy-go and net/http (aws-sdk-go-v2
// issues #1825 and #2737). smithy-go passes the body as a reader net/http does
// not know, so net/http writes the headers, then the body, then drains the
// reader once more; smithy-go closes that reader as soon as the response
// headers are in. When the answer comes back fast (an endpoint on loopback or
// in the same zone), the drain can come after the close: net/http's write
// loop then closes the connection under the response, and reading a body
// larger than its 4 KiB buffer fails with "use of closed network
// connection". The SDK retries it, so a call is made twice (about 1 in 30 in
// a tight loop against a local endpoint). A body already in memory is written
// in one go, before the answer can come, and the race is gone.
package wholebody

import (
	"bytes"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Client wraps next, the client an SDK configuration sends with.
func Client(next aws.HTTPClient) aws.HTTPClient { return client{next} }

type client struct{ next aws.HTTPClient }

// Unwrap returns the client it sends with.
func (c client) Unwrap() aws.HTTPClient { return c.next }

func (c client) Do(r *http.Request) (*http.Response, error) {
	r, err := Request(r)
	if err != nil {
		return nil, err
	}
	return c.next.Do(r)
}

// Request returns r with its body read into memory (r itself when it has
// none), so net/http can write it in one go and resend it on a redirect.
func Request(r *http.Request) (*http.Request, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return r, nil
	}
	b, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.ContentLength = int64(len(b))
	return r, nil
}
