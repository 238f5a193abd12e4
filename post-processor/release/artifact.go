package release

import (
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// StateKey is the artifact state key under which downstream post-processors
// (manifest, HCP registry, shell-local) find the release metadata.
const StateKey = "lifecycle"

// passedState are the state keys of the builder's artifact that Packer and
// its post-processors read: generated data, and the metadata the manifest
// and the HCP Packer registry use, and the azure-arm builder's gallery
// destination.
var passedState = []string{"generated_data", "atlas.artifact.metadata", "par.artifact.metadata",
	"arm.ManagedImageSigPublishResourceGroup", "arm.ManagedImageSharedGalleryName", "arm.ManagedImageSharedGalleryImageName",
	"arm.ManagedImageSharedGalleryImageVersion", "arm.ManagedImageSharedGalleryReplicationRegions"}

// artifact is the builder's artifact as it was handed to us, copied, plus
// the release metadata. It must be a copy: the SDK closes the input
// artifact's connection when PostProcess returns, so an artifact that
// delegated to it would answer "" and nil to every later post-processor.
type artifact struct {
	builderID, id, text string
	files               []string
	state               map[string]interface{}
}

var _ packersdk.Artifact = (*artifact)(nil)

// snapshot copies everything a later post-processor may ask of a.
func snapshot(a packersdk.Artifact) *artifact {
	s := &artifact{builderID: a.BuilderId(), id: a.Id(), text: a.String(), files: a.Files(), state: map[string]interface{}{}}
	for _, k := range passedState {
		if v := a.State(k); v != nil {
			s.state[k] = v
		}
	}
	return s
}

func (a *artifact) BuilderId() string                { return a.builderID }
func (a *artifact) Id() string                       { return a.id }
func (a *artifact) Files() []string                  { return a.files }
func (a *artifact) String() string                   { return a.text }
func (a *artifact) State(name string) interface{}    { return a.state[name] }
func (a *artifact) setRelease(rel map[string]string) { a.state[StateKey] = rel }

// Destroy does nothing: the files are a recorded release now, retired by
// the lifecycle (deprecate, disable, deregister) and never deleted behind
// its back by a later post-processor's keep_input_artifact = false.
func (a *artifact) Destroy() error { return nil }

// releaseState is the metadata of the first new image, as lifecycle tags
// plus its id and region.
func releaseState(fresh []lifecycle.Image, managedBy string) map[string]string {
	if len(fresh) == 0 {
		return nil
	}
	tags := lifecycle.Tags(fresh[0], managedBy)
	tags["id"] = fresh[0].ID
	tags["region"] = fresh[0].Region
	return tags
}
