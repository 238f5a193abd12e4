//go:generate packer-sdc struct-markdown

package gcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Access is how the GCP backend reaches Compute Engine, with the
// googlecompute plugin's option names, plus which projects it covers.
// Nothing is contacted before a build runs: `packer validate` only checks
// the values (and reads a credentials file, as the googlecompute plugin
// does).
type Access struct {
	// The project whose images are recorded and retired (images are
	// global in a project, so a project is to GCP what a region is to AWS).
	// The post-processor covers the project the build stored its image in
	// (`image_project_id`, else the build's `project_id`) besides. Defaults
	// to the build's project; the data source needs it.
	ProjectID string `mapstructure:"project_id"`
	// More projects to sweep beyond `project_id` and the build's own. An
	// image shared with one of them (IAM) has its usage there checked
	// instead of being kept for the share alone.
	Projects []string `mapstructure:"projects"`
	// A JSON credentials file: a service account key, an authorized user
	// (`gcloud auth application-default login`) or an external account
	// (workload identity federation). Defaults to Application Default
	// Credentials.
	CredentialsFile string `mapstructure:"credentials_file"`
	// The same as the JSON text itself. It is a secret: never shown.
	CredentialsJSON string `mapstructure:"credentials_json"`
	// A service account to impersonate with the credentials found (the
	// caller needs `roles/iam.serviceAccountTokenCreator` on it).
	ImpersonateServiceAccount string `mapstructure:"impersonate_service_account"`
	// A temporary OAuth 2.0 access token (`gcloud auth print-access-token`),
	// used as is: it is not renewed, so a run must end within its lifetime.
	// It is a secret: never shown.
	AccessToken string `mapstructure:"access_token"`
	// Endpoints by service, as the googlecompute plugin takes them: only
	// `compute` is used, e.g. `{ compute = "https://compute.example/compute/v1/" }`
	// (a Private Service Connect endpoint), an http(s) URL without
	// credentials.
	CustomEndpoints map[string]string `mapstructure:"custom_endpoints"`
}

// Defaults of max_retries and call_timeout (options shared with the AWS
// backend).
const (
	DefaultMaxRetries  = 10
	DefaultCallTimeout = 60 * time.Second
)

// Compute Engine's project id rule: 6 to 30 lowercase letters, digits and
// '-', starting with a letter, not ending with '-'. Domain-scoped projects
// (example.com:proj) are refused: a colon would make refs ambiguous.
var (
	projectRE = regexp.MustCompile(`^[a-z][-a-z0-9]{4,28}[a-z0-9]$`)
	// A service account email.
	serviceAccountRE = regexp.MustCompile(`^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z][-a-z0-9.]*\.(iam\.gserviceaccount\.com|gserviceaccount\.com)$`)
)

// endpointServices are the custom_endpoints keys the googlecompute plugin
// knows; only compute is ours to use, the others are accepted so a map
// shared with the builder through a variable passes.
var endpointServices = []string{"compute", "iam", "iamcredentials", "oslogin", "resourcemanager", "secretmanager", "storage", "cloudbuild", "iap"}

// credentialTypes are the credential files the client library reads.
var credentialTypes = []string{"service_account", "authorized_user", "external_account", "impersonated_service_account", "external_account_authorized_user"}

// Set says whether any GCP option was given.
func (c *Access) Set() bool { return len(c.SetFields()) > 0 }

// SetFields names the GCP options given, for the error about options of
// another backend.
func (c *Access) SetFields() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"project_id", c.ProjectID != ""}, {"projects", len(c.Projects) > 0},
		{"credentials_file", c.CredentialsFile != ""}, {"credentials_json", c.CredentialsJSON != ""},
		{"impersonate_service_account", c.ImpersonateServiceAccount != ""}, {"access_token", c.AccessToken != ""},
		{"custom_endpoints", len(c.CustomEndpoints) > 0},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// CheckProject says why p is not a project id the backend takes.
func CheckProject(p string) error {
	if strings.Contains(p, ":") {
		return fmt.Errorf("%q is a domain-scoped project id, which the gcp backend does not support", p)
	}
	if !projectRE.MatchString(p) {
		return fmt.Errorf("%q is not a project id (6 to 30 lowercase letters, digits and '-', starting with a letter)", p)
	}
	return nil
}

