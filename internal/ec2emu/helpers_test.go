package ec2emu

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

const (
	otherAccount = "210987654321"
	otherKey     = "AKIDOTHER"
	ownerKey     = "AKIDOWNER"
)

type env struct {
	t     *testing.T
	s     *Server
	clock *FakeClock
	url   string
}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	clock := NewFakeClock(t0)
	s := New(append([]Option{WithClock(clock)}, opts...)...)
	s.AddAccount(otherKey, otherAccount)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &env{t: t, s: s, clock: clock, url: hs.URL}
}

// client is a real aws-sdk-go-v2 EC2 client for region, as the owner of accessKey.
func (e *env) client(region, accessKey string, attempts int) *ec2.Client {
	cfg := aws.Config{
		Region:      region,
		HTTPClient:  HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, "secret", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts })
		},
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(e.url) })
}

func (e *env) owner() *ec2.Client { return e.client("us-east-1", ownerKey, 1) }
func (e *env) other() *ec2.Client { return e.client("us-east-1", otherKey, 1) }

func requireCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	require.Error(t, err)
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "not an API error: %v", err)
	require.Equal(t, code, ae.ErrorCode(), "error: %v", err)
	var re *awshttp.ResponseError
	require.True(t, errors.As(err, &re))
	require.Equal(t, status, re.HTTPStatusCode(), "error: %v", err)
}

func ptr[T any](v T) *T { return &v }
