package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// `make cross` (part of `make release-check`; `make test` builds one platform
// of each kind) builds the platforms GNUmakefile lists;
// the release builds what .goreleaser.yml expands to. They must be the same
// set, or a release could ship a platform no test ever compiled.
func TestCrossMatchesGoreleaser(t *testing.T) {
	mk, err := os.ReadFile("GNUmakefile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^PLATFORMS\s*:=((?:.*\\\n)*.*)$`).FindSubmatch(mk)
	require.NotNil(t, m, "GNUmakefile has no PLATFORMS := line")
	cross := strings.Fields(strings.ReplaceAll(string(m[1]), "\\", " "))
	slices.Sort(cross)

	raw, err := os.ReadFile(".goreleaser.yml")
	require.NoError(t, err)
	var cfg struct {
		Builds []struct {
			Goos, Goarch []string
			Ignore       []struct{ Goos, Goarch string }
		}
	}
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	// goreleaser skips pairs the Go toolchain does not support.
	out, err := exec.Command("go", "tool", "dist", "list").Output()
	require.NoError(t, err)
	supported := strings.Fields(string(out))

	var release []string
	for _, b := range cfg.Builds {
		for _, goos := range b.Goos {
			for _, goarch := range b.Goarch {
				p := goos + "/" + goarch
				ignored := slices.ContainsFunc(b.Ignore, func(ig struct{ Goos, Goarch string }) bool {
					return (ig.Goos == "" || ig.Goos == goos) && (ig.Goarch == "" || ig.Goarch == goarch)
				})
				if !ignored && slices.Contains(supported, p) && !slices.Contains(release, p) {
					release = append(release, p)
				}
			}
		}
	}
	slices.Sort(release)
	require.NotEmpty(t, release)
	require.Equal(t, release, cross, "GNUmakefile PLATFORMS must list exactly what .goreleaser.yml releases")
}