// CheckRef checks a release reference as `restore`, `pin_releases` and
// `unpin_releases` take it on GCP: an image name, or project:image name.
func CheckRef(s string) error {
	if i := strings.LastIndex(s, ":"); strings.Count(s, ":") > 1 {
		return fmt.Errorf("%q: %w (want an image name, or project:image name)", s, CheckProject(s[:i]))
	}
	project, name, ok := strings.Cut(s, ":")
	if !ok {
		name = s
	} else if err := CheckProject(project); err != nil {
		return fmt.Errorf("%q: %w (want an image name, or project:image name)", s, err)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%q is not an image name (1 to 63 lowercase letters, digits and '-', starting with a letter), or project:image name", s)
	}
	return nil
}

// Prepare checks the values; every error names its field and none shows a
// secret. Nothing is contacted.
func (c *Access) Prepare() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ProjectID != "" {
		if err := CheckProject(c.ProjectID); err != nil {
			bad("project_id: %v", err)
		}
	}
	for i, p := range c.Projects {
		if err := CheckProject(p); err != nil {
			bad("projects[%d]: %v", i, err)
		}
	}
	var auth []string
	for _, a := range []struct {
		name string
		set  bool
	}{{"access_token", c.AccessToken != ""}, {"credentials_file", c.CredentialsFile != ""}, {"credentials_json", c.CredentialsJSON != ""}, {"impersonate_service_account", c.ImpersonateServiceAccount != ""}} {
		if a.set {
			auth = append(auth, a.name)
		}
	}
	if len(auth) > 1 {
		bad("%s: choose one way to authenticate, not %d", strings.Join(auth, ", "), len(auth))
	}
	if t := c.AccessToken; t != "" && (strings.ContainsAny(t, " \t\r\n") || len(t) > 4096) {
		bad("access_token: must be one OAuth 2.0 access token without spaces, at most 4096 characters (the value is not shown: it is a secret)")
	}
	if f := c.CredentialsFile; f != "" {
		data, err := os.ReadFile(f)
		switch {
		case err != nil:
			bad("credentials_file: %v", err)
		default:
			if err := checkCredentials(data); err != nil {
				bad("credentials_file: %s: %v", f, err)
			}
		}
	}
	if j := c.CredentialsJSON; j != "" {
		if err := checkCredentials([]byte(j)); err != nil {
			bad("credentials_json: %v (the value is not shown: it is a secret)", err)
		}
	}
	if sa := c.ImpersonateServiceAccount; sa != "" && !serviceAccountRE.MatchString(sa) {
		bad("impersonate_service_account: %q is not a service account email like name@project.iam.gserviceaccount.com", sa)
	}
	for _, k := range sortedKeys(c.CustomEndpoints) {
		v := c.CustomEndpoints[k]
		if !slices.Contains(endpointServices, k) {
			bad("custom_endpoints: unknown service %q (want one of %s; only compute is used)", k, strings.Join(endpointServices, ", "))
			continue
		}
		u, err := url.Parse(v)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			bad("custom_endpoints.%s: %q is not an http(s) URL", k, redact(v))
		case u.User != nil:
			bad("custom_endpoints.%s: %q carries credentials (user:password@); use the authentication options", k, u.Redacted())
		case u.RawQuery != "" || u.Fragment != "":
			bad("custom_endpoints.%s: %q must not have a query or fragment", k, u.Redacted())
		}
	}
	return errs
}

// checkCredentials checks that data is a credentials JSON of a type the
// client library reads, without showing any of it.
func checkCredentials(data []byte) error {
	var v struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("not JSON credentials")
	}
	if !slices.Contains(credentialTypes, v.Type) {
		return fmt.Errorf("credentials of type %q, want one of %s", clip(v.Type), strings.Join(credentialTypes, ", "))
	}
	return nil
}

// ComputeEndpoint is the compute endpoint the options set, "" for Google's.
func (c *Access) ComputeEndpoint() string { return c.CustomEndpoints["compute"] }

func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if at := strings.LastIndex(s, "@"); at >= 0 {
		return "xxxxx" + s[at:]
	}
	return s
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Retry is how calls are retried: max_retries and call_timeout, 0 for
// the defaults.
type Retry struct {
	MaxRetries  int
	CallTimeout time.Duration
}

// Open returns the backend for the access options: managedBy is the
// marker, now the run's clock.
func Open(ctx context.Context, c Access, retry Retry, managedBy string, now func() time.Time) (*Backend, error) {
	opts, err := ClientOptions(ctx, c, retry)
	if err != nil {
		return nil, err
	}
	var projects []string
	if c.ProjectID != "" {
		projects = append(projects, c.ProjectID)
	}
	projects = append(projects, c.Projects...)
	return New(ctx, Options{Projects: projects, ManagedBy: managedBy, Client: opts}, now)
}
