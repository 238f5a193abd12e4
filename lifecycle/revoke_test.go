package lifecycle

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestRevoke(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	long := now.Add(-90 * 24 * time.Hour)
	rel := func(id, region, family, version, parent string, mutate ...func(*Image)) Image {
		img := Image{ID: id, Region: region, Family: family, Channel: "stable", Version: version, Parent: parent, Managed: true,
			Stage: StageActive, StageSince: long, State: StateAvailable, BuildTime: long, Owner: genOwner}
		for _, m := range mutate {
			m(&img)
		}
		return img
	}
	images := []Image{
		rel("ami-b1e", "us-east-1", "base", "1.0.0", ""),
		rel("ami-b1w", "eu-west-1", "base", "1.0.0", ""), // the same release's copy
		rel("ami-b2", "us-east-1", "base", "1.1.0", ""),
		rel("ami-a1", "us-east-1", "app", "3.0.0", "ami-b1e"),                                               // child, other family
		rel("ami-a1w", "eu-west-1", "app", "3.0.0", "ami-a1"),                                               // its copy (copied, parent the source)
		rel("ami-w1", "us-east-1", "worker", "0.1.0", "ami-a1"),                                             // grandchild
		rel("ami-w2", "us-east-1", "worker", "0.2.0", "ami-a1", func(i *Image) { i.Pinned = true }),         // pinned grandchild
		rel("ami-x1", "us-east-1", "app", "3.0.1", "ami-b2"),                                                // built from a good base
		rel("ami-f1", "us-east-1", "app", "9.9.9", "ami-b1e", func(i *Image) { i.Managed = false }),         // not ours
		rel("ami-f2", "us-east-1", "tool", "1.0.0", "ami-f1"),                                               // built from what is not ours
		rel("ami-d1", "us-east-1", "app", "2.0.0", "ami-b1e", func(i *Image) { i.Stage = StageDeprecated }), // retiring already
		rel("ami-o1", "us-east-1", "other", "1.0.0", ""),
	}
	byID := func(ds []Decision) map[string]string {
		out := map[string]string{}
		for _, d := range ds {
			out[d.Image.ID] = string(d.Action) + " " + d.Reason
		}
		return out
	}
	got := byID(Revoke(images, []Ref{{ID: "ami-b1e"}}, true, "CVE-2026-0001", "base", []string{genOwner}, nil, now))
	require.Equal(t, map[string]string{
		"ami-b1e": "deprecate revoke: requested: CVE-2026-0001",
		"ami-b1w": "deprecate revoke: requested: CVE-2026-0001",
		"ami-b2":  "keep kept: not revoked",
		"ami-a1":  "deprecate revoke: built from base 1.0.0 (us-east-1:ami-b1e), which is revoked: CVE-2026-0001",
		"ami-a1w": "deprecate revoke: built from base 1.0.0 (us-east-1:ami-b1e), which is revoked: CVE-2026-0001",
		"ami-w1":  "deprecate revoke: built from app 3.0.0 (us-east-1:ami-a1), which is revoked: CVE-2026-0001",
		"ami-w2":  "keep kept: pinned; unpin it to revoke it (revoke: built from app 3.0.0 (us-east-1:ami-a1), which is revoked: CVE-2026-0001)",
		"ami-f1":  "skip skipped: not managed",
		"ami-f2":  "deprecate revoke: built from app 9.9.9 (us-east-1:ami-f1), which is revoked: CVE-2026-0001",
		"ami-d1":  "keep kept: deprecated already (revoke: built from base 1.0.0 (us-east-1:ami-b1e), which is revoked: CVE-2026-0001)",
	}, got, "the other families' images that are not revoked are left out")

	// Without descendants only the release itself, in every region.
	got = byID(Revoke(images, []Ref{{Region: "eu-west-1", ID: "ami-b1w"}}, false, "bad", "base", nil, nil, now))
	require.Equal(t, map[string]string{"ami-b1e": "deprecate revoke: requested: bad", "ami-b1w": "deprecate revoke: requested: bad",
		"ami-b2": "keep kept: not revoked"}, got)

	// Another team's copy of base 1.0.0 and an image without metadata are
	// only themselves.
	foreign := append(slices.Clone(images),
		rel("ami-t1", "us-east-1", "base", "1.0.0", "", func(i *Image) { i.Owner = "222222222222" }),
		rel("ami-t2", "us-east-1", "tool", "5.0.0", "ami-t1"),
		rel("ami-n1", "us-east-1", "", "", ""), rel("ami-n2", "us-east-1", "", "", ""), rel("ami-n3", "us-east-1", "tool", "6.0.0", "ami-n2"))
	got = byID(Revoke(foreign, []Ref{{ID: "ami-n1"}, {ID: "ami-b1e"}, {ID: "ami-b2"}}, true, "bad", "base", []string{genOwner}, nil, now))
	require.Equal(t, "keep kept: not revoked", got["ami-t1"], "another owner's base 1.0.0 is not ours")
	require.NotContains(t, got, "ami-t2")
	require.Equal(t, "deprecate revoke: requested: bad", got["ami-n1"])
	require.NotContains(t, got, "ami-n3", "ami-n2 is not ami-n1's release")
	require.True(t, strings.HasPrefix(got["ami-x1"], "deprecate revoke: built from base 1.1.0"))
}

