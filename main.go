// Command packer-plugin-lifecycle is a Packer plugin that records machine
// image releases and retires superseded ones: post-processor "lifecycle" and
// data source "lifecycle-image".
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/datasource/parent"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/post-processor/release"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/version"
)

func main() {
	pps := plugin.NewSet()
	pps.RegisterPostProcessor(plugin.DEFAULT_NAME, new(release.PostProcessor))
	pps.RegisterDatasource("image", new(parent.Datasource))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
