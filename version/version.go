// Package version holds the plugin's release version, set at release time by
// goreleaser through -ldflags.
package version

import "github.com/hashicorp/packer-plugin-sdk/version"

var (
	// Version is the release version; dev builds add VersionPrerelease "dev".
	Version           = "0.1.0"
	VersionPrerelease = ""
	VersionMetadata   = ""
	PluginVersion     = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
)