// TestPropRevoke: Revoke deprecates only active, managed, owned, unpinned
// images of a release that was requested or (with descendants) built from
// a revoked image; it changes nothing else; and a revoked image is never
// handed out by Choose.
func TestPropRevoke(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		for i := range s.images {
			if i > 0 && rapid.Bool().Draw(t, "has-parent") {
				s.images[i].Parent = s.images[rapid.IntRange(0, i-1).Draw(t, "parent")].ID
			}
		}
		var refs []Ref
		for _, img := range s.images {
			if flag1in(t, 5, "revoke") {
				refs = append(refs, img.Ref())
			}
		}
		descendants := rapid.Bool().Draw(t, "descendants")
		got := Revoke(s.images, refs, descendants, "r", "base", s.policy.Owners, nil, s.now)
		// Which releases may be revoked: requested ones, and those built
		// from any image of a revocable release.
		revocable := map[string]bool{}
		for _, img := range s.images {
			if slices.ContainsFunc(refs, func(r Ref) bool { return r.matches(img) }) {
				revocable[img.ID] = true
			}
		}
		sameRelease := func(img Image) bool {
			return skipReason(img, s.policy.Owners) == "" && img.Family != "" && img.Version != "" && slices.ContainsFunc(s.images, func(o Image) bool {
				return revocable[o.ID] && skipReason(o, s.policy.Owners) == "" && o.Family == img.Family && o.Version == img.Version
			})
		}
		for changed := true; changed; {
			changed = false
			for _, img := range s.images {
				if !revocable[img.ID] && (sameRelease(img) ||
					descendants && slices.ContainsFunc(s.images, func(p Image) bool { return revocable[p.ID] && img.Parent == p.ID })) {
					revocable[img.ID], changed = true, true
				}
			}
		}
		var after []Image
		for _, d := range got {
			img := d.Image
			if d.Action.Mutates() {
				require.Equal(t, ActionDeprecate, d.Action)
				require.True(t, img.Managed && !img.Pinned && skipReason(img, s.policy.Owners) == "" && img.EffectiveStage(s.now) == StageActive,
					"deprecated %s: managed %v pinned %v stage %s", img.ID, img.Managed, img.Pinned, img.EffectiveStage(s.now))
				require.True(t, revocable[img.ID], "%s revoked: %s", img.ID, d.Reason)
				img = Apply(img, d, s.now)
			} else if img.Family != "base" {
				require.True(t, revocable[img.ID], "%s of family %s is not revoked, yet listed", img.ID, img.Family)
			}
			after = append(after, img)
		}
		for _, d := range got {
			if d.Action == ActionDeprecate {
				if c, err := Choose(after, Choice{Family: d.Image.Family, Channel: d.Image.Channel}, s.now); err == nil {
					require.NotEqual(t, d.Image.Ref(), c.Ref(), "Choose hands out revoked %s", d.Image.ID)
				}
			}
		}
	})
}
