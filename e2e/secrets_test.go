package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
)

// The dummy secrets of TestSecretsNeverShow: distinctive, so a grep finds
// any copy of them.
const (
	secretAccessKeyID = "AKIALEAKCANARY000001"
	secretKey         = "LeakCanarySecretKey/0000+000000000000000"
	secretToken       = "LeakCanarySessionToken0000000000000000000001"
	secretExternalID  = "LeakCanaryExternalId-42"
	secretEndpointPwd = "LeakCanaryEndpointPassword"
)

// secretsAccess is the AWS access of both components: static keys with a
// session token, a role to assume with an external id, the emulator as
// the EC2 endpoint.
const secretsAccess = `
    region              = "us-east-1"
    custom_endpoint_ec2 = var.endpoint
    access_key          = "` + secretAccessKeyID + `"
    secret_key          = "` + secretKey + `"
    token               = "` + secretToken + `"
    assume_role {
      role_arn     = "arn:aws:iam::123456789012:role/packer-lifecycle"
      external_id  = "` + secretExternalID + `"
      session_name = "packer"
    }
`

const secretsDataSource = requireLifecycle + `
variable "endpoint" { type = string }
data "lifecycle-image" "base" {
  family               = "web"
  allow_simulated_time = true
` + secretsAccess + `
}
source "null" "x" { communicator = "none" }
build {
  sources = ["source.null.x"]
  provisioner "shell-local" { inline = ["echo base=${data.lifecycle-image.base.id}"] }
}
`

const secretsSweep = requireLifecycle + `
variable "endpoint" { type = string }
source "null" "x" { communicator = "none" }
build {
  sources = ["source.null.x"]
  post-processor "lifecycle" {
    allow_simulated_time = true
    backend       = "aws"
    family        = "web"
    sweep         = true
    keep_releases = 1
    min_age       = "1d"
    disable_after = "7d"
    report_path   = "report.json"
` + secretsAccess + `
  }
}
`

// TestSecretsNeverShow: the access key id, secret key, session token and
// assume_role external id given to both components, and the temporary
// credentials STS answers, never appear in Packer's output, its log
// (PACKER_LOG=1, PACKER_LOG_PATH) or the report: on success, when EC2
// answers AccessDenied, and when STS cannot be reached. A validate error
// about an endpoint with a password shows it redacted.
func TestSecretsNeverShow(t *testing.T) {
	start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	type scenario struct {
		name     string
		tmpl     string
		prepare  func(a *awsRun)
		sts      string // AWS_ENDPOINT_URL_STS; the emulator when ""
		succeeds bool
		want     string // in the output
	}
	scenarios := []scenario{
		{"data source succeeds", secretsDataSource, nil, "", true, "base=ami-"},
		{"sweep succeeds", secretsSweep, nil, "", true, "disable"},
		{"data source denied", secretsDataSource, func(a *awsRun) { a.s.Deny("*", "DescribeImages") }, "", false, "UnauthorizedOperation"},
		{"sweep denied", secretsSweep, func(a *awsRun) { a.s.Deny("*", "DisableImage") }, "", false, "UnauthorizedOperation"},
		{"data source without STS", secretsDataSource, nil, "http://127.0.0.1:1", false, "AssumeRole"},
		{"sweep without STS", secretsSweep, nil, "http://127.0.0.1:1", false, "AssumeRole"},
		{"role refused", secretsSweep, func(a *awsRun) { a.s.Deny("*", "AssumeRole") }, "", false, "AccessDenied"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			a := newAWSRun(t, start)
			a.seedRelease(ec2emu.DefaultAccount, "1.0.0", "deprecated", nil)
			a.seedRelease(ec2emu.DefaultAccount, "1.1.0", "active", nil)
			if sc.prepare != nil {
				sc.prepare(a)
			}
			dir := template(t, "t.pkr.hcl", sc.tmpl)
			log := filepath.Join(dir, "packer.log")
			env := append(a.env(), "PACKER_LOG=1", "PACKER_LOG_PATH="+log, "AWS_ENDPOINT_URL_STS="+a.url)
			if sc.sts != "" {
				env = append(env, "AWS_ENDPOINT_URL_STS="+sc.sts)
			}
			r := packerEnv(dir, env, "build", "-color=false", "-var", "endpoint="+a.url, ".")
			noPublicEndpoint(t, r)
			if sc.succeeds {
				mustSucceed(t, r)
			} else {
				require.NotZero(t, r.code, "%s", r)
			}
			logged, err := os.ReadFile(log)
			require.NoError(t, err)
			require.Contains(t, string(logged), "packer-plugin-lifecycle", "the log holds the plugin's lines")
			mustContain(t, r.stdout+r.stderr, sc.want)
			haystacks := map[string]string{"stdout": r.stdout, "stderr": r.stderr, "log": string(logged)}
			if rep, err := os.ReadFile(filepath.Join(dir, "report.json")); err == nil {
				haystacks["report"] = string(rep)
			} else {
				require.NotEqual(t, secretsSweep, sc.tmpl, "a sweep writes its report whatever happens: %v", err)
			}
			secrets := []string{secretAccessKeyID, secretKey, secretToken, secretExternalID}
			for _, c := range a.s.AssumeRoleCalls() {
				require.Equal(t, secretExternalID, c.ExternalID, "the external id reached STS")
				require.Equal(t, secretAccessKeyID, c.CallerKey)
				secrets = append(secrets, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
			}
			if sc.sts == "" && sc.prepare == nil {
				require.NotEmpty(t, a.s.AssumeRoleCalls(), "the role was assumed")
			}
			for where, text := range haystacks {
				for _, secret := range secrets {
					if strings.Contains(text, secret) {
						t.Errorf("%s shows the secret %q:\n%s", where, secret, excerpt(text, secret))
					}
				}
			}
		})
	}

	t.Run("endpoint password at validate", func(t *testing.T) {
		t.Parallel()
		dir := template(t, "t.pkr.hcl", strings.Replace(secretsSweep, "custom_endpoint_ec2 = var.endpoint",
			`custom_endpoint_ec2 = "http://ci:`+secretEndpointPwd+`@127.0.0.1:1/"`, 1))
		log := filepath.Join(dir, "packer.log")
		r := packerEnv(dir, []string{"PACKER_LOG=1", "PACKER_LOG_PATH=" + log}, "validate", "-var", "endpoint=x", ".")
		require.NotZero(t, r.code)
		mustContain(t, r.stdout+r.stderr, "custom_endpoint_ec2:", "carries credentials")
		logged, err := os.ReadFile(log)
		require.NoError(t, err)
		for where, text := range map[string]string{"output": r.stdout + r.stderr, "log": string(logged)} {
			for _, secret := range []string{secretEndpointPwd, secretKey, secretToken, secretExternalID} {
				require.NotContains(t, text, secret, "%s shows a secret", where)
			}
		}
	})
}

// excerpt is the text around the first occurrence of s.
func excerpt(text, s string) string {
	i := strings.Index(text, s)
	return text[max(0, i-300):min(len(text), i+len(s)+300)]
}
