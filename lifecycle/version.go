package lifecycle

import (
	"cmp"
	"strconv"
	"strings"

	version "github.com/hashicorp/go-version"
)

// semver is a parsed version reduced to what precedence depends on.
//
// We parse with go-version but compare ourselves: go-version's Compare is not
// a consistent order on every input it accepts (1.0.0-rc1 < 1.0.0 and
// 1.0.0 == 1.0.0.0-rc1 yet 1.0.0.0-rc1 == 1.0.0-rc1; prerelease parts "1"
// and "01" are each less than the other). A plan sorted with an inconsistent
// order is not deterministic, so precedence here follows semver 2.0 on
// go-version's parse: numeric segments with trailing zeros ignored, then
// prerelease (none > any; dot parts numeric < alphanumeric, numeric by value,
// fewer parts lower), build metadata ignored.
type semver struct {
	segs []int64
	pre  []string // nil: no prerelease
}

// parseSemver returns nil when s is not a version go-version understands
// (then the planner orders by build time instead).
func parseSemver(s string) *semver {
	if s == "" {
		return nil
	}
	v, err := version.NewVersion(s)
	if err != nil {
		return nil
	}
	segs := v.Segments64()
	for len(segs) > 0 && segs[len(segs)-1] == 0 {
		segs = segs[:len(segs)-1]
	}
	sv := &semver{segs: segs}
	if p := v.Prerelease(); p != "" {
		sv.pre = strings.Split(p, ".")
	}
	return sv
}

// canonical is a text equal for two versions exactly when compareSemver
// says they have the same precedence: numeric segments without trailing
// zeros, then prerelease parts with numeric ones written without leading
// zeros.
func (v *semver) canonical() string {
	var b strings.Builder
	for i, s := range v.segs {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatInt(s, 10))
	}
	if v.pre != nil {
		b.WriteByte('-')
		for i, p := range v.pre {
			if i > 0 {
				b.WriteByte('.')
			}
			if isDigits(p) {
				if p = strings.TrimLeft(p, "0"); p == "" {
					p = "0"
				}
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

// compareSemver orders parseable versions above unparseable ones (nil), and
// parseable ones by precedence. 0 means "same precedence": the caller breaks
// the tie by build time.
func compareSemver(a, b *semver) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	for i := 0; i < len(a.segs) || i < len(b.segs); i++ {
		var x, y int64
		if i < len(a.segs) {
			x = a.segs[i]
		}
		if i < len(b.segs) {
			y = b.segs[i]
		}
		if x != y {
			return cmp.Compare(x, y)
		}
	}
	switch {
	case a.pre == nil && b.pre == nil:
		return 0
	case a.pre == nil:
		return 1 // a release outranks its prereleases
	case b.pre == nil:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := comparePrePart(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.pre), len(b.pre))
}

// comparePrePart compares one dot-separated prerelease identifier. Numbers of
// any length compare by value (no overflow: leading zeros are dropped, then
// longer is larger), and sort below words.
func comparePrePart(a, b string) int {
	an, bn := isDigits(a), isDigits(b)
	switch {
	case an && bn:
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return cmp.Compare(len(a), len(b))
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// versionCache parses each distinct version string once per plan.
type versionCache map[string]*semver

func (c versionCache) get(s string) *semver {
	v, ok := c[s]
	if !ok {
		v = parseSemver(s)
		c[s] = v
	}
	return v
}

// CompareVersions orders two images newest-last, the way the planner does:
// parseable versions by precedence (above every unparseable one), then build
// time, then the version text, then id. It is a strict total order on images
// with distinct ids, so sorting with it is deterministic. The datasource uses
// it to pick the newest image.
func CompareVersions(a, b Image) int {
	return compareImages(versionCache{}, a, b)
}

func compareImages(c versionCache, a, b Image) int {
	if r := compareSemver(c.get(a.Version), c.get(b.Version)); r != 0 {
		return r
	}
	if r := a.BuildTime.Compare(b.BuildTime); r != 0 {
		return r
	}
	if r := strings.Compare(a.Version, b.Version); r != 0 {
		return r
	}
	return strings.Compare(b.ID, a.ID) // lower id counts as newer: it sorts first
}
