package release

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The default report file is named after the family; a family with path
// separators or ".." must not put it outside <catalog_dir>/reports.
func TestDefaultReportPathStaysInReportsDir(t *testing.T) {
	for _, fam := range []string{"../../../tmp/evil", "team/web", `a\..\..\b`, ".."} {
		p, err := configure(t, map[string]interface{}{"family": fam, "version": "1", "catalog_dir": "cat"})
		require.NoError(t, err, "family %q", fam)
		stem, unique := p.reportPath(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		plain := unique && filepath.Dir(stem) == filepath.Join("cat", "reports") && !strings.Contains(filepath.Base(stem), "..")
		assert.True(t, plain, "family %q: report stem %q (unique %v) is not a plain file in cat/reports", fam, stem, unique)
	}
}
