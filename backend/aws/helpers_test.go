package aws

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

const account = ec2emu.DefaultAccount

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// clockFunc lets the emulator read the test's clock, so EC2 deprecation
// times and the backend's now agree.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// emu is an in-process emulator with a transport that can break chosen
// requests, and backends talking to it.
type emu struct {
	t   *testing.T
	s   *ec2emu.Server
	url string
	tr  *breaker
	now func() time.Time
}

func newEmu(t *testing.T, now func() time.Time, opts ...ec2emu.Option) *emu {
	s := ec2emu.New(append([]ec2emu.Option{ec2emu.WithClock(clockFunc(now))}, opts...)...)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &emu{t: t, s: s, url: hs.URL, tr: &breaker{next: ec2emu.HTTPClient().Transport}, now: now}
}

// config is an SDK config as the test user, with a retryer that does not
// sleep between attempts.
func (e *emu) config(region, accessKey string) aws.Config {
	return aws.Config{
		Region:      region,
		HTTPClient:  &http.Client{Transport: e.tr},
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, "secret", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

func (e *emu) backend(opts Options) *Backend {
	if opts.Config.Region == "" {
		opts.Config = e.config("us-east-1", "AKIDOWNER")
	}
	opts.EC2Endpoint, opts.AutoScalingEndpoint = e.url, e.url
	return New(opts, e.now)
}

// ami seeds an available EBS AMI with one snapshot, as a build leaves it
// (no lifecycle tags yet), and returns its id.
func (e *emu) ami(region, owner, name string, tags map[string]string) string {
	var id string
	e.s.Update(func(st *ec2emu.State) {
		r := st.Region(region)
		snap := &ec2emu.Snapshot{ID: st.NewID("snap"), OwnerID: owner, VolumeSize: 8, State: "completed", StartTime: e.now()}
		r.Snapshots[snap.ID] = snap
		id = st.NewID("ami")
		r.Images[id] = &ec2emu.Image{ID: id, Name: name, OwnerID: owner, State: "available", CreationDate: e.now().Truncate(time.Second),
			Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs",
			BlockDevices: []ec2emu.BlockDevice{{DeviceName: "/dev/xvda", SnapshotID: snap.ID, VolumeSize: 8, VolumeType: "gp3", DeleteOnTermination: true}}}
		if len(tags) > 0 {
			if r.Tags[id] == nil {
				r.Tags[id] = map[string]string{}
			}
			for k, v := range tags {
				r.Tags[id][k] = v
			}
		}
	})
	return id
}

// image is the emulator's record of an AMI (nil once gone).
func (e *emu) image(region, id string) *ec2emu.Image {
	var out *ec2emu.Image
	e.s.Update(func(st *ec2emu.State) {
		if img := st.Region(region).Images[id]; img != nil {
			c := *img
			out = &c
		}
	})
	return out
}

func (e *emu) tags(region, id string) map[string]string {
	out := map[string]string{}
	e.s.Update(func(st *ec2emu.State) {
		for k, v := range st.Region(region).Tags[id] {
			out[k] = v
		}
	})
	return out
}

func (e *emu) snapshotExists(region, id string) bool {
	var ok bool
	e.s.Update(func(st *ec2emu.State) { ok = st.Region(region).Snapshots[id] != nil })
	return ok
}

// artifact is what amazon-ebs hands a post-processor.
func artifact(id, sourceAMI string) packersdk.Artifact {
	return &packersdk.MockArtifact{BuilderIdValue: "mitchellh.amazonebs", IdValue: id,
		StateValues: map[string]interface{}{"generated_data": map[interface{}]interface{}{"SourceAMI": sourceAMI, "BuildRegion": "us-east-1"}}}
}

func release(family, version string, now time.Time) lifecycle.Image {
	return lifecycle.Image{Family: family, Version: version, Channel: "stable", Name: family + "-" + version,
		BuildTime: now, ReleasedAt: now, StageSince: now, Managed: true, Stage: lifecycle.StageActive, State: lifecycle.StateAvailable,
		Tags: map[string]string{lifecycle.TagManagedBy: lifecycle.DefaultManagedBy}}
}

// breaker fails the requests a rule matches with a non-retryable EC2
// error, as a missing permission or a broken resource would.
type breaker struct {
	next  http.RoundTripper
	mu    sync.Mutex
	rules []func(action string, form url.Values) bool
}

func (b *breaker) breakWhen(rule func(action string, form url.Values) bool) {
	b.mu.Lock()
	b.rules = append(b.rules, rule)
	b.mu.Unlock()
}

func (b *breaker) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	form, _ := url.ParseQuery(string(body))
	b.mu.Lock()
	rules := b.rules
	b.mu.Unlock()
	for _, rule := range rules {
		if rule(form.Get("Action"), form) {
			msg := fmt.Sprintf(`<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>broken by the test: %s</Message></Error></Errors><RequestID>x</RequestID></Response>`, form.Get("Action"))
			return &http.Response{StatusCode: 400, Status: "400 Bad Request", Header: http.Header{"Content-Type": {"text/xml"}},
				Body: io.NopCloser(strings.NewReader(msg)), ContentLength: int64(len(msg)), Request: r}, nil
		}
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return b.next.RoundTrip(r)
}

// hasValue says whether any form value equals v (ImageId.3=v, …).
func hasValue(form url.Values, v string) bool {
	for _, vs := range form {
		for _, x := range vs {
			if x == v {
				return true
			}
		}
	}
	return false
}

var _ = require.NoError
