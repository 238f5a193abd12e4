package release

import (
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func TestArtifactAddsReleaseStateAndPassesTheRestOn(t *testing.T) {
	in := &packersdk.MockArtifact{BuilderIdValue: "packer.file", FilesValue: []string{"out/a.img"},
		StateValues: map[string]interface{}{"generated_data": "x"}}
	a := &artifact{Artifact: in, release: releaseState([]lifecycle.Image{{ID: "web-1", Family: "web", Version: "1.0.0",
		Channel: "stable", Managed: true}}, "team-a")}
	rel, ok := a.State(StateKey).(map[string]string)
	if !ok || rel["id"] != "web-1" || rel[lifecycle.TagVersion] != "1.0.0" || rel[lifecycle.TagManagedBy] != "team-a" {
		t.Errorf("State(%q) = %#v", StateKey, a.State(StateKey))
	}
	if a.State("generated_data") != "x" || a.BuilderId() != "packer.file" || a.Files()[0] != "out/a.img" {
		t.Errorf("the input artifact is not passed on unchanged")
	}
	if releaseState(nil, "team-a") != nil {
		t.Errorf("a sweep has no release state")
	}
}
