package lifecycle

import (
	"testing"
	"time"

	version "github.com/hashicorp/go-version"
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
		if c := compareSemver(a, b); c != -1 {
			t.Errorf("compare(%q, %q) = %d, want -1", p[0], p[1], c)
		}
		if c := compareSemver(b, a); c != 1 {
			t.Errorf("compare(%q, %q) = %d, want 1", p[1], p[0], c)
		}
	}
	equal := [][2]string{
		{"1.0", "1.0.0"}, {"1.0.0", "1.0.0.0"}, {"1.0.0+a", "1.0.0+b"}, {"v1.0.0", "1.0.0"},
		{"1.0.0-rc.1", "1.0.0-rc.01"}, {"junk", "other junk"},
	}
	for _, p := range equal {
		if c := compareSemver(parseSemver(p[0]), parseSemver(p[1])); c != 0 {
			t.Errorf("compare(%q, %q) = %d, want 0", p[0], p[1], c)
		}
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
	t.Fatal("go-version Compare looks consistent now: compareSemver may become a thin wrapper again")
}

func TestCompareVersions(t *testing.T) {
	a := Image{ID: "a", Version: "1.0.0", BuildTime: now}
	b := Image{ID: "b", Version: "1.0.0", BuildTime: now}
	c := Image{ID: "c", Version: "1.0", BuildTime: now.Add(time.Second)}
	if CompareVersions(a, b) <= 0 || CompareVersions(b, a) >= 0 {
		t.Error("same version and time: lower id first (counts as newer)")
	}
	if CompareVersions(c, a) <= 0 {
		t.Error("same precedence: later build is newer")
	}
	if CompareVersions(a, a) != 0 {
		t.Error("not reflexive")
	}
}
