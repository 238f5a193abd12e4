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

// TestSafetyDocNamesRealTests: every test docs/safety.md cites as holding a
// guarantee exists (a Go test or fuzz function, or a subtest of the
// backend conformance suite), so a renamed or deleted test cannot leave a
// guarantee unheld on paper.
func TestSafetyDocNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("docs", "safety.md"))
	require.NoError(t, err)
	defined := map[string]bool{}
	fn := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(|t\.Run\("(\w+)"`)
	require.NoError(t, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fn.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]+m[2]] = true
		}
		return nil
	}))
	// Cited names: words in backticks after "package: ", comma separated.
	cite := regexp.MustCompile("`[\\w/-]+: ([^`]+)`")
	n := 0
	for _, m := range cite.FindAllStringSubmatch(string(doc), -1) {
		for _, name := range strings.Split(m[1], ",") {
			name = strings.TrimSpace(strings.Fields(name + " ")[0])
			n++
			require.True(t, defined[name], "docs/safety.md cites %q, which no test defines", name)
		}
	}
	require.Greater(t, n, 40, "found only %d cited tests; did the citation format change?", n)
}
