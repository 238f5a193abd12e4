package lifecycle

import "strings"

// Ref names one stored image: an AMI id alone is not unique across regions
// (copies of a release in several regions may share nothing but a name, and
// ids of two regions can in principle collide), so everything the planner
// keys by image (usage, new builds, restores) is keyed by Ref.
type Ref struct {
	Region string // EC2 region, or "local"; empty only in requests (see Restore)
	ID     string
}

// Ref is img's reference.
func (img Image) Ref() Ref { return Ref{Region: img.Region, ID: img.ID} }

// String renders "region:id", or the id alone when the region is empty.
func (r Ref) String() string {
	if r.Region == "" {
		return r.ID
	}
	return r.Region + ":" + r.ID
}

// ParseRef reads what String writes: "region:id", or a bare id (empty
// Region). Neither region names nor image ids contain a colon.
func ParseRef(s string) Ref {
	if region, id, ok := strings.Cut(s, ":"); ok {
		return Ref{Region: region, ID: id}
	}
	return Ref{ID: s}
}

// Names reports whether r names img: a Ref without a region names the id
// in every region (a marker of the new build, a requested image).
func (r Ref) Names(img Image) bool { return r.matches(img) }

// matches reports whether a requested ref names img: a request without a
// region names the id in every region.
func (r Ref) matches(img Image) bool {
	return r.ID == img.ID && (r.Region == "" || r.Region == img.Region)
}
