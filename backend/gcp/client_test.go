package gcp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func noSleep(context.Context, time.Duration) error { return nil }

// The transport retries what Compute Engine asks to be retried, re-sending
// the whole body, and gives up on everything else at once.
func TestRetryingRetriesRateLimitsAndTransientFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    func(w http.ResponseWriter)
		retried bool
	}{
		{"429", func(w http.ResponseWriter) { w.WriteHeader(429) }, true},
		{"503", func(w http.ResponseWriter) { w.WriteHeader(503) }, true},
		{"403 rate limit", func(w http.ResponseWriter) {
			w.WriteHeader(403)
			io.WriteString(w, `{"error":{"code":403,"errors":[{"reason":"rateLimitExceeded"}]}}`)
		}, true},
		{"dropped connection", func(w http.ResponseWriter) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, true},
		{"403 forbidden", func(w http.ResponseWriter) {
			w.WriteHeader(403)
			io.WriteString(w, `{"error":{"code":403,"errors":[{"reason":"forbidden"}]}}`)
		}, false},
		{"404", func(w http.ResponseWriter) { w.WriteHeader(404) }, false},
		{"412", func(w http.ResponseWriter) { w.WriteHeader(412) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			var bodies []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				bodies = append(bodies, string(b))
				if n.Add(1) <= 2 {
					tc.fail(w)
					return
				}
				io.WriteString(w, "ok")
			}))
			defer srv.Close()
			c := &http.Client{Transport: &Retrying{Next: http.DefaultTransport, Attempts: 5, Sleep: noSleep}}
			resp, err := c.Post(srv.URL, "application/json", strings.NewReader(`{"labels":{"a":"b"}}`))
			if !tc.retried {
				require.NoError(t, err)
				require.NotEqual(t, 200, resp.StatusCode)
				body, _ := io.ReadAll(resp.Body)
				if strings.Contains(tc.name, "403") {
					require.Contains(t, string(body), "forbidden", "the refusal stays readable")
				}
				require.EqualValues(t, 1, n.Load())
				return
			}
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			require.EqualValues(t, 3, n.Load())
			for _, b := range bodies {
				require.Equal(t, `{"labels":{"a":"b"}}`, b, "every attempt carries the whole body")
			}
		})
	}
}

func TestRetryingGivesUpAfterAttempts(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(429)
	}))
	defer srv.Close()
	c := &http.Client{Transport: &Retrying{Next: http.DefaultTransport, Attempts: 4, Sleep: noSleep}}
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	require.Equal(t, 429, resp.StatusCode)
	require.EqualValues(t, 4, n.Load())
}

type fakeArtifact struct {
	id, text string
	state    map[string]interface{}
}

func (a fakeArtifact) BuilderId() string          { return BuilderID }
func (a fakeArtifact) Files() []string            { return nil }
func (a fakeArtifact) Id() string                 { return a.id }
func (a fakeArtifact) String() string             { return a.text }
func (a fakeArtifact) State(k string) interface{} { return a.state[k] }
func (a fakeArtifact) Destroy() error             { return nil }

var _ packersdk.Artifact = fakeArtifact{}

// The image's project is image_project_id (in String()), not the build's
// project_id (state ProjectId); the parent is the source image.
func TestNewReleasesReadsTheImageProject(t *testing.T) {
	be, err := New(context.Background(), Options{Projects: []string{"lifecycle-test"}}, nil)
	require.NoError(t, err)
	a := fakeArtifact{id: "web-1-0-0", text: "A disk image was created in the 'lifecycle-other' project: web-1-0-0",
		state: map[string]interface{}{"ProjectId": "lifecycle-test", "generated_data": map[interface{}]interface{}{"SourceImageName": "debian-12-v1"}}}
	imgs, err := be.NewReleases(a, lifecycle.Image{Family: "web", Version: "1.0.0"})
	require.NoError(t, err)
	require.Len(t, imgs, 1)
	require.Equal(t, lifecycle.Ref{Region: "lifecycle-other", ID: "web-1-0-0"}, imgs[0].Ref())
	require.Equal(t, "debian-12-v1", imgs[0].Parent)
	require.Contains(t, be.Projects(), "lifecycle-other", "the image's project is swept")

	a.text = "something else"
	imgs, err = be.NewReleases(a, lifecycle.Image{Family: "web", Version: "1.0.0", Parent: "base-2"})
	require.NoError(t, err)
	require.Equal(t, "lifecycle-test", imgs[0].Region, "else the build's project")
	require.Equal(t, "base-2", imgs[0].Parent, "a parent the template gives wins")

	for _, id := range []string{"", "us-east-1:ami-0123456789abcdef0", "Web_1", "/tmp/disk.qcow2"} {
		_, err := be.NewReleases(fakeArtifact{id: id}, lifecycle.Image{Family: "web", Version: "1"})
		require.ErrorContains(t, err, "not an image name", id)
	}
}
