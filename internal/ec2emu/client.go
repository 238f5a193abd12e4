package ec2emu

import (
	"net/http"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/wholebody"
)

// HTTPClient returns an http.Client for aws-sdk-go-v2 clients that talk to
// the emulator: one that sends each request body whole (see package
// wholebody), as the plugin's own clients do, so a call is served once.
func HTTPClient() *http.Client {
	return &http.Client{Transport: wholeTransport{http.DefaultTransport.(*http.Transport).Clone()}}
}

type wholeTransport struct{ next http.RoundTripper }

func (t wholeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r, err := wholebody.Request(r)
	if err != nil {
		return nil, err
	}
	return t.next.RoundTrip(r)
}
