package gceemu

import "testing"

// TestFingerprintsCompareAsBytes: gcloud sends back a fingerprint in the
// URL-safe alphabet; it is the same bytes, and other bytes are not.
func TestFingerprintsCompareAsBytes(t *testing.T) {
	for _, c := range []struct {
		sent, have string
		same       bool
	}{
		{"kXoyCx+ULmE=", "kXoyCx+ULmE=", true},
		{"kXoyCx-ULmE=", "kXoyCx+ULmE=", true},
		{"a_b-AA==", "a/b+AA==", true},
		{"lXoyCx-ULmE=", "kXoyCx+ULmE=", false},
		{"", "kXoyCx+ULmE=", false},
		{"not base64!", "kXoyCx+ULmE=", false},
	} {
		if got := sameFingerprint(c.sent, c.have); got != c.same {
			t.Errorf("sameFingerprint(%q, %q) = %v, want %v", c.sent, c.have, got, c.same)
		}
	}
}
