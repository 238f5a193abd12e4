package lifecycle

// Ref names one image: an id alone is not unique across regions.
type Ref struct{ Region, ID string }

// Ref returns the image's reference.
func (img Image) Ref() Ref { return Ref{Region: img.Region, ID: img.ID} }

func (r Ref) String() string {
	if r.Region == "" {
		return r.ID
	}
	return r.Region + ":" + r.ID
}

// ConsumerUnknown is the consumer of an image whose usage could not be
// looked up: the image is kept (fail closed).
const ConsumerUnknown = "unknown"
