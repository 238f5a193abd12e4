package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README and docs are read in a clone of this repository (and on the
// Packer integrations site, for docs/): a relative link must name a file of
// the repository, never one beside it.
func TestDocLinksStayInRepo(t *testing.T) {
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	files := []string{"README.md"}
	for _, dir := range []string{"docs", "example"} {
		require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".md") || strings.HasSuffix(path, ".mdx")) {
				files = append(files, path)
			}
			return err
		}))
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NotContains(t, string(data), "../shared", "%s points outside the repository", f)
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			// Web links, anchors and integration-site paths (docs/) are not files.
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "/") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			abs := filepath.Join(root, filepath.Dir(f), target)
			rel, err := filepath.Rel(root, abs)
			require.NoError(t, err)
			require.False(t, rel == ".." || strings.HasPrefix(rel, "../"), "%s links outside the repository: %s", f, m[1])
			_, err = os.Stat(abs)
			require.NoError(t, err, "%s links to a missing file: %s", f, m[1])
			checked++
		}
	}
	require.NotZero(t, checked, "found no relative links to check")
}
