package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPluginsInstalledListsLifecycle(t *testing.T) {
	r := packer(t.TempDir(), "plugins", "installed")
	mustSucceed(t, r)
	mustContain(t, r.stdout, "github.com/packer-lifecycle/lifecycle/packer-plugin-lifecycle_v0.1.0_x5.0_")
}

func TestInitIsSatisfiedByInstalledPlugin(t *testing.T) {
	dir := template(t, "t.pkr.hcl", requireLifecycle+`
source "null" "x" { communicator = "none" }
build { sources = ["source.null.x"] }
`)
	r := packer(dir, "init", ".")
	mustSucceed(t, r)
	// Inside the loopback-only namespace a download attempt would fail; make
	// sure init did not even try.
	require.False(t, strings.Contains(r.stdout+r.stderr, "Installed plugin"), "init installed something instead of using the local plugin: %s", r)
}

// validTemplate uses both components with every kind of field.
const validTemplate = requireLifecycle + `
data "lifecycle-image" "parent" {
  family             = "base"
  channel            = "stable"
  version_constraint = ">= 1.0, < 2.0"
}

source "file" "app" {
  content = "app image"
  target  = "out/app.img"
}

build {
  sources = ["source.file.app"]
  post-processor "lifecycle" {
    family           = "app"
    version          = "1.2.3"
    channel          = "rc"
    keep_releases    = 2
    min_age          = "1d"
    expire_after     = "30d"
    deprecate_after  = "0s"
    disable_after    = "7d"
    deregister_after = "14d"
    delete_snapshots = true
    dry_run          = true
    channel_policy {
      name          = "stable"
      keep_releases = 5
      never_expire  = true
    }
  }
}
`

func TestValidateAcceptsGoodTemplate(t *testing.T) {
	dir := template(t, "t.pkr.hcl", validTemplate)
	r := packer(dir, "validate", ".")
	mustSucceed(t, r)
	mustContain(t, r.stdout, "The configuration is valid.")
	// validate must not have touched anything: no catalog, no report.
	_, err := os.Stat(filepath.Join(dir, ".packer-lifecycle"))
	require.True(t, os.IsNotExist(err), "validate created the catalog directory (err=%v)", err)
}

func TestValidateRejectsBadTemplates(t *testing.T) {
	pp := func(body string) string {
		return requireLifecycle + `
source "file" "app" {
  content = "x"
  target  = "out/app.img"
}
build {
  sources = ["source.file.app"]
  post-processor "lifecycle" {
` + body + `
  }
}
`
	}
	ds := func(body string) string {
		return requireLifecycle + `
data "lifecycle-image" "p" {
` + body + `
}
source "null" "x" { communicator = "none" }
build { sources = ["source.null.x"] }
`
	}
	// env sets the environment of a case (the rehearsal clock).
	env := map[string][]string{
		"rehearsal clock garbage":             {"PACKER_LIFECYCLE_NOW=yesterday"},
		"stray rehearsal clock in a real run": {"PACKER_LIFECYCLE_NOW=2030-01-01T00:00:00Z"},
	}
	cases := []struct {
		name, tmpl string
		want       []string
	}{
		{"unknown attribute", pp(`family = "a"
version = "1"
keep_forever = true`), []string{`An argument named "keep_forever" is not expected here`}},
		{"wrong type", pp(`family = "a"
version = "1"
keep_releases = "many"`), []string{"keep_releases", "a number is required"}},
		{"missing family", pp(`version = "1"`), []string{"family: must be set"}},
		{"missing version", pp(`family = "a"`), []string{"version: must be set"}},
		{"bad duration", pp(`family = "a"
version = "1"
min_age = "a week"`), []string{`min_age: invalid duration "a week"`}},
		{"negative keep", pp(`family = "a"
version = "1"
keep_releases = -2`), []string{"keep_releases: must be at least 1"}},
		{"bad backend", pp(`family = "a"
version = "1"
backend = "gce"`), []string{`backend: "gce" is not one of`}},
		{"aws bad region", pp(`family = "a"
version = "1"
backend = "aws"
region = "moon-1"`), []string{`region: "moon-1" is not a region name`}},
		{"aws bad owner and role", pp(`family = "a"
version = "1"
owners = ["12345"]
assume_role {
  role_arn = "packer"
}`), []string{`owners[0]: "12345" is not a 12-digit account id`, `assume_role.role_arn: "packer" is not an IAM role ARN`}},
		{"keep zero", pp(`family = "a"
version = "1"
keep_releases = 0`), []string{"keep_releases: must be at least 1"}},
		{"family too long", pp(`family = "` + strings.Repeat("f", 101) + `"
version = "1"`), []string{"family: at most 100 characters, got 101"}},
		{"control character in version", pp(`family = "a"
version = "1\n2"`), []string{`version: "1\n2" contains a control character`}},
		{"report replaces the catalog", pp(`family = "a"
version = "1"
report_path = ".packer-lifecycle/catalog.json"`), []string{"report_path:", "lies inside catalog_dir"}},
		{"catalog at the file system root", pp(`family = "a"
version = "1"
catalog_dir = "/catalog"`), []string{"catalog_dir:", "the whole file system, the artifact root"}},
		{"rehearsal clock garbage", pp(`family = "a"
version = "1"`), []string{`PACKER_LIFECYCLE_NOW: "yesterday" is not an RFC 3339 time`}},
		{"stray rehearsal clock in a real run", pp(`family = "a"
version = "1"`), []string{"allow_simulated_time: PACKER_LIFECYCLE_NOW is set (2030-01-01T00:00:00Z) and this run changes images"}},
		{"pin with sweep", pp(`family = "a"
sweep = true
pin = true`), []string{"pin: pins the new build, but sweep = true records none"}},
		{"channel policy without name", pp(`family = "a"
version = "1"
channel_policy {
  keep_releases = 2
}`), []string{"channel_policy[0].name: must be set"}},
		{"datasource missing family", ds(`channel = "stable"`), []string{"family: must be set"}},
		{"datasource bad constraint", ds(`family = "base"
version_constraint = "newest please"`), []string{"version_constraint:", "newest please"}},
		{"datasource unknown attribute", ds(`family = "base"
keep_releases = 2`), []string{`An argument named "keep_releases" is not expected here`}},
		{"datasource bad owner", ds(`family = "base"
owners = ["producer"]`), []string{`owners[0]: "producer" is not a 12-digit account id`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := template(t, "t.pkr.hcl", c.tmpl)
			r := packerEnv(dir, env[c.name], "validate", ".")
			require.NotZero(t, r.code, "validate accepted a bad template: %s", r)
			mustContain(t, r.stdout+r.stderr, c.want...)
		})
	}
}
