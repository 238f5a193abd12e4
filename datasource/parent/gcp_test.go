package parent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/option"
	"pgregory.net/rapid"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend/gcp"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/gceemu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// label encodes a tag value as the GCP backend writes it.
func label(tag, v string) string {
	out, ok := gcp.EncodeValue(tag, v)
	if !ok {
		panic(tag + " " + v)
	}
	return out
}

// TestGCPAgreesWithGetFromFamily: the data source hands out what Compute
// Engine's own family would (images.getFromFamily: the newest image not
// deprecated), minus what the lifecycle does not support: releases it
// does not manage, recorded but not released, expired, or labelled
// retired. Versions rise with creation time, as releases do, so both
// orders agree.
func TestGCPAgreesWithGetFromFamily(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	t.Setenv(clock.Env, now.Format(time.RFC3339))
	const project = "lifecycle-test"
	rapid.Check(t, func(rt *rapid.T) {
		s := gceemu.New(gceemu.WithClock(gceemu.NewFakeClock(now)), gceemu.WithProjects(project))
		url, closeFn, err := s.Listen("127.0.0.1:0")
		require.NoError(rt, err)
		defer func() { _ = closeFn() }()
		n := rapid.IntRange(0, 6).Draw(rt, "images")
		want, supported := "", map[string]bool{}
		for i := 0; i < n; i++ {
			v := fmt.Sprintf("1.%d.0", i)
			created := now.Add(-time.Duration(n-i) * 24 * time.Hour)
			state := rapid.SampledFrom([]string{"ACTIVE", "ACTIVE", "DEPRECATED", "OBSOLETE", "DELETED"}).Draw(rt, "state")
			stage := rapid.SampledFrom([]string{"active", "active", "pending", "deprecated", "disabled"}).Draw(rt, "stage")
			owner := rapid.SampledFrom([]string{lifecycle.DefaultManagedBy, lifecycle.DefaultManagedBy, "someone-else", ""}).Draw(rt, "managed-by")
			expired := rapid.Bool().Draw(rt, "expired")
			labels := map[string]string{
				"lifecycle-family": label(lifecycle.TagFamily, "web"), "lifecycle-version": label(lifecycle.TagVersion, v),
				"lifecycle-channel": "stable", "lifecycle-stage": stage,
				"lifecycle-released-at": label(lifecycle.TagReleasedAt, created.Format(time.RFC3339)),
			}
			if owner != "" {
				labels["lifecycle-managed-by"] = label(lifecycle.TagManagedBy, owner)
			}
			expires := now.Add(24 * time.Hour)
			if expired {
				expires = now.Add(-time.Hour)
			}
			labels["lifecycle-expires-at"] = label(lifecycle.TagExpiresAt, expires.Format(time.RFC3339))
			im := &compute.Image{Name: fmt.Sprintf("web-1-%d-0", i), Family: "web", Labels: labels,
				CreationTimestamp: created.Format(time.RFC3339)}
			if state != "ACTIVE" {
				im.Deprecated = &compute.DeprecationStatus{State: state}
			}
			s.PutImage(project, im)
			if state == "ACTIVE" && stage == "active" && owner == lifecycle.DefaultManagedBy && !expired {
				want, supported[im.Name] = im.Name, true // the newest so far
			}
		}
		svc, err := compute.NewService(context.Background(), option.WithEndpoint(url+"compute/v1/"), option.WithoutAuthentication())
		require.NoError(rt, err)
		fam, famErr := svc.Images.GetFromFamily(project, "web").Do()
		out, err := execute(t, map[string]interface{}{
			"family": "web", "backend": "gcp", "project_id": project, "access_token": "dummy",
			"custom_endpoints": map[string]string{"compute": url + "compute/v1/"},
		})
		if want == "" {
			require.Error(rt, err, "nothing supported: the data source refuses, it never falls back to GCE's family")
			return
		}
		require.NoError(rt, err)
		require.Equal(rt, want, out.ID)
		require.Equal(rt, url+"compute/v1/projects/"+project+"/global/images/"+want, out.SelfLink)
		require.Equal(rt, project, out.Project)
		require.NoError(rt, famErr, "GCE's family has an image whenever one is supported")
		if supported[fam.Name] {
			require.Equal(rt, fam.Name, out.ID, "where GCE's family answer is supported, it is the one")
		} else {
			require.Greater(rt, fam.Name, out.ID, "GCE's answer is newer (names sort as versions here), and not supported")
		}
	})
}
