package e2e

import (
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

// usesAzure says a docs template builds with azure-arm or names the azure backend.
func usesAzure(body *hclsyntax.Body, text string) bool {
	for _, b := range body.Blocks {
		if b.Type == "source" && len(b.Labels) > 0 && b.Labels[0] == "azure-arm" {
			return true
		}
	}
	return regexp.MustCompile(`backend\s*=\s*"azure"`).MatchString(text)
}

// onARM rewrites an Azure template of the docs as a user points one at a
// private cloud: a service principal, cloud_environment_name and
// metadata_host on every azure-arm source and lifecycle block, and the
// port where the emulated VMs' SSH answers. Nothing else changes.
func onARM(t *testing.T, text, metadataHost string, sshPort int) string {
	f, diags := hclwrite.ParseConfig([]byte(text), "docs.pkr.hcl", hcl.InitialPos)
	require.False(t, diags.HasErrors(), "%s", diags)
	point := func(b *hclwrite.Body) {
		for k, v := range map[string]string{"client_id": armemu.DefaultClientID, "client_secret": armemu.DefaultClientSecret,
			"tenant_id": armemu.DefaultTenant, "cloud_environment_name": armemu.CloudName, "metadata_host": metadataHost} {
			b.SetAttributeValue(k, cty.StringVal(v))
		}
		b.RemoveAttribute("use_azure_cli_auth")
	}
	for _, b := range f.Body().Blocks() {
		l := b.Labels()
		switch {
		case b.Type() == "source" && len(l) == 2 && l[0] == "azure-arm":
			point(b.Body())
			b.Body().SetAttributeValue("ssh_port", cty.NumberIntVal(int64(sshPort)))
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

// buildOnARM builds an Azure template of the docs with the real azure-arm
// builder against an ARM emulator that serves the subscriptions it names,
// with the team gallery's base, web and app definitions in each and one
// release of each family its lifecycle-image blocks read.
func buildOnARM(t *testing.T, body *hclsyntax.Body, text string) {
	subs := regexp.MustCompile(`"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"`).FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, subs, "an Azure example names its subscription")
	ids := []string{azureSub}
	for _, m := range subs {
		ids = append(ids, m[1])
	}
	a := newAzureRun(t, time.Now().UTC().Truncate(time.Second), armemu.WithSubscriptions(ids...))
	for _, sub := range ids {
		a.s.PutGallery(sub, azureRG, azureGallery, azureHome)
		for _, name := range []string{"base", "web", "app"} {
			a.definition(sub, name)
		}
	}
	for _, d := range body.Blocks {
		if d.Type != "data" || len(d.Labels) != 2 || d.Labels[0] != "lifecycle-image" {
			continue
		}
		v, diags := d.Body.Attributes["family"].Expr.Value(nil)
		require.False(t, diags.HasErrors(), "data %q: family must be a literal for the docs test", d.Labels[1])
		for _, sub := range ids {
			a.releaseOf(sub, a.definition(sub, v.AsString()), v.AsString(), "1.0.0")
		}
	}
	a.clock.Advance(time.Minute)
	port, closeSSH, err := a.s.ServeSSH("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeSSH() })
	dir := template(t, "docs.pkr.hcl", onARM(t, text, a.host, port))
	r := packerEnv(dir, []string{"SSL_CERT_FILE=" + a.ca}, "build", "-color=false", "docs.pkr.hcl")
	noPublicAzure(t, r)
	mustSucceed(t, r)
	mustContain(t, r.stdout, "Connected to SSH!", "Publishing to Shared Image Gallery")
	for _, c := range a.s.Journal() {
		require.NotEmpty(t, c.Action, "%s %s: the emulator serves what the build needs", c.Verb, c.Path)
	}
}
