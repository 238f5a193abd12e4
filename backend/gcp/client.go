package gcp

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/impersonate"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/timescale"
)

// UserAgent names the plugin in every Compute Engine call it makes (audit
// logs tell them apart from the googlecompute plugin's).
const UserAgent = "packer-plugin-lifecycle"

// computeScope is all the backend needs.
const computeScope = "https://www.googleapis.com/auth/compute"

// Client is how the backend reaches Compute Engine.
type Client struct {
	// HTTPClient authenticates and retries; nil means http.DefaultClient
	// (tests against the emulator).
	HTTPClient *http.Client
	// Endpoint is the compute base URL ending in "compute/v1/", "" for
	// Google's.
	Endpoint string
}

// ClientOptions builds the client the access options describe: the
// credentials (access_token, credentials_file/json, impersonation or
// Application Default Credentials) over a transport that bounds each
// attempt by call_timeout and retries rate limits and transient failures.
// Nothing is contacted here.
func ClientOptions(ctx context.Context, c Access, retry Retry) (Client, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = cmp.Or(retry.CallTimeout, DefaultCallTimeout)
	rt := &Retrying{Next: base, Attempts: cmp.Or(retry.MaxRetries, DefaultMaxRetries)}
	auth := []option.ClientOption{option.WithScopes(computeScope), option.WithUserAgent(UserAgent)}
	switch {
	case c.AccessToken != "":
		auth = append(auth, option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: c.AccessToken, TokenType: "Bearer"})))
	case c.CredentialsFile != "", c.CredentialsJSON != "":
		data := []byte(c.CredentialsJSON)
		if c.CredentialsFile != "" {
			var err error
			if data, err = os.ReadFile(c.CredentialsFile); err != nil {
				return Client{}, fmt.Errorf("gcp: credentials_file: %w", err)
			}
		}
		var v struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return Client{}, errors.New("gcp: the credentials are not JSON")
		}
		auth = append(auth, option.WithAuthCredentialsJSON(option.CredentialsType(v.Type), data))
	case c.ImpersonateServiceAccount != "":
		ts, err := impersonate.CredentialsTokenSource(ctx, impersonate.CredentialsConfig{
			TargetPrincipal: c.ImpersonateServiceAccount, Scopes: []string{computeScope},
		})
		if err != nil {
			return Client{}, fmt.Errorf("gcp: impersonate_service_account: %w", err)
		}
		auth = append(auth, option.WithTokenSource(ts))
	}
	tr, err := htransport.NewTransport(ctx, rt, auth...)
	if err != nil {
		return Client{}, fmt.Errorf("gcp: credentials: %w", err)
	}
	return Client{HTTPClient: &http.Client{Transport: tr}, Endpoint: c.ComputeEndpoint()}, nil
}

// Retrying retries what Compute Engine asks to be retried: 429, 403
// rateLimitExceeded (its per-minute quotas), 5xx, and a connection that
// failed or dropped before an answer. Re-sending a mutation is safe:
// every one carries a requestId, which Compute Engine uses to apply it
// once. Backoff is exponential with full jitter, 1s doubling to 32s.
type Retrying struct {
	Next     http.RoundTripper
	Attempts int
	// Sleep waits d or until ctx ends (tests make it instant).
	Sleep func(ctx context.Context, d time.Duration) error
}

// RoundTrip sends req up to Attempts times.
func (r *Retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	attempts := max(r.Attempts, 1)
	pause := time.Second
	for attempt := 1; ; attempt++ {
		try := req
		if attempt > 1 && req.Body != nil && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			try = req.Clone(req.Context())
			try.Body = body
		}
		resp, err := r.Next.RoundTrip(try)
		retry := err != nil && req.Context().Err() == nil && (req.Body == nil || req.GetBody != nil)
		if err == nil {
			retry = retryable(resp)
		}
		if !retry || attempt >= attempts {
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		d := time.Duration(rand.Int64N(int64(pause)) + 1)
		d = time.Duration(float64(d) / timescale.Factor())
		sleep := r.Sleep
		if sleep == nil {
			sleep = sleepCtx
		}
		if err := sleep(req.Context(), d); err != nil {
			return nil, err
		}
		pause = min(pause*2, 32*time.Second)
	}
}

// retryable reads enough of a refusal to tell a rate limit from a
// permission error (both are 403), and leaves the body readable.
func retryable(resp *http.Response) bool {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true
	case resp.StatusCode != http.StatusForbidden:
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	rest := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), rest), rest}
	s := string(body)
	return strings.Contains(s, `"rateLimitExceeded"`) || strings.Contains(s, `"userRateLimitExceeded"`)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
