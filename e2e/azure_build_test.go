package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// TestAzureArmBuilderPublishesAndRetires runs the real azure-arm builder
// (packer-plugin-azure v1.4.5) against the emulator, as users run it: a
// template deployment in a temporary resource group, SSH to the VM, the
// deprovision provisioner uploaded by scp and run, deallocate, generalize,
// a gallery version from the VM (or from a managed image of it), cleanup. The lifecycle post-processor
// records each weekly version from the artifact the builder hands on and
// retires the older ones a stage per week; the manifest after it gets the
// builder's artifact unchanged.
func TestAzureArmBuilderPublishesAndRetires(t *testing.T) {
	a := newAzureRun(t, time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC), armemu.WithTokenLifetime(10*365*24*time.Hour))
	port, closeSSH, err := a.s.ServeSSH("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeSSH() })
	body, err := os.ReadFile(filepath.Join("testdata", "azure", "build.pkr.hcl"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, "build.pkr.hcl"), body, 0o644))

	versions := []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"}
	want := []map[string]string{
		{"1.0.0": "active/latest/northeurope,westeurope"},
		{"1.0.0": "deprecated/excluded/northeurope,westeurope", "1.1.0": "active/latest/northeurope,westeurope"},
		{"1.0.0": "disabled/excluded/westeurope", "1.1.0": "deprecated/excluded/northeurope,westeurope", "1.2.0": "active/latest/northeurope,westeurope"},
		{"1.0.0": "gone", "1.1.0": "disabled/excluded/westeurope", "1.2.0": "deprecated/excluded/northeurope,westeurope", "1.3.0": "active/latest/northeurope,westeurope"},
	}
	a.s.PutResourceGroup(azureSub, azureRG, azureHome)
	for i, v := range versions {
		ssh := len(a.s.SSHCommands())
		vars := []string{"release=" + v, "ssh_port=" + strconv.Itoa(port)}
		artifact := a.web.VersionID(azureSub, v)
		if v == "1.1.0" { // also a managed image: the version is named in the artifact's String() only
			vars = append(vars, "managed_image_name=web-1-1-0")
			artifact = "/subscriptions/" + azureSub + "/resourceGroups/images/providers/Microsoft.Compute/images/web-1-1-0"
		}
		r := a.packer("build.pkr.hcl", vars...)
		mustSucceed(t, r)
		mustContain(t, r.stdout, "Connected to SSH!", "Generalizing machine ...", "Recording web "+v+" (stable) in the azure backend")
		id := a.web.VersionID(azureSub, v)

		// The manifest after ours saw azure-arm's artifact.
		var m struct {
			Builds []struct {
				BuilderType string `json:"builder_type"`
				ArtifactID  string `json:"artifact_id"`
			} `json:"builds"`
		}
		raw, err := os.ReadFile(filepath.Join(a.dir, "build", "manifest.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &m))
		require.Len(t, m.Builds, i+1)
		require.Equal(t, "azure-arm", m.Builds[i].BuilderType)
		require.Equal(t, artifact, m.Builds[i].ArtifactID)

		// The deprovision script went up by scp and ran, on the build VM.
		var script, vm string
		ran := false
		for _, c := range a.s.SSHCommands()[ssh:] {
			for path, content := range c.Uploads {
				if strings.Contains(content, "/usr/sbin/waagent -force -deprovision+user") {
					script, vm = path, c.VM
				}
			}
			ran = ran || script != "" && c.VM == vm && strings.Contains(c.Command, "sudo -E sh '"+script+"'")
		}
		require.True(t, ran, "the provisioner's script was uploaded and run: %+v", a.s.SSHCommands()[ssh:])
		require.Contains(t, vm, "/resourceGroups/pkr-Resource-Group-")

		// Recorded: the version the builder published, from that VM, with
		// the builder's tags and ours.
		got, ok := a.s.ImageVersion(id)
		require.True(t, ok)
		source := vm
		if v == "1.1.0" {
			source = artifact
		}
		require.Equal(t, strings.ToLower(source), strings.ToLower(*got.Properties.StorageProfile.Source.ID))
		require.Equal(t, "web", *got.Tags["team"])
		require.Equal(t, v, *got.Tags[lifecycle.TagVersion])
		require.Equal(t, a.clock.Now().UTC().Format(time.RFC3339), *got.Tags[lifecycle.TagReleasedAt])

		// Cleanup left nothing of the build behind.
		for _, rg := range a.s.ResourceGroups(azureSub) {
			require.NotContains(t, rg, "pkr-Resource-Group-")
		}
		require.Empty(t, a.s.VMPower(vm), "the build VM is gone")

		states := a.states(versions[:i+1]...)
		require.Equal(t, want[i], states, "after building %s", v)
		a.clock.Advance(7 * 24 * time.Hour)
	}

	// Every request the builder and the plugin sent was one the emulator
	// serves: none fell through to "does not serve".
	for _, c := range a.s.Journal() {
		require.NotEmpty(t, c.Action, "unserved request %+v", c)
	}
	noneAt := func(prefix string) {
		for _, c := range a.ours() {
			require.False(t, strings.HasPrefix(c.Action, prefix), "the lifecycle plugin used %s", c.Action)
		}
	}
	noneAt("Microsoft.Resources/deployments") // ours only touches the gallery and reads consumers
}
