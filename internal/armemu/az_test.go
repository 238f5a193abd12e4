package armemu_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/armemu"
)

// TestAzCLI drives the emulator with the az CLI (Debian's azure-cli 2.45,
// which `make system-deps` installs). It fails, not skips, without az.
//
// The emulator is registered as a custom cloud whose Active Directory endpoint is
// {base}adfs: for any other authority az's MSAL first asks login.microsoftonline.com
// for instance discovery, which no setting of az 2.45 turns off.
func TestAzCLI(t *testing.T) {
	az, err := exec.LookPath("az")
	require.NoError(t, err, "the az CLI contract test needs az: make system-deps (apt-get install -y azure-cli)")
	e := newEnv(t)
	e.seed()
	e.s.PutImageVersion(sub, rg, gal, def, "1.0.0", versionBody("westeurope", "eastus"))
	e.s.PutImageVersion(sub, rg, gal, def, "1.1.0", versionBody())
	blocked := versionBody()
	blocked.Properties.SafetyProfile = &armcompute.GalleryImageVersionSafetyProfile{BlockDeletionBeforeEndOfLife: to.Ptr(true)}
	e.s.PutImageVersion(sub, rg, gal, def, "1.2.0", blocked)

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, e.s.CACertPEM(), 0o600))
	env := append(os.Environ(), "AZURE_CONFIG_DIR="+filepath.Join(dir, "azure"), "REQUESTS_CA_BUNDLE="+ca,
		"AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_ONLY_SHOW_ERRORS=true", "AZURE_CORE_NO_COLOR=true")
	run := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(az, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if wantOK {
			require.NoError(t, err, "az %s:\n%s", strings.Join(args, " "), out)
		} else {
			require.Error(t, err, "az %s should fail:\n%s", strings.Join(args, " "), out)
		}
		return string(out)
	}
	run(true, "cloud", "register", "-n", "ArmEmu", "--endpoint-resource-manager", e.base,
		"--endpoint-active-directory", e.base+"adfs", "--endpoint-active-directory-resource-id", e.base,
		"--endpoint-active-directory-graph-resource-id", "https://graph.emu.invalid/",
		"--suffix-storage-endpoint", "core.emu.invalid", "--suffix-keyvault-dns", ".vault.emu.invalid")
	run(true, "cloud", "set", "-n", "ArmEmu")
	out := run(true, "login", "--service-principal", "-u", armemu.DefaultClientID, "-p", armemu.DefaultClientSecret, "--tenant", armemu.DefaultTenant, "-o", "json")
	require.Contains(t, out, sub)
	run(true, "account", "set", "-s", sub)

	sig := []string{"-g", rg, "-r", gal, "-i", def, "-o", "json"}
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(run(true, append([]string{"sig", "image-version", "list"}, sig...)...)), &list))
	require.Len(t, list, 3)
	require.Equal(t, "1.0.0", list[0]["name"])

	var show map[string]any
	require.NoError(t, json.Unmarshal([]byte(run(true, append([]string{"sig", "image-version", "show", "-e", "1.0.0", "--expand", "ReplicationStatus"}, sig...)...)), &show))
	require.Equal(t, "Completed", show["replicationStatus"].(map[string]any)["aggregatedState"])

	// Generic update: a GET, then a PUT of the whole version, polled.
	run(true, append([]string{"sig", "image-version", "update", "-e", "1.0.0", "--set", "publishingProfile.excludeFromLatest=true"}, sig...)...)
	v, ok := e.s.ImageVersion(versionIDOf("1.0.0"))
	require.True(t, ok)
	require.True(t, *v.Properties.PublishingProfile.ExcludeFromLatest)
	require.Len(t, v.Properties.PublishingProfile.TargetRegions, 2)

	// Removing a replicated region is refused (allowDeletionOfReplicatedLocations is false).
	out = run(false, append([]string{"sig", "image-version", "update", "-e", "1.0.0", "--remove", "publishingProfile.targetRegions", "1"}, sig...)...)
	require.Contains(t, out, "OperationNotAllowed")

	run(true, append([]string{"sig", "image-version", "delete", "-e", "1.1.0"}, sig[:6]...)...)
	_, ok = e.s.ImageVersion(versionIDOf("1.1.0"))
	require.False(t, ok)
	out = run(false, append([]string{"sig", "image-version", "delete", "-e", "1.2.0"}, sig[:6]...)...)
	require.Contains(t, out, "OperationNotAllowed")

	calls := e.s.Calls()
	require.Equal(t, 2, calls[verDel])
	require.GreaterOrEqual(t, calls[verWrit], 2)
	for _, c := range e.s.Journal() {
		if strings.HasPrefix(c.Action, "Microsoft.Compute/galleries") {
			require.Equal(t, "2022-03-03", c.APIVersion, "az 2.45's gallery api-version")
			require.Contains(t, c.Agent, "AZURECLI/2.45")
		}
	}
}
