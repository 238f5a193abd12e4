package gcp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseImageURL(t *testing.T) {
	for u, want := range map[string]imageRef{
		"https://compute.googleapis.com/compute/v1/projects/p1/global/images/web-1": {project: "p1", name: "web-1"},
		"projects/p1/global/images/family/web":                                      {project: "p1", family: "web"},
		"global/images/web-2":                                                       {project: "own", name: "web-2"},
		"http://127.0.0.1:9/compute/v1/projects/p2/global/images/family/base":       {project: "p2", family: "base"},
		"": {},
		"projects/p1/zones/us-central1-a/disks/d1":                                                               {},
		"https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20260101": {project: "debian-cloud", name: "debian-12-bookworm-v20260101"},
	} {
		require.Equal(t, want, parseImageURL(u, "own"), u)
	}
}

func TestInsideCovered(t *testing.T) {
	covered := []string{"lifecycle-test", "lifecycle-other"}
	for m, want := range map[string]bool{
		"projectViewer:lifecycle-test":                                  true,
		"projectEditor:someone-else":                                    false,
		"serviceAccount:packer@lifecycle-other.iam.gserviceaccount.com": true,
		"serviceAccount:packer@elsewhere-123.iam.gserviceaccount.com":   false,
		"serviceAccount:123-compute@developer.gserviceaccount.com":      false,
		"user:alice@example.com":                                        false,
		"group:ops@example.com":                                         false,
		"allAuthenticatedUsers":                                         false,
		"domain:example.com":                                            false,
	} {
		require.Equal(t, want, insideCovered(m, covered), m)
	}
}

func TestNames(t *testing.T) {
	require.Equal(t, "us-central1-a/vm-1", lastParts("https://x/compute/v1/projects/p/zones/us-central1-a/instances/vm-1", 3))
	require.Equal(t, "tpl", templateID("https://x/compute/v1/projects/p/global/instanceTemplates/tpl"))
	require.Equal(t, "europe-west1/tpl", templateID("https://x/compute/v1/projects/p/regions/europe-west1/instanceTemplates/tpl"))
}
