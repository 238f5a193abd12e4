package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	compute "google.golang.org/api/compute/v1"
)

// serviceAccount is a service account key whose token_uri is the run's
// endpoint: clients using it exchange a signed JWT for an access token
// there (OAuth 2.0 JWT bearer grant, as at oauth2.googleapis.com/token).
type serviceAccount struct {
	key    *rsa.PrivateKey
	file   string
	issued int // access tokens handed out for a valid assertion
}

const saToken = "ya29.emulated-service-account-token"

// serviceAccount writes a key file and serves its token endpoint.
func (g *gcpRun) serviceAccount() string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(g.t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(g.t, err)
	body, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": gcpProject, "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "packer@" + gcpProject + ".iam.gserviceaccount.com", "client_id": "1234567890",
		"auth_uri": g.url + "auth", "token_uri": g.url + "token",
	})
	require.NoError(g.t, err)
	file := filepath.Join(g.t.TempDir(), "sa.json")
	require.NoError(g.t, os.WriteFile(file, body, 0o600))
	g.mu.Lock()
	g.sa = &serviceAccount{key: key, file: file}
	g.mu.Unlock()
	return file
}

// token answers a JWT bearer grant whose assertion the key signed.
func (sa *serviceAccount) token(w http.ResponseWriter, r *http.Request) bool {
	if r.ParseForm() != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		return false
	}
	parts := strings.Split(r.Form.Get("assertion"), ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&sa.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return false
	}
	sa.issued++
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": saToken, "token_type": "Bearer", "expires_in": 3600})
	return true
}

// TestGCPDataSourcesSideBySide: the googlecompute plugin's own
// googlecompute-image data source and lifecycle-image, through the real
// Packer with a service account key (Application Default Credentials for
// the one, credentials_file for ours). They agree while the newest release
// is supported; once it expires, googlecompute-image (which knows nothing
// of expiry) still hands it out, lifecycle-image the newest supported one.
func TestGCPDataSourcesSideBySide(t *testing.T) {
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	g := newGCPRun(t, start)
	sa := g.serviceAccount()
	for i, v := range []string{"1-0-0", "1-1-0", "1-2-0"} {
		expires := start.Add(365 * 24 * time.Hour)
		if v == "1-2-0" {
			expires = start.Add(24 * time.Hour)
		}
		g.s.PutImage(gcpProject, &compute.Image{Name: "web-" + v, Family: "web", Labels: map[string]string{
			"lifecycle-family": "web", "lifecycle-version": strings.ReplaceAll(v, "-", "_2e"), "lifecycle-channel": "stable",
			"lifecycle-managed-by": "packer-plugin-lifecycle", "lifecycle-stage": "active",
			"lifecycle-released-at": "20260201t000000z", "lifecycle-expires-at": strings.ToLower(expires.Format("20060102T150405Z")),
		}, CreationTimestamp: start.Add(time.Duration(i-3) * 24 * time.Hour).Format(time.RFC3339)})
	}
	show := func() string {
		r := packerEnv(g.dir, append(g.env(), "GOOGLE_APPLICATION_CREDENTIALS="+sa),
			"build", "-color=false", "-var", "endpoint="+g.url+"compute/v1/", "-var", "credentials="+sa, "datasources.pkr.hcl")
		noPublicGoogle(t, r)
		mustSucceed(t, r)
		return r.stdout
	}
	mustContain(t, show(), "googlecompute-image=web-1-2-0 lifecycle-image=web-1-2-0")
	g.advance(2 * 24 * time.Hour)
	mustContain(t, show(), "googlecompute-image=web-1-2-0 lifecycle-image=web-1-1-0")

	g.mu.Lock()
	issued := g.sa.issued
	g.mu.Unlock()
	require.GreaterOrEqual(t, issued, 4, "both data sources, both runs, exchanged the key for a token")
	agents := map[bool]bool{}
	for _, c := range g.s.Journal() {
		if c.Method == "compute.images.list" {
			agents[strings.Contains(c.Agent, "packer-plugin-lifecycle")] = true
		}
	}
	require.Equal(t, map[bool]bool{true: true, false: true}, agents, "both data sources listed the images")
}
