package azure

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// UserAgent names the plugin in every ARM call it makes (the activity log
// tells them apart from the azure-arm builder's).
const UserAgent = "packer-plugin-lifecycle"

// DefaultPollFrequency is how often a long-running operation is polled when
// ARM sends no Retry-After: gallery image version updates take seconds to
// minutes, deletes minutes.
const DefaultPollFrequency = 5 * time.Second

// Client is how the backend reaches ARM.
type Client struct {
	Credential azcore.TokenCredential
	// Options carry the cloud, the transport and the retry policy.
	Options arm.ClientOptions
	// Poll is the polling interval of long-running operations without a
	// Retry-After (0: DefaultPollFrequency).
	Poll time.Duration
}

// Retry is how calls are retried: max_retries and call_timeout, 0 for the
// defaults.
type Retry struct {
	MaxRetries  int
	CallTimeout time.Duration
}

// ClientFor builds the client the access options describe: the cloud
// (built in, or read from metadata_host's document now, as a run starts),
// the credential (service principal, Azure CLI, or azidentity's default
// chain) and azcore's retry policy (429 with Retry-After, 5xx, bounded by
// call_timeout per try).
func ClientFor(ctx context.Context, c Config, retry Retry, hc *http.Client) (Client, error) {
	if hc == nil {
		hc = &http.Client{}
	}
	cl, err := cloudFor(ctx, c, hc)
	if err != nil {
		return Client{}, err
	}
	opts := arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:     cl,
			Transport: hc,
			Retry: policy.RetryOptions{
				MaxRetries: int32(cmp.Or(retry.MaxRetries, DefaultMaxRetries)),
				TryTimeout: cmp.Or(retry.CallTimeout, DefaultCallTimeout),
			},
			Telemetry: policy.TelemetryOptions{ApplicationID: UserAgent},
		},
		// The plugin never registers resource providers on a subscription:
		// that needs */register/action, which a lifecycle role lacks.
		DisableRPRegistration: true,
	}
	copts := azcore.ClientOptions{Cloud: cl, Transport: hc}
	// A cloud that is not Azure's own has no instance discovery endpoint
	// (Azure Stack Hub, a private cloud).
	custom := c.MetadataHost != ""
	var cred azcore.TokenCredential
	switch {
	case c.UseAzureCLIAuth:
		cred, err = azidentity.NewAzureCLICredential(nil)
	case c.ClientID != "":
		cred, err = azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: custom})
	default:
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: copts, DisableInstanceDiscovery: custom, TenantID: c.TenantID})
	}
	if err != nil {
		return Client{}, fmt.Errorf("azure: credentials: %w", err)
	}
	return Client{Credential: cred, Options: opts}, nil
}

// cloudFor is the cloud configuration: a built-in one, or the element of
// metadata_host's document named cloud_environment_name.
func cloudFor(ctx context.Context, c Config, hc *http.Client) (cloud.Configuration, error) {
	if c.MetadataHost == "" {
		switch clouds[strings.ToLower(c.CloudEnvironmentName)] {
		case "usgovernment":
			return cloud.AzureGovernment, nil
		case "china":
			return cloud.AzureChina, nil
		}
		return cloud.AzurePublic, nil
	}
	u := "https://" + c.MetadataHost + "/metadata/endpoints?api-version=2020-06-01"
	fail := func(err error) (cloud.Configuration, error) {
		return cloud.Configuration{}, fmt.Errorf("azure: metadata_host: %s: %w", u, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fail(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	var envs []struct {
		Name            string `json:"name"`
		ResourceManager string `json:"resourceManager"`
		Authentication  struct {
			LoginEndpoint string   `json:"loginEndpoint"`
			Audiences     []string `json:"audiences"`
		} `json:"authentication"`
	}
	if err := json.Unmarshal(body, &envs); err != nil {
		return fail(fmt.Errorf("not a metadata document: %v", err))
	}
	for _, e := range envs {
		if !strings.EqualFold(e.Name, c.CloudEnvironmentName) {
			continue
		}
		if e.ResourceManager == "" || e.Authentication.LoginEndpoint == "" || len(e.Authentication.Audiences) == 0 {
			return fail(fmt.Errorf("cloud %q lacks resourceManager, authentication.loginEndpoint or audiences", e.Name))
		}
		return cloud.Configuration{
			ActiveDirectoryAuthorityHost: e.Authentication.LoginEndpoint,
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: e.ResourceManager, Audience: e.Authentication.Audiences[0]},
			},
		}, nil
	}
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	return fail(fmt.Errorf("no cloud named %q (the document has %s)", c.CloudEnvironmentName, strings.Join(names, ", ")))
}

// errorCode is ARM's error code of err ("" when it is no ARM answer).
func errorCode(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

func isNotFound(err error) bool { s, _ := errorCode(err); return s == http.StatusNotFound }
