package lifecycle

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allowedImport is the whole dependency policy of the package: the standard
// library minus anything that does I/O, plus go-version. Planning must never
// need more than the images and usage it is given.
func allowedImport(path string) bool {
	if path == "github.com/hashicorp/go-version" || path == "net/url" { // url: escaping only
		return true
	}
	first, _, _ := strings.Cut(path, "/")
	if strings.Contains(first, ".") {
		return false // not the standard library
	}
	for _, io := range []string{"os", "net", "io/ioutil", "syscall", "unsafe", "plugin", "log", "runtime/cgo", "database/sql", "C"} {
		if path == io || strings.HasPrefix(path, io+"/") {
			return false
		}
	}
	return true
}

// badImports parses Go source (not _test files) and returns imports the
// policy forbids.
func badImports(t *testing.T, files map[string][]byte) []string {
	t.Helper()
	var bad []string
	fset := token.NewFileSet()
	for name, src := range files {
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		require.NoError(t, err, name)
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err, name)
			if !allowedImport(p) {
				bad = append(bad, name+": "+p)
			}
		}
	}
	return bad
}

func TestImportsArePure(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	require.NoError(t, err)
	files := map[string][]byte{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		require.NoError(t, err)
		files[p] = src
	}
	require.GreaterOrEqual(t, len(files), 5, "found only %d source files; is the test running in the package directory?", len(files))
	bad := badImports(t, files)
	assert.Empty(t, bad, "lifecycle must import only the standard library (no I/O) and go-version:\n%s", strings.Join(bad, "\n"))
}

// TestImportCheckCanFail guards the guard: the checker must reject what the
// package must not import.
func TestImportCheckCanFail(t *testing.T) {
	src := []byte(`package lifecycle
import (
	"fmt"
	"os"
	"net/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"pgregory.net/rapid"
	version "github.com/hashicorp/go-version"
)`)
	bad := badImports(t, map[string][]byte{"x.go": src})
	want := []string{"x.go: os", "x.go: net/http", "x.go: github.com/aws/aws-sdk-go-v2/service/ec2", "x.go: pgregory.net/rapid"}
	assert.Equal(t, want, bad, "checker found")
}
