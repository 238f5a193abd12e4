package lifecycle

import (
	"fmt"
	"slices"
	"time"
)

// Revocation is HCP Packer's revoke applied to the images themselves: a
// release found bad (a vulnerable package, a leaked secret) is deprecated
// now, outside every retention rule, so the data source hands it out no
// more; with descendants, so is every release built from it, whatever its
// family. Deprecation is soft: running instances go on, and the normal
// stages (disable, deregister) follow per policy; restore undoes it.

// A release is its copies in every region: revoking one revokes them all.
// An image the plugin does not judge (not managed, another owner's,
// unreadable) is only itself, even when its tags name a release: another
// team's copy of "web 1.0.0" never pulls ours in, nor an image without
// metadata every other such image.
type releaseID struct{ family, version string }

func releaseOf(img Image, owners []string) releaseID {
	if skipReason(img, owners) != "" || img.Family == "" || img.Version == "" {
		return releaseID{"\x00" + img.Region, img.ID}
	}
	return releaseID{img.Family, img.Version}
}

// Revoke decides the revocation of the releases refs name and, with
// descendants, of every release built from one of them, transitively:
// an image whose Parent is one of the names of a revoked image, as names
// gives them (nil: its id, the data source's `id`, and its ref). Each revoked active image is
// deprecated, with reason and the chain in its decision's reason; a pinned
// one is kept (unpin it first); one already deprecated or disabled is
// kept; one not ours is skipped. The other images of family are kept; the
// other families' images that are not revoked are left out. owners is as
// Policy.Owners. Output order is Plan's.
func Revoke(images []Image, refs []Ref, descendants bool, reason, family string, owners []string, names func(Image) []string, now time.Time) []Decision {
	if names == nil {
		names = func(img Image) []string { return []string{img.ID, img.Ref().String()} }
	}
	now = now.Truncate(time.Second)
	why := map[releaseID]string{} // revoked release -> why
	byParent := map[string][]int{}
	for i, img := range images {
		if img.Parent != "" {
			byParent[img.Parent] = append(byParent[img.Parent], i)
		}
	}
	var queue []int
	revoke := func(i int, because string) {
		r := releaseOf(images[i], owners)
		if _, done := why[r]; done {
			return
		}
		why[r] = because
		for j, img := range images {
			if releaseOf(img, owners) == r {
				queue = append(queue, j)
			}
		}
	}
	for i, img := range images {
		if slices.ContainsFunc(refs, func(r Ref) bool { return r.matches(img) }) {
			revoke(i, "revoke: requested: "+reason)
		}
	}
	for len(queue) > 0 && descendants {
		i := queue[0]
		queue = queue[1:]
		parent := images[i]
		for _, name := range names(parent) {
			for _, c := range byParent[name] {
				revoke(c, fmt.Sprintf("revoke: built from %s %s (%s), which is revoked: %s", parent.Family, parent.Version, parent.Ref(), reason))
			}
		}
	}
	var out []Decision
	for _, img := range images {
		because, revoked := why[releaseOf(img, owners)]
		if !revoked && img.Family != family {
			continue
		}
		d := Decision{Image: img, Action: ActionKeep}
		eff := img.EffectiveStage(now)
		switch skip := skipReason(img, owners); {
		case !revoked:
			d.Reason = "kept: not revoked"
		case skip != "":
			d.Action, d.Reason = ActionSkip, skip
		case img.Pinned:
			d.Reason = "kept: pinned; unpin it to revoke it (" + because + ")"
		case eff != StageActive:
			d.Reason = fmt.Sprintf("kept: %s already (%s)", eff, because)
		default:
			d.Action, d.To, d.Reason = ActionDeprecate, StageDeprecated, because
		}
		out = append(out, d)
	}
	sortDecisions(versionCache{}, out)
	return out
}
