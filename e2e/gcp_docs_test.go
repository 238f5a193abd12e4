package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
	compute "google.golang.org/api/compute/v1"
)

// usesGCP: a template that builds with googlecompute or reads or records
// with the GCP backend.
func usesGCP(body *hclsyntax.Body, text string) bool {
	for _, b := range body.Blocks {
		if b.Type == "source" && len(b.Labels) > 0 && b.Labels[0] == "googlecompute" {
			return true
		}
	}
	return regexp.MustCompile(`backend\s*=\s*"gcp"`).MatchString(text)
}

// gcpAuth are the access options a block may set; the harness replaces
// them by a token for the emulator.
var gcpAuth = []string{"access_token", "credentials_file", "credentials_json", "impersonate_service_account", "custom_endpoints", "ssh_username"}

// onEmulator rewrites a GCP template of the docs as a user points one at a
// Private Service Connect endpoint: custom_endpoints and a token on every
// googlecompute source and lifecycle block, and communicator "none" (the
// emulator runs no machine to connect to). Nothing else changes.
func onEmulator(t *testing.T, text, endpoint string) string {
	f, diags := hclwrite.ParseConfig([]byte(text), "docs.pkr.hcl", hcl.InitialPos)
	require.False(t, diags.HasErrors(), "%s", diags)
	point := func(b *hclwrite.Body) {
		for _, a := range gcpAuth {
			b.RemoveAttribute(a)
		}
		b.SetAttributeValue("access_token", cty.StringVal("dummy-token"))
		b.SetAttributeValue("custom_endpoints", cty.ObjectVal(map[string]cty.Value{"compute": cty.StringVal(endpoint)}))
	}
	for _, b := range f.Body().Blocks() {
		l := b.Labels()
		switch {
		case b.Type() == "source" && len(l) == 2 && l[0] == "googlecompute":
			point(b.Body())
			b.Body().SetAttributeValue("communicator", cty.StringVal("none"))
		case b.Type() == "data" && len(l) == 2 && l[0] == "lifecycle-image":
			point(b.Body())
		case b.Type() == "build":
			for _, pp := range b.Body().Blocks() {
				if pp.Type() == "post-processor" && len(pp.Labels()) == 1 && pp.Labels()[0] == "lifecycle" {
					point(pp.Body())
				}
			}
		}
	}
	return string(f.Bytes())
}

// gcpProjects are the literal project ids a template names.
func gcpProjects(text string) []string {
	out := []string{}
	for _, m := range regexp.MustCompile(`"(my-[a-z0-9-]+)"`).FindAllStringSubmatch(text, -1) {
		if !strings.Contains(strings.Join(out, " "), m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// buildOnGCE builds a GCP template of the docs against an emulator that
// serves the projects it names, with one release of each family its
// lifecycle-image blocks read, and debian-12 in debian-cloud.
func buildOnGCE(t *testing.T, body *hclsyntax.Body, text string) {
	projects := gcpProjects(text)
	require.NotEmpty(t, projects, "a GCP example names its projects my-…")
	g := newGCPRunOf(t, time.Now().UTC().Truncate(time.Second), projects...)
	for _, d := range body.Blocks {
		if d.Type != "data" || len(d.Labels) != 2 || d.Labels[0] != "lifecycle-image" {
			continue
		}
		lit := func(name string) string {
			v, diags := d.Body.Attributes[name].Expr.Value(nil)
			require.False(t, diags.HasErrors(), "data %q: %s must be a literal for the docs test", d.Labels[1], name)
			return v.AsString()
		}
		family, project := lit("family"), lit("project_id")
		g.s.PutImage(project, &compute.Image{Name: family + "-1-0-0", Family: family, Labels: map[string]string{
			"lifecycle-family": family, "lifecycle-version": "1_2e0_2e0", "lifecycle-channel": "stable",
			"lifecycle-managed-by": "packer-plugin-lifecycle", "lifecycle-stage": "active",
			"lifecycle-released-at": strings.ToLower(g.clock.Now().Add(-time.Hour).Format("20060102T150405Z")),
		}, CreationTimestamp: g.clock.Now().Add(-time.Hour).Format(time.RFC3339)})
	}
	dir := template(t, "docs.pkr.hcl", onEmulator(t, text, g.url+"compute/v1/"))
	r := packer(dir, "build", "docs.pkr.hcl")
	noPublicGoogle(t, r)
	mustSucceed(t, r)
	images := 0
	for _, p := range projects {
		images += len(g.s.Images(p))
	}
	require.Greater(t, images, 0, "the build made an image")
	for _, c := range g.s.Journal() {
		if c.Method != "compute.images.get" { // googlecompute checks the name is free
			require.NotEqual(t, 404, c.Status, "%s %s: the emulator serves what the build needs", c.Verb, c.Path)
		}
	}
}

// TestGCPExampleBuilds builds example/gcp/web.pkr.hcl as its comment says,
// twice, against the emulator: the second release supersedes the first.
func TestGCPExampleBuilds(t *testing.T) {
	g := newGCPRun(t, time.Now().UTC().Truncate(time.Second))
	body, err := os.ReadFile(filepath.Join(repoRoot, "example", "gcp", "web.pkr.hcl"))
	require.NoError(t, err)
	dir := template(t, "web.pkr.hcl", string(body))
	for _, release := range []string{"1.4.1", "1.4.2"} {
		r := packer(dir, "build", "-var", "project="+gcpProject, "-var", "release="+release,
			"-var", "endpoint="+g.url+"compute/v1/", "-var", "access_token=dummy-token", ".")
		noPublicGoogle(t, r)
		mustSucceed(t, r)
	}
	for _, name := range []string{"web-1-4-1", "web-1-4-2"} {
		im, ok := g.s.Image(gcpProject, name)
		require.True(t, ok, name)
		require.Equal(t, "web", im.Family, name)
		require.Equal(t, "web", im.Labels["team"], "the template's own labels stay")
		require.Equal(t, "active", im.Labels["lifecycle-stage"], "%s: min_age 7d keeps it", name)
		require.NotEmpty(t, im.Labels["lifecycle-expires-at"], "expire_after")
	}
	_, err = os.Stat(filepath.Join(dir, "lifecycle-report.json"))
	require.NoError(t, err, "the report the template names")
}
