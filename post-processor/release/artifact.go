package release

import (
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// StateKey is the artifact state key under which downstream post-processors
// (manifest, HCP registry, shell-local) find the release metadata.
const StateKey = "lifecycle"

// artifact passes the build's artifact on unchanged and adds the release
// metadata. Destroy is the wrapped artifact's: we never own the files.
type artifact struct {
	packersdk.Artifact
	release map[string]string
}

func (a *artifact) State(name string) interface{} {
	if name == StateKey {
		return a.release
	}
	return a.Artifact.State(name)
}

// releaseState is the metadata of the first new image, as lifecycle tags
// plus its id.
func releaseState(fresh []lifecycle.Image, managedBy string) map[string]string {
	if len(fresh) == 0 {
		return nil
	}
	tags := lifecycle.Tags(fresh[0], managedBy)
	tags["id"] = fresh[0].ID
	return tags
}
