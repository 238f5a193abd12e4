package armemu_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

func (e *env) admin(method, path, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+"_emu/"+path, strings.NewReader(body))
	require.NoError(e.t, err)
	resp, err := e.s.HTTPClient().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

// TestAdminHooks drives the emulator as cmd/armemu's users do: seeding, faults,
// deny, clock and counters over HTTP, checked through the real client.
func TestAdminHooks(t *testing.T) {
	e := newEnv(t)
	st, b := e.admin("POST", "galleries/"+sub+"/"+rg+"/"+gal+"?location=westeurope", "")
	require.Equal(t, 200, st, string(b))
	st, b = e.admin("POST", "images/"+sub+"/"+rg+"/"+gal+"/"+def, `{"properties":{"osType":"Linux","osState":"Generalized","identifier":{"publisher":"p","offer":"o","sku":"s"}}}`)
	require.Equal(t, 200, st, string(b))
	st, b = e.admin("POST", "versions/"+sub+"/"+rg+"/"+gal+"/"+def+"/1.0.0", `{"location":"westeurope","properties":{"publishingProfile":{"endOfLifeDate":"2030-01-01T00:00:00Z"}}}`)
	require.Equal(t, 200, st, string(b))
	var seeded armcompute.GalleryImageVersion
	require.NoError(t, json.Unmarshal(b, &seeded))
	require.Equal(t, versionIDOf("1.0.0"), *seeded.ID)
	st, b = e.admin("POST", "versions/"+sub+"/"+rg+"/nogallery/"+def+"/1.0.0", `{}`)
	require.Equal(t, 400, st, string(b))

	got, err := e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	require.NoError(t, err)
	require.True(t, got.Properties.PublishingProfile.PublishedDate.Equal(t0))
	require.True(t, got.Properties.PublishingProfile.EndOfLifeDate.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)))

	st, _ = e.admin("POST", "vms/"+sub+"/rg-app/vm1", `{"id":"`+versionIDOf("1.0.0")+`"}`)
	require.Equal(t, 200, st)
	vms, err := armcompute.NewVirtualMachinesClient(sub, e.cred, e.options(0))
	require.NoError(t, err)
	vm, err := vms.Get(ctx, "rg-app", "vm1", nil)
	require.NoError(t, err)
	require.Equal(t, "1.0.0", *vm.Properties.StorageProfile.ImageReference.ExactVersion)

	st, b = e.admin("POST", "faults", `{"action":"`+verRead+`","kind":"Conflict","times":1}`)
	require.Equal(t, 200, st, string(b))
	_, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 409, "Conflict")
	st, _ = e.admin("POST", "faults", `{"kind":"NoSuchKind"}`)
	require.Equal(t, 400, st)

	st, _ = e.admin("POST", "deny?scope="+sub+"&action="+verRead, "")
	require.Equal(t, 200, st)
	_, err = e.versions().Get(ctx, rg, gal, def, "1.0.0", nil)
	requireARMError(t, err, 403, "AuthorizationFailed")

	st, b = e.admin("POST", "clock?advance=1h", "")
	require.Equal(t, 200, st)
	require.Contains(t, string(b), "2026-03-02T13:00:00Z")
	require.True(t, e.s.Now().Equal(t0.Add(time.Hour)))

	st, b = e.admin("GET", "calls", "")
	require.Equal(t, 200, st)
	var calls map[string]int
	require.NoError(t, json.Unmarshal(b, &calls))
	require.Equal(t, map[string]int{verRead: 3, "Microsoft.Compute/virtualMachines/read": 1}, calls)
	st, b = e.admin("GET", "journal", "")
	require.Equal(t, 200, st)
	var journal []map[string]any
	require.NoError(t, json.Unmarshal(b, &journal))
	require.Equal(t, "token", journal[1]["action"], "lower-case json tags")
	require.Equal(t, float64(403), journal[len(journal)-1]["status"])

	st, b = e.admin("GET", "ca.pem", "")
	require.Equal(t, 200, st)
	require.Equal(t, string(e.s.CACertPEM()), string(b))
	st, _ = e.admin("POST", "reset", "")
	require.Equal(t, 200, st)
	require.Empty(t, e.s.Calls())
	st, _ = e.admin("GET", "nothing", "")
	require.Equal(t, 404, st)
}

// TestCertificates: CertPool verifies the server, and a client without it fails.
func TestCertificates(t *testing.T) {
	e := newEnv(t)
	require.True(t, strings.HasPrefix(e.base, "https://127.0.0.1:"))
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.s.CertPool()}}}
	resp, err := c.Get(e.base + "metadata/endpoints?api-version=2020-06-01")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	_, err = http.Get(e.base + "metadata/endpoints?api-version=2020-06-01") // system roots
	require.Error(t, err)
	require.Contains(t, err.Error(), "certificate")
	_, err = armemu.New().HTTPClient().Get(e.base + "metadata/endpoints") // another emulator's CA
	require.Error(t, err)
}
