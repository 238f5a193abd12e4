package armemu_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3, "a JWT has three parts")
	head, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	require.Contains(t, string(head), `"alg":"HS256"`)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

func TestClientSecretCredential(t *testing.T) {
	for _, disable := range []bool{true, false} {
		t.Run("DisableInstanceDiscovery="+strconv.FormatBool(disable), func(t *testing.T) {
			e := newEnv(t)
			tok, err := e.credential(armemu.DefaultClientSecret, disable).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{e.base + ".default"}})
			require.NoError(t, err)
			c := jwtClaims(t, tok.Token)
			require.Equal(t, e.base, c["aud"])
			require.Equal(t, armemu.DefaultTenant, c["tid"])
			require.Equal(t, armemu.DefaultClientID, c["appid"])
			require.NotEmpty(t, c["oid"])
			require.NotEqual(t, c["appid"], c["oid"])
			require.Equal(t, e.base+armemu.DefaultTenant+"/v2.0", c["iss"])
			require.EqualValues(t, t0.Unix(), c["iat"])
			require.EqualValues(t, t0.Add(3599*time.Second).Unix(), c["exp"], "exp follows the emulator clock")
			require.Greater(t, time.Until(tok.ExpiresOn), 50*time.Minute, "MSAL reads expires_in")

			var paths []string
			for _, call := range e.s.Journal() {
				paths = append(paths, call.Action+" "+call.Verb+" "+call.Path)
			}
			openid := "discovery GET /" + armemu.DefaultTenant + "/v2.0/.well-known/openid-configuration"
			token := "token POST /" + armemu.DefaultTenant + "/oauth2/v2.0/token"
			if disable {
				require.Equal(t, []string{openid, token}, paths)
			} else {
				// MSAL asks login.microsoftonline.com about an unknown authority host
				// (HTTPClient routes that to the emulator): once for its token cache's
				// aliases, once to resolve the endpoints.
				discovery := "discovery GET /common/discovery/instance"
				require.Equal(t, []string{discovery, discovery, openid, token}, paths)
			}
			require.Empty(t, e.s.Calls(), "token requests are not ARM actions")

			// The token is good for ARM.
			pager := e.galleries().NewListByResourceGroupPager(rg, nil)
			page, err := pager.NextPage(ctx)
			require.NoError(t, err)
			require.Empty(t, page.Value)
		})
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	scope := policy.TokenRequestOptions{Scopes: []string{e.base + ".default"}}
	_, err := e.credential("wrong", true).GetToken(ctx, scope)
	require.Error(t, err)
	require.Contains(t, err.Error(), "AADSTS7000215")
	require.Contains(t, err.Error(), "Invalid client secret")

	for name, tc := range map[string]struct {
		tenant, client, secret, scope string
		status                        int
		code                          string
	}{
		"wrong secret":   {armemu.DefaultTenant, armemu.DefaultClientID, "nope", e.base + ".default", 401, "AADSTS7000215"},
		"unknown client": {armemu.DefaultTenant, "11111111-1111-1111-1111-111111111111", "x", e.base + ".default", 400, "AADSTS700016"},
		"unknown tenant": {"22222222-2222-2222-2222-222222222222", armemu.DefaultClientID, armemu.DefaultClientSecret, e.base + ".default", 400, "AADSTS90002"},
		"no .default":    {armemu.DefaultTenant, armemu.DefaultClientID, armemu.DefaultClientSecret, e.base + "read", 400, "AADSTS1002012"},
	} {
		t.Run(name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.client}, "client_secret": {tc.secret}, "scope": {tc.scope}}
			resp, err := e.s.HTTPClient().PostForm(e.base+tc.tenant+"/oauth2/v2.0/token", form)
			require.NoError(t, err)
			defer resp.Body.Close()
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
				Codes       []int  `json:"error_codes"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			require.Equal(t, tc.status, resp.StatusCode)
			require.True(t, strings.HasPrefix(body.Description, tc.code+":"), body.Description)
			require.Equal(t, []int{atoi(t, strings.TrimPrefix(tc.code, "AADSTS"))}, body.Codes)
			require.NotEmpty(t, body.Error)
		})
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// TestTokenV1 is adal's request (the azure-arm v1 builder): resource=, numbers as strings.
func TestTokenV1(t *testing.T) {
	e := newEnv(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {armemu.DefaultClientID},
		"client_secret": {armemu.DefaultClientSecret}, "resource": {e.base}}
	resp, err := e.s.HTTPClient().PostForm(e.base+armemu.DefaultTenant+"/oauth2/token?api-version=1.0", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var tok map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	require.Equal(t, "Bearer", tok["token_type"])
	require.Equal(t, e.base, tok["resource"])
	require.Equal(t, strconv.FormatInt(t0.Add(3599*time.Second).Unix(), 10), tok["expires_on"])
	require.Equal(t, "3599", tok["expires_in"])
	c := jwtClaims(t, tok["access_token"].(string))
	require.Equal(t, e.base, c["aud"])
	require.NotEmpty(t, c["oid"], "the builder reads oid from the token")

	r, _ := e.unauthenticated("GET", "subscriptions?api-version=2016-06-01", map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)})
	require.Equal(t, 200, r.StatusCode)

	// The key vault token the builder also asks for is issued, but not good for ARM.
	form.Set("resource", "https://vault.emu.invalid")
	resp2, err := e.s.HTTPClient().PostForm(e.base+armemu.DefaultTenant+"/oauth2/token", form)
	require.NoError(t, err)
	defer resp2.Body.Close()
	require.Equal(t, 200, resp2.StatusCode)
	var kv map[string]any
	require.NoError(t, json.NewDecoder(resp2.Body).Decode(&kv))
	r, b := e.unauthenticated("GET", "subscriptions?api-version=2016-06-01", map[string]string{"Authorization": "Bearer " + kv["access_token"].(string)})
	require.Equal(t, 401, r.StatusCode)
	require.Contains(t, string(b), "InvalidAuthenticationTokenAudience")
}

type staticToken string

func (s staticToken) GetToken(_ context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	// Through the real client, with a token the emulator did not issue.
	c, err := armcompute.NewGalleriesClient(sub, staticToken("not.a.token"), e.options(-1))
	require.NoError(t, err)
	_, err = c.NewListByResourceGroupPager(rg, nil).NextPage(ctx)
	re := requireARMError(t, err, 401, "InvalidAuthenticationToken")
	require.Equal(t, `Bearer authorization_uri="`+e.base+armemu.DefaultTenant+`", error="invalid_token", error_description="The access token is invalid."`,
		re.RawResponse.Header.Get("WWW-Authenticate"))

	// No header at all: the builder's tenant lookup (#0c) reads the tenant from the challenge.
	r, b := e.unauthenticated("GET", "subscriptions/"+sub+"?api-version=2016-06-01", nil)
	require.Equal(t, 401, r.StatusCode)
	require.Contains(t, r.Header.Get("WWW-Authenticate"), `authorization_uri="`+e.base+armemu.DefaultTenant+`"`)
	require.Contains(t, string(b), `"AuthenticationFailed"`)

	// A token the emulator issued is refused once the emulator clock passes its exp:
	// MSAL's cache (real time) still hands it out.
	_, err = e.galleries().NewListByResourceGroupPager(rg, nil).NextPage(ctx)
	require.NoError(t, err)
	e.clk.Advance(2 * time.Hour)
	_, err = e.galleries().NewListByResourceGroupPager(rg, nil).NextPage(ctx)
	requireARMError(t, err, 401, "ExpiredAuthenticationToken")
	e.cred = e.credential(armemu.DefaultClientSecret, true) // a new credential fetches a new token
	_, err = e.galleries().NewListByResourceGroupPager(rg, nil).NextPage(ctx)
	require.NoError(t, err)

	calls := e.s.Calls()
	require.Equal(t, 4, calls["Microsoft.Compute/galleries/read"], "refused requests count too")
	require.Equal(t, 1, calls["Microsoft.Resources/subscriptions/read"])
}

func TestMetadataEndpoints(t *testing.T) {
	e := newEnv(t)
	r, b := e.unauthenticated("GET", "metadata/endpoints?api-version=2020-06-01", nil)
	require.Equal(t, 200, r.StatusCode)
	var docs []struct {
		Name            string `json:"name"`
		ResourceManager string `json:"resourceManager"`
		Authentication  struct {
			LoginEndpoint    string   `json:"loginEndpoint"`
			Audiences        []string `json:"audiences"`
			Tenant           string   `json:"tenant"`
			IdentityProvider string   `json:"identityProvider"`
		} `json:"authentication"`
		Suffixes struct {
			KeyVaultDNS string `json:"keyVaultDns"`
			Storage     string `json:"storage"`
		} `json:"suffixes"`
	}
	require.NoError(t, json.Unmarshal(b, &docs), string(b))
	require.Len(t, docs, 1)
	d := docs[0]
	require.Equal(t, armemu.CloudName, d.Name)
	require.Equal(t, e.base, d.ResourceManager)
	require.Equal(t, e.base, d.Authentication.LoginEndpoint)
	require.Equal(t, []string{e.base}, d.Authentication.Audiences)
	require.Equal(t, "common", d.Authentication.Tenant)
	require.Equal(t, "AAD", d.Authentication.IdentityProvider)
	require.Equal(t, "vault.emu.invalid", d.Suffixes.KeyVaultDNS)
	require.Equal(t, "core.emu.invalid", d.Suffixes.Storage)

	// The old object form `az cloud register --endpoint-resource-manager` reads.
	r, b = e.unauthenticated("GET", "metadata/endpoints?api-version=2015-01-01", nil)
	require.Equal(t, 200, r.StatusCode)
	var old struct {
		Authentication struct {
			LoginEndpoint string   `json:"loginEndpoint"`
			Audiences     []string `json:"audiences"`
		} `json:"authentication"`
	}
	require.NoError(t, json.Unmarshal(b, &old), string(b))
	require.Equal(t, e.base, old.Authentication.LoginEndpoint)
	require.Equal(t, []string{e.base}, old.Authentication.Audiences)
	require.Equal(t, "metadata", e.s.Journal()[0].Action)
}

func TestSubscriptionsAndTenants(t *testing.T) {
	e := newEnv(t)
	r, v := e.raw("GET", "subscriptions?api-version=2022-12-01", "")
	require.Equal(t, 200, r.StatusCode)
	subs := v["value"].([]any)
	require.Len(t, subs, 2)
	first := subs[0].(map[string]any)
	require.Equal(t, armemu.DefaultSubscriptions[0], first["subscriptionId"])
	require.Equal(t, "Enabled", first["state"])
	require.Equal(t, armemu.DefaultTenant, first["tenantId"])
	require.NotEmpty(t, r.Header.Get("x-ms-ratelimit-remaining-tenant-reads"))

	r, v = e.raw("GET", "subscriptions/"+strings.ToUpper(armemu.DefaultSubscriptions[1])+"?api-version=2022-12-01", "")
	require.Equal(t, 200, r.StatusCode)
	require.Equal(t, armemu.DefaultSubscriptions[1], v["subscriptionId"])
	require.NotEmpty(t, r.Header.Get("x-ms-ratelimit-remaining-subscription-reads"))

	r, v = e.raw("GET", "subscriptions/99999999-0000-0000-0000-000000000000?api-version=2022-12-01", "")
	require.Equal(t, 404, r.StatusCode)
	require.Equal(t, "SubscriptionNotFound", errorCode(v))
	r, v = e.raw("GET", "subscriptions/99999999-0000-0000-0000-000000000000/resourceGroups/x/providers/Microsoft.Compute/galleries?api-version=2025-03-03", "")
	require.Equal(t, 404, r.StatusCode)
	require.Equal(t, "SubscriptionNotFound", errorCode(v))

	r, v = e.raw("GET", "tenants?api-version=2022-12-01", "")
	require.Equal(t, 200, r.StatusCode)
	require.Equal(t, armemu.DefaultTenant, v["value"].([]any)[0].(map[string]any)["tenantId"])
	require.Equal(t, http.StatusOK, r.StatusCode)
}
