package gcp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrepareRefusesBadAccessOptions(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "creds.txt")
	require.NoError(t, os.WriteFile(notJSON, []byte("s3cr3t-key-material"), 0o600))
	oauthClient := filepath.Join(dir, "client.json")
	require.NoError(t, os.WriteFile(oauthClient, []byte(`{"installed":{"client_secret":"s3cr3t-key-material"}}`), 0o600))
	for _, tc := range []struct {
		name string
		c    Access
		want string
	}{
		{"project upper case", Access{ProjectID: "Lifecycle-Test"}, `project_id: "Lifecycle-Test" is not a project id`},
		{"project too short", Access{ProjectID: "abc"}, `project_id: "abc" is not a project id`},
		{"project too long", Access{ProjectID: "a" + strings.Repeat("b", 30)}, "project_id:"},
		{"project ends with dash", Access{ProjectID: "lifecycle-"}, "project_id:"},
		{"project domain scoped", Access{ProjectID: "example.com:proj"}, "project_id: \"example.com:proj\" is a domain-scoped project id"},
		{"project number", Access{ProjectID: "123456789012"}, "project_id:"},
		{"projects entry", Access{Projects: []string{"lifecycle-other", "x y"}}, `projects[1]: "x y"`},
		{"two auth methods", Access{AccessToken: "s3cr3t-token", CredentialsJSON: `{"type":"service_account"}`}, "access_token, credentials_json: choose one way to authenticate"},
		{"token with space", Access{AccessToken: "s3cr3t token"}, "access_token: must be one OAuth 2.0 access token"},
		{"credentials file missing", Access{CredentialsFile: filepath.Join(dir, "none.json")}, "credentials_file:"},
		{"credentials file not JSON", Access{CredentialsFile: notJSON}, "credentials_file: " + notJSON + ": not JSON credentials"},
		{"credentials file OAuth client", Access{CredentialsFile: oauthClient}, `credentials of type ""`},
		{"credentials json bad", Access{CredentialsJSON: "s3cr3t-key-material"}, "credentials_json: not JSON credentials (the value is not shown"},
		{"credentials json unknown type", Access{CredentialsJSON: `{"type":"api_key","key":"s3cr3t-key-material"}`}, `credentials_json: credentials of type "api_key"`},
		{"impersonate not an email", Access{ImpersonateServiceAccount: "packer"}, `impersonate_service_account: "packer" is not a service account email`},
		{"impersonate user", Access{ImpersonateServiceAccount: "me@example.com"}, "impersonate_service_account:"},
		{"endpoint unknown service", Access{CustomEndpoints: map[string]string{"computer": "http://127.0.0.1/"}}, `custom_endpoints: unknown service "computer"`},
		{"endpoint not a URL", Access{CustomEndpoints: map[string]string{"compute": "127.0.0.1:8080"}}, "custom_endpoints.compute:"},
		{"endpoint ftp", Access{CustomEndpoints: map[string]string{"compute": "ftp://host/compute/v1/"}}, "custom_endpoints.compute:"},
		{"endpoint with password", Access{CustomEndpoints: map[string]string{"compute": "https://u:s3cr3t-pw@host/compute/v1/"}}, "custom_endpoints.compute: \"https://u:xxxxx@host/compute/v1/\" carries credentials"},
		{"endpoint with query", Access{CustomEndpoints: map[string]string{"compute": "https://host/compute/v1/?key=1"}}, "must not have a query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.c.Prepare()
			require.NotEmpty(t, errs)
			msg := errors.Join(errs...).Error()
			require.Contains(t, msg, tc.want)
			for _, secret := range []string{"s3cr3t-token", "s3cr3t-key-material", "s3cr3t-pw", "s3cr3t token"} {
				require.NotContains(t, msg, secret, "a secret is never shown")
			}
		})
	}
}

func TestPrepareAcceptsGooglecomputeStyleOptions(t *testing.T) {
	dir := t.TempDir()
	sa := filepath.Join(dir, "sa.json")
	require.NoError(t, os.WriteFile(sa, []byte(`{"type":"service_account","project_id":"lifecycle-test"}`), 0o600))
	for _, c := range []Access{
		{ProjectID: "lifecycle-test", Projects: []string{"lifecycle-other"}},
		{ProjectID: "lifecycle-test", AccessToken: "ya29.dummy"},
		{ProjectID: "lifecycle-test", CredentialsFile: sa},
		{ProjectID: "lifecycle-test", CredentialsJSON: `{"type":"authorized_user"}`},
		{ProjectID: "lifecycle-test", ImpersonateServiceAccount: "packer@lifecycle-test.iam.gserviceaccount.com"},
		{ProjectID: "lifecycle-test", CustomEndpoints: map[string]string{"compute": "http://127.0.0.1:8080/compute/v1/", "oslogin": "https://oslogin.example/"}},
	} {
		require.Empty(t, c.Prepare(), "%+v", c)
	}
}

func TestCheckRef(t *testing.T) {
	for _, ok := range []string{"web-1-0-0", "lifecycle-test:web-1-0-0", "a"} {
		require.NoError(t, CheckRef(ok), ok)
	}
	for _, bad := range []string{"", "Web", "web_1", "lifecycle-test:", ":web", "p:web", "lifecycle-test:web:1", "ami-0123456789abcdef0/"} {
		require.Error(t, CheckRef(bad), bad)
	}
}
