package release

import (
	"testing"

	"github.com/stretchr/testify/require"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// The artifact handed on is a copy: the SDK closes the input artifact's
// connection once PostProcess returns, so nothing may be read from it later.
func TestArtifactIsACopyWithTheReleaseState(t *testing.T) {
	in := &packersdk.MockArtifact{BuilderIdValue: "packer.file", IdValue: "out/a.img", FilesValue: []string{"out/a.img"},
		StateValues: map[string]interface{}{"generated_data": map[string]interface{}{"SourceAMI": "ami-1"}, "par.artifact.metadata": map[string]string{"k": "v"}}}
	a := snapshot(in)
	a.setRelease(releaseState([]lifecycle.Image{{ID: "web-1", Region: "local", Family: "web", Version: "1.0.0",
		Channel: "stable", Managed: true}}, "team-a"))
	// Whatever happens to the input afterwards, the copy answers the same.
	*in = packersdk.MockArtifact{}

	rel, ok := a.State(StateKey).(map[string]string)
	require.True(t, ok)
	require.Equal(t, "web-1", rel["id"])
	require.Equal(t, "local", rel["region"])
	require.Equal(t, "1.0.0", rel[lifecycle.TagVersion])
	require.Equal(t, "team-a", rel[lifecycle.TagManagedBy])
	require.Equal(t, "packer.file", a.BuilderId())
	require.Equal(t, "out/a.img", a.Id())
	require.Equal(t, []string{"out/a.img"}, a.Files())
	require.Equal(t, map[string]interface{}{"SourceAMI": "ami-1"}, a.State("generated_data"))
	require.Equal(t, map[string]string{"k": "v"}, a.State("par.artifact.metadata"))
	require.NotEmpty(t, a.String())
	require.NoError(t, a.Destroy())
	require.Nil(t, releaseState(nil, "team-a"), "a sweep has no release state")
}
