package lifecycle

import (
	"testing"
	"time"

	version "github.com/hashicorp/go-version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompareSemver(t *testing.T) {
	// Each row: a < b.
	less := [][2]string{
		{"1.0.0", "1.0.1"},
		{"1.9.0", "1.10.0"},
		{"1.0.0-rc.1", "1.0.0"},
		{"1.0.0-alpha", "1.0.0-alpha.1"},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta"},
		{"1.0.0-beta.2", "1.0.0-beta.11"},
		{"1.0.0-rc.1", "1.0.0-rc.99999999999999999999999"},
		{"1.0.0-rc1", "1.0.0.0"},
		{"v1.2", "1.3"},
		{"not-a-version", "0.0.1"}, // parseable outranks unparseable
		{"", "0"},
	}
	for _, p := range less {
		a, b := parseSemver(p[0]), parseSemver(p[1])
		assert.Equal(t, -1, compareSemver(a, b), "compare(%q, %q)", p[0], p[1])
		assert.Equal(t, 1, compareSemver(b, a), "compare(%q, %q)", p[1], p[0])
	}
	equal := [][2]string{
		{"1.0", "1.0.0"}, {"1.0.0", "1.0.0.0"}, {"1.0.0+a", "1.0.0+b"}, {"v1.0.0", "1.0.0"},
		{"1.0.0-rc.1", "1.0.0-rc.01"}, {"junk", "other junk"},
	}
	for _, p := range equal {
		assert.Equal(t, 0, compareSemver(parseSemver(p[0]), parseSemver(p[1])), "compare(%q, %q)", p[0], p[1])
	}
}

// TestGoVersionCompareIsInconsistent documents why version.go does not sort
// with go-version's Compare: it is not an order on everything it parses. If
// a go-version upgrade fixes this, the test fails and compareSemver could
// become a thin wrapper again.
func TestGoVersionCompareIsInconsistent(t *testing.T) {
	v := func(s string) *version.Version { return version.Must(version.NewVersion(s)) }
	a, b := v("1.0.0-rc.1"), v("1.0.0-rc.01")
	if a.Compare(b) == -1 && b.Compare(a) == -1 {
		return // each "less" than the other: not antisymmetric
	}
	x, y, z := v("1.0.0-rc1"), v("1.0.0"), v("1.0.0.0-rc1")
	if x.Compare(y) < 0 && y.Compare(z) == 0 && z.Compare(x) == 0 {
		return // equality is not transitive
	}
	require.Fail(t, "go-version Compare looks consistent now: compareSemver may become a thin wrapper again")
}

func TestCompareVersions(t *testing.T) {
	a := Image{ID: "a", Version: "1.0.0", BuildTime: now}
	b := Image{ID: "b", Version: "1.0.0", BuildTime: now}
	c := Image{ID: "c", Version: "1.0", BuildTime: now.Add(time.Second)}
	assert.Positive(t, CompareVersions(a, b), "same version and time: lower id first (counts as newer)")
	assert.Negative(t, CompareVersions(b, a), "same version and time: lower id first (counts as newer)")
	assert.Positive(t, CompareVersions(c, a), "same precedence: later build is newer")
	assert.Zero(t, CompareVersions(a, a), "not reflexive")
}
