package lifecycle

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// defaultChecks is the number of cases each property runs under a plain
// `go test`: rapid's own default is 100, and the invariants of a planner that
// deletes data deserve more. With the properties below that is >= 10,000
// generated cases per run. -rapid.checks (or RAPID_CHECKS) overrides it, and
// -short divides it by 5 (rapid's own rule).
const defaultChecks = 2500

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	setDefault := func(name, env, value string) {
		if _, ok := os.LookupEnv(env); !explicit[name] && !ok {
			if err := flag.Set(name, value); err != nil {
				panic(err)
			}
		}
	}
	setDefault("rapid.checks", "RAPID_CHECKS", strconv.Itoa(defaultChecks))
	// A failure prints the seed to reproduce it; fail files would only
	// litter testdata/ in CI checkouts.
	setDefault("rapid.nofailfile", "RAPID_NOFAILFILE", "true")
	os.Exit(m.Run())
}

// --- generators ---------------------------------------------------------

var (
	genOwner = "111111111111"
	// versionPool mixes ordinary versions, equal-precedence spellings,
	// prereleases go-version compares inconsistently, overflowing numbers,
	// unparseable text, unicode and the empty version.
	versionPool = []string{
		"1.0.0", "1.0", "1.0.0.0", "v1.0.0", "1.0.0+b2", "1.0.0+b3", "1.0.0-rc.1", "1.0.0-rc.01", "1.0.0-rc1", "1.0.0-rc.1+b1",
		"1.0.0.0-rc1", "0.9.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.4.2", "1.5.0", "1.9.0", "1.10.0",
		"2.0.0", "2.0.0-beta", "3.0.0", "99999999999999999999",
		"nightly", "nightly-2", "", "", "🦄", "1.2.3-β", "2024-01-05",
	}
	stagePool = []Stage{"", "", StageActive, StageDeprecated, StageDeprecated, StageDisabled, StageDisabled,
		StageDeregistered, "bogus"}
	statePool = []string{StateAvailable, StateAvailable, StateAvailable, StateAvailable, StateAvailable, "",
		StateDisabled, "pending", "failed", StateDeregistered}
)

// genTime is zero sometimes and in the future sometimes; otherwise up to
// ~5 months before base, at minute resolution so coincidences (equal times)
// happen.
func genTime(t *rapid.T, base time.Time, label string) time.Time {
	switch rapid.IntRange(0, 19).Draw(t, label+"-kind") {
	case 0:
		return time.Time{}
	case 1:
		return base.Add(time.Duration(rapid.IntRange(0, 3*24*60).Draw(t, label+"-ahead")) * time.Minute)
	}
	days := rapid.IntRange(0, 150).Draw(t, label+"-days")
	mins := rapid.IntRange(0, 24*60).Draw(t, label+"-mins")
	return base.Add(-time.Duration(days)*Day - time.Duration(mins)*time.Minute)
}

// flag1in is true about once in n draws.
func flag1in(t *rapid.T, n int, label string) bool { return rapid.IntRange(1, n).Draw(t, label) == 1 }

// genImage weights its choices so that most images share a few groups and
// are eligible releases: that is where the planner has decisions to make.
func genImage(t *rapid.T, id string, base time.Time) Image {
	img := Image{
		ID:      id,
		Region:  rapid.SampledFrom([]string{"us-east-1", "us-east-1", "eu-west-1"}).Draw(t, "region"),
		Family:  rapid.SampledFrom([]string{"base", "base", "base", "app"}).Draw(t, "family"),
		Channel: rapid.SampledFrom([]string{"stable", "stable", "stable", "rc", ""}).Draw(t, "channel"),
		Version: rapid.SampledFrom(versionPool).Draw(t, "version"),
		Stage:   rapid.SampledFrom(stagePool).Draw(t, "stage"),
		State:   rapid.SampledFrom(statePool).Draw(t, "state"),
		Owner:   rapid.SampledFrom([]string{genOwner, genOwner, genOwner, genOwner, "222222222222", ""}).Draw(t, "owner"),
	}
	img.BuildTime = genTime(t, base, "built")
	if flag1in(t, 3, "has-released") {
		img.ReleasedAt = genTime(t, base, "released")
	}
	if flag1in(t, 3, "has-expiry") {
		img.ExpiresAt = genTime(t, base, "expires")
	}
	if !flag1in(t, 3, "no-since") {
		img.StageSince = genTime(t, base, "since")
	}
	if flag1in(t, 3, "has-deprecation") {
		img.DeprecationTime = genTime(t, base, "deprecation")
	}
	img.Pinned = flag1in(t, 12, "pinned")
	img.Protected = flag1in(t, 12, "protected")
	img.Managed = !flag1in(t, 12, "unmanaged")
	img.Snapshots = rapid.SliceOfN(rapid.SampledFrom([]string{"snap-1", "snap-2"}), 0, 2).Draw(t, "snapshots")
	if flag1in(t, 4, "superseded-by") { // ids past the listing are builds that are gone
		img.SupersededBy = Ref{Region: rapid.SampledFrom([]string{"us-east-1", "eu-west-1", ""}).Draw(t, "by-region"),
			ID: fmt.Sprintf("ami-%02d", rapid.IntRange(0, 40).Draw(t, "by-id"))}
	}
	return img
}

func genImages(t *rapid.T, base time.Time) []Image {
	n := rapid.IntRange(0, 30).Draw(t, "n")
	imgs := make([]Image, n)
	for i := range imgs {
		imgs[i] = genImage(t, fmt.Sprintf("ami-%02d", i), base)
	}
	return imgs
}

func genUsage(t *rapid.T, imgs []Image) Usage {
	u := Usage{}
	for _, img := range imgs {
		if !flag1in(t, 6, "used") {
			continue
		}
		u[img.Ref()] = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Consumer {
			return Consumer{
				Kind: rapid.SampledFrom([]string{ConsumerInstance, ConsumerLaunchTemplate, ConsumerASG, ConsumerSSMParameter,
					ConsumerAccount, ConsumerUnknown}).Draw(t, "kind"),
				ID:      rapid.SampledFrom([]string{"i-0abc", "lt-0def", "web", "/ami/base", ""}).Draw(t, "cid"),
				Version: rapid.SampledFrom([]string{"", "1", "4"}).Draw(t, "cversion"),
			}
		}), 0, 3).Draw(t, "consumers") // an empty list means "not in use"
	}
	return u
}

func genDuration(t *rapid.T, label string) time.Duration {
	return rapid.SampledFrom([]time.Duration{0, 0, 0, time.Minute, time.Hour, Day, 7 * Day, 30 * Day}).Draw(t, label)
}

func genPolicy(t *rapid.T) Policy {
	p := Policy{
		KeepReleases:       rapid.IntRange(1, 3).Draw(t, "keep"),
		MinAge:             genDuration(t, "min_age"),
		ExpireAfter:        genDuration(t, "expire_after"),
		DeprecateAfter:     genDuration(t, "deprecate_after"),
		DisableAfter:       genDuration(t, "disable_after"),
		DeregisterAfter:    genDuration(t, "deregister_after"),
		DeleteSnapshots:    rapid.Bool().Draw(t, "delete_snapshots"),
		DeprecateExpired:   rapid.Bool().Draw(t, "deprecate_expired"),
		ManagedBy:          "test",
		ForgetPendingAfter: rapid.SampledFrom([]time.Duration{0, time.Hour, Day, 30 * Day}).Draw(t, "forget_pending_after"),
	}
	if rapid.Bool().Draw(t, "check-owners") {
		p.Owners = []string{genOwner}
	}
	if rapid.Bool().Draw(t, "rc-override") {
		keep := rapid.IntRange(1, 3).Draw(t, "rc-keep")
		del := rapid.Bool().Draw(t, "rc-delete")
		p.Channels = map[string]ChannelPolicy{"rc": {KeepReleases: &keep, DeleteSnapshots: &del}}
	}
	return p
}

func genNewBuild(t *rapid.T, imgs []Image) []Ref {
	var ids []Ref
	for _, img := range imgs {
		if flag1in(t, 15, "new") {
			r := img.Ref()
			if flag1in(t, 3, "new-any-region") {
				r.Region = ""
			}
			ids = append(ids, r)
		}
	}
	if flag1in(t, 4, "unlisted-new") {
		ids = append(ids, Ref{"us-east-1", "ami-not-listed"})
	}
	return ids
}

var propNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type scenario struct {
	images   []Image
	usage    Usage
	policy   Policy
	now      time.Time
	newBuild []Ref
}

func genScenario(t *rapid.T) scenario {
	imgs := genImages(t, propNow)
	return scenario{imgs, genUsage(t, imgs), genPolicy(t), propNow, genNewBuild(t, imgs)}
}

func (s scenario) plan() []Decision { return Plan(s.images, s.usage, s.policy, s.now, s.newBuild) }

// --- oracle -------------------------------------------------------------

// oracleEligible restates, independently of plan.go, which images count as
// releases.
func oracleEligible(img Image, p Policy) bool {
	owned := len(p.Owners) == 0 || slices.Contains(p.Owners, img.Owner)
	knownStage := img.Stage == "" || img.Stage == StageActive || img.Stage == StageDeprecated || img.Stage == StageDisabled
	okState := img.State == "" || img.State == StateAvailable || img.State == StateDisabled
	return img.Managed && owned && knownStage && okState
}

// oracleNewest returns the ids of images that count as one of the newest
// keep_releases releases of their (family, channel, region), recomputed
// naively: an image is among the newest when no newer live build of its own
// release exists (rebuilds supersede) and fewer than keep distinct live
// releases are strictly newer. Releases are told apart by precedence
// (releaseKey, whose agreement with compareSemver TestPropVersionOrder
// checks); a release is live when one of its builds is active and not
// expired.
func oracleNewest(imgs []Image, p Policy, now time.Time) map[string]bool {
	type rel struct {
		g     groupKey
		key   string
		ver   string
		built time.Time
		live  bool
	}
	live := func(img Image) bool {
		pol := p.For(img.Channel)
		expired := !img.ExpiresAt.IsZero() && !img.ExpiresAt.After(now) && !pol.NeverExpire
		return img.actualStage(now) == StageActive && !expired
	}
	rels := map[[2]any]*rel{}
	var eligible []Image
	for _, img := range imgs {
		if !oracleEligible(img, p) {
			continue
		}
		eligible = append(eligible, img)
		k := [2]any{keyOf(img), releaseKey(versionCache{}, img)}
		r := rels[k]
		if r == nil {
			r = &rel{g: keyOf(img), key: releaseKey(versionCache{}, img), ver: img.Version, built: img.BuildTime}
			rels[k] = r
		}
		if img.BuildTime.After(r.built) {
			r.built = img.BuildTime
		}
		r.live = r.live || live(img)
	}
	newer := func(a, b *rel) bool { // a strictly newer than b
		if c := compareSemver(parseSemver(a.ver), parseSemver(b.ver)); c != 0 {
			return c > 0
		}
		if !a.built.Equal(b.built) {
			return a.built.After(b.built)
		}
		return a.key > b.key
	}
	newest := map[string]bool{}
	for _, img := range eligible {
		me, n := rels[[2]any{keyOf(img), releaseKey(versionCache{}, img)}], 0
		rebuilt := slices.ContainsFunc(eligible, func(o Image) bool {
			return keyOf(o) == me.g && releaseKey(versionCache{}, o) == me.key && live(o) && o.BuildTime.After(img.BuildTime)
		})
		for _, other := range rels {
			if other.g == me.g && other.live && newer(other, me) {
				n++
			}
		}
		if !rebuilt && n < max(1, p.For(img.Channel).KeepReleases) {
			newest[img.ID] = true
		}
	}
	return newest
}

func retires(a Action) bool { return a == ActionDisable || a == ActionDeregister }

// fataler is what checkTransitions (transition_test.go) needs from
// *testing.T and *rapid.T alike.
type fataler interface {
	Fatalf(format string, args ...any)
}

// checkSafety asserts the invariants every single plan must satisfy. It takes
// *testing.T and *rapid.T alike (both are require.TestingT), so the fuzz
// targets assert the same invariants as the properties.
func checkSafety(t require.TestingT, s scenario, plan []Decision) {
	require.Len(t, plan, len(s.images), "one decision per image")
	isNew := func(img Image) bool {
		return slices.ContainsFunc(s.newBuild, func(r Ref) bool { return r.ID == img.ID && (r.Region == "" || r.Region == img.Region) })
	}
	// A bad override keeps its channel only; anything else keeps all.
	validFor := func(channel string) bool {
		return s.policy.validateTop() == nil && s.policy.validateChannel(channel) == nil
	}
	newest := oracleNewest(s.images, s.policy, s.now)
	for _, d := range plan {
		img, pol := d.Image, s.policy.For(d.Image.Channel)
		foreign := len(s.policy.Owners) > 0 && !slices.Contains(s.policy.Owners, img.Owner)
		inUse := len(s.usage[img.Ref()]) > 0
		eff := img.actualStage(s.now)
		where := fmt.Sprintf("%s (%s %q): %s", img.ID, d.Action, d.Reason, d.Image.Version)
		valid := validFor(img.Channel)

		require.NotEmpty(t, d.Reason, "empty reason: %s", where)
		// Kept, or skipped when unreadable (nothing of ours to keep).
		require.False(t, !valid && d.Action != ActionKeep && d.Action != ActionSkip, "acting under an invalid policy: %s", where)
		require.False(t, isNew(img) && d.Action != ActionKeep, "new build not kept: %s", where)
		require.False(t, (!img.Managed || foreign) && !isNew(img) && valid && d.Action != ActionSkip,
			"unmanaged or foreign image not skipped: %s", where)
		unknownUse := slices.ContainsFunc(s.usage[img.Ref()], func(c Consumer) bool { return c.Kind == ConsumerUnknown })
		require.False(t, unknownUse && (retires(d.Action) || d.DeleteSnapshots), "image with unknown usage retired: %s", where)
		require.False(t, (inUse || img.Pinned || img.Protected || !img.Managed || foreign) && (retires(d.Action) || d.DeleteSnapshots),
			"guarded image retired: %s", where)
		require.False(t, img.Pinned && d.Action.Mutates(), "pinned image touched: %s", where)
		require.False(t, d.DeleteSnapshots && (d.Action != ActionDeregister || !pol.DeleteSnapshots),
			"snapshots deleted without deregister + delete_snapshots: %s", where)
		if d.Action == ActionForget {
			// Only a stopped run's pending release of ours, past the grace.
			since := img.StageSince
			if since.IsZero() {
				since = img.BuildTime
			}
			require.False(t, img.State != StatePending || !img.Managed || foreign || img.Pinned || isNew(img) ||
				s.policy.ForgetPendingAfter <= 0 || since.IsZero() || s.now.Sub(since) < s.policy.ForgetPendingAfter,
				"forget: %s", where)
			continue
		}
		if d.Action == ActionRecord && MarkerOnly(img, d) {
			// The stage a stopped run left stands without its build (rule
			// 0): only a marker naming a build that is no release is cleared.
			require.True(t, img.SupersededBy.ID != "" && d.SupersededBy == Ref{} && d.To == img.actualStage(s.now) && !released(s, plan, img.SupersededBy),
				"marker cleared: %s", where)
			continue
		}
		if d.Action == ActionRecord {
			// Metadata only: it records the stage the backend shows.
			require.False(t, img.Pinned || d.To != img.actualStage(s.now) || d.To == recordedStage(img) || d.To != img.observedStage(s.now),
				"record of %s: %s", d.To, where)
			continue
		}
		// An undo (restore) is not held by min_age: the undo the stopped run owed is not.
		require.False(t, d.Action.Mutates() && d.Action != ActionRestore && (img.BuildTime.IsZero() && pol.MinAge > 0 || s.now.Sub(img.BuildTime) < pol.MinAge),
			"image younger than min_age touched: %s", where)
		if newest[img.ID] {
			require.False(t, retires(d.Action), "one of the newest %d releases retired: %s", pol.KeepReleases, where)
			expired := !img.ExpiresAt.IsZero() && !img.ExpiresAt.After(s.now) && !pol.NeverExpire
			require.False(t, d.Action == ActionDeprecate && !(expired && pol.DeprecateExpired),
				"one of the newest releases deprecated without expiring: %s", where)
		}
		// One stage at a time, forward only.
		switch d.Action {
		case ActionDeprecate:
			require.Equal(t, StageActive, eff, "deprecate from %s: %s", eff, where)
		case ActionDisable:
			require.Equal(t, StageDeprecated, eff, "disable from %s: %s", eff, where)
		case ActionDeregister:
			require.Equal(t, StageDisabled, eff, "deregister from %s: %s", eff, where)
		case ActionRestore:
			// Only what a stopped run left for a build that is no release.
			require.True(t, img.Managed && !img.Pinned && !isNew(img) && img.SupersededBy.ID != "" &&
				(eff == StageDeprecated || eff == StageDisabled), "Plan restored: %s", where)
			require.False(t, released(s, plan, img.SupersededBy), "restored although %s is a release: %s", img.SupersededBy, where)
		}
	}
}

// released says whether a build by names is, or may be, a release after
// plan: an image it matches that plan neither deregisters nor forgets, ours
// and usable.
func released(s scenario, plan []Decision, by Ref) bool {
	for _, b := range s.images {
		gone := slices.ContainsFunc(plan, func(o Decision) bool {
			return o.Image.Ref() == b.Ref() && (o.Action == ActionDeregister || o.Action == ActionForget)
		})
		if by.matches(b) && !gone && b.Managed && b.Stage != StageDeregistered && usableState(b.State) {
			return true
		}
	}
	return false
}

// --- properties ---------------------------------------------------------

// TestPropSafety: the new build and the newest releases are never retired;
// in-use, pinned, protected, unmanaged and foreign images are never disabled
// or deregistered and keep their snapshots; no stage is skipped.
func TestPropSafety(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		checkSafety(t, s, s.plan())
	})
}

// TestPropOneDecisionEach: exactly one decision per image, in the documented
// order, and the inputs are untouched.
func TestPropOneDecisionEach(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		before := deepCopyImages(s.images)
		usageBefore := fmt.Sprint(s.usage)
		plan := s.plan()
		require.Equal(t, before, s.images, "Plan modified its images")
		require.Equal(t, usageBefore, fmt.Sprint(s.usage), "Plan modified its usage")
		var in, out []string
		for _, img := range s.images {
			in = append(in, img.ID)
		}
		for i, d := range plan {
			out = append(out, d.Image.ID)
			if i > 0 {
				a, b := plan[i-1].Image, d.Image
				ka := [3]string{a.Family, a.Channel, a.Region}
				kb := [3]string{b.Family, b.Channel, b.Region}
				require.False(t, slices.Compare(ka[:], kb[:]) > 0 || (ka == kb && CompareVersions(a, b) <= 0),
					"out of order: %s before %s", a.ID, b.ID)
			}
		}
		slices.Sort(in)
		slices.Sort(out)
		require.Equal(t, in, out, "ids in, ids out")
	})
}

// TestPropDeterministic: the same inputs give the same plan, whatever the
// order of images, consumers and new-build ids.
func TestPropDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		first := s.plan()
		require.Equal(t, first, s.plan(), "two runs differ")
		shuffled := s
		shuffled.images = rapid.Permutation(s.images).Draw(t, "images-order")
		shuffled.newBuild = rapid.Permutation(s.newBuild).Draw(t, "newbuild-order")
		shuffled.usage = Usage{}
		for id, cs := range s.usage {
			shuffled.usage[id] = rapid.Permutation(cs).Draw(t, "consumers-order")
		}
		got := shuffled.plan()
		require.Len(t, got, len(first), "input order changed the number of decisions")
		for i := range got {
			require.Equal(t, first[i], got[i], "input order changed decision %d", i)
		}
	})
}

// applyAll carries a plan out; dropGone mimics EC2, where a deregistered
// image disappears from the next listing.
func applyAll(plan []Decision, at time.Time, dropGone bool) []Image {
	var out []Image
	for _, d := range plan {
		img := Apply(d.Image, d, at)
		if dropGone && img.Stage == StageDeregistered {
			continue
		}
		out = append(out, img)
	}
	return out
}

// TestPropIdempotent: planning again on the state a plan produced, at the
// same time, asks for nothing more.
func TestPropIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		dropGone := rapid.Bool().Draw(t, "drop-gone")
		next := s
		first := s.plan()
		next.images = applyAll(first, s.now, dropGone)
		// A restore of what a stopped run left (rule 0) is planned on its
		// own: the next plan may act on what it brings about, never undo it.
		undid := slices.ContainsFunc(first, func(d Decision) bool { return d.Action == ActionRestore })
		for _, d := range next.plan() {
			require.False(t, d.Action == ActionRestore || !undid && d.Action.Mutates(), "second plan at the same time acts: %s %s %q", d.Image.ID, d.Action, d.Reason)
		}
	})
}

// TestPropStagesOverTime: carrying plans out run after run, as time passes,
// every image moves at most one stage per run and never backwards, and every
// plan along the way is safe.
func TestPropStagesOverTime(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		runs := rapid.IntRange(2, 6).Draw(t, "runs")
		for run := 0; run < runs; run++ {
			plan := s.plan()
			checkSafety(t, s, plan)
			before := map[string]int{}
			for _, img := range s.images {
				before[img.ID], _ = img.actualStage(s.now).rank()
			}
			s.images = applyAll(plan, s.now, false)
			for _, img := range s.images {
				after, ok := img.actualStage(s.now).rank()
				if !ok {
					continue // unknown stages are skipped, never changed
				}
				b := before[img.ID]
				if after == 0 && slices.ContainsFunc(plan, func(d Decision) bool { return d.Action == ActionRestore && d.Image.ID == img.ID }) {
					continue // undoing what a stopped run left (rule 0); checkSafety judged it
				}
				require.True(t, after == b || after == b+1, "run %d: %s went from stage %d to %d", run, img.ID, b, after)
			}
			s.now = s.now.Add(genDuration(t, "step"))
			s.newBuild = nil
		}
	})
}

// TestPropRestore: restore only brings deprecated or disabled images back,
// to active, and Plan does not undo it in the same breath.
func TestPropRestore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		var ids []Ref
		for _, img := range s.images {
			if rapid.Bool().Draw(t, "restore") {
				ids = append(ids, img.Ref())
			}
		}
		got := Restore(s.images, ids, s.now)
		require.Len(t, got, len(s.images), "one decision per image")
		for _, d := range got {
			if d.Action == ActionRestore {
				eff := d.Image.EffectiveStage(s.now)
				requested := slices.Contains(ids, d.Image.Ref())
				require.True(t, (eff == StageDeprecated || eff == StageDisabled) && requested && d.Image.Managed,
					"restored %s from %s (requested %v, managed %v)", d.Image.ID, eff, requested, d.Image.Managed)
			} else {
				require.False(t, d.Action.Mutates(), "Restore %s on %s", d.Action, d.Image.ID)
			}
		}
		next := s
		next.images = applyAll(got, s.now, false)
		for _, d := range next.plan() {
			gone := d.Action == ActionRecord && d.To == StageDeregistered && d.Image.State == StateDeregistered
			restored := slices.Contains(ids, d.Image.Ref()) && d.Image.Stage == StageActive && d.Image.StageSince.Equal(s.now)
			require.False(t, d.Action.Mutates() && !gone && restored, "restored %s is %s again at once: %q", d.Image.ID, d.Action, d.Reason)
		}
	})
}

// TestPropVersionOrder: the release order is a strict weak order (and the
// image order a strict total one), including on versions go-version itself
// compares inconsistently.
func TestPropVersionOrder(t *testing.T) {
	gv := rapid.OneOf(
		rapid.SampledFrom(versionPool),
		rapid.StringMatching(`v?[0-9]{1,3}(\.[0-9]{1,3}){0,4}(-[0-9a-z]{1,3}(\.[0-9a-z]{1,3}){0,2})?(\+[a-z0-9]{1,3})?`),
	)
	gi := rapid.Custom(func(t *rapid.T) Image {
		return Image{
			ID:        rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "id"),
			Version:   gv.Draw(t, "v"),
			BuildTime: propNow.Add(time.Duration(rapid.IntRange(0, 2).Draw(t, "t")) * time.Hour),
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := gi.Draw(t, "a"), gi.Draw(t, "b"), gi.Draw(t, "c")
		sa, sb, sc := parseSemver(a.Version), parseSemver(b.Version), parseSemver(c.Version)
		require.Equal(t, -compareSemver(sb, sa), compareSemver(sa, sb), "semver not antisymmetric: %q %q", a.Version, b.Version)
		if compareSemver(sa, sb) <= 0 && compareSemver(sb, sc) <= 0 {
			require.LessOrEqual(t, compareSemver(sa, sc), 0, "semver not transitive: %q %q %q", a.Version, b.Version, c.Version)
		}
		require.Equal(t, -CompareVersions(b, a), CompareVersions(a, b), "not antisymmetric: %+v %+v", a, b)
		if CompareVersions(a, b) < 0 && CompareVersions(b, c) < 0 {
			require.Negative(t, CompareVersions(a, c), "not transitive: %+v %+v %+v", a, b, c)
		}
		if sa != nil && sb != nil {
			require.Equal(t, compareSemver(sa, sb) == 0, sa.canonical() == sb.canonical(),
				"release key disagrees with precedence: %q %q", a.Version, b.Version)
		}
		if CompareVersions(a, b) == 0 {
			require.Equal(t, a, b, "distinct images tie")
		}
	})
}

// TestPropTagsRoundTrip: what Tags writes, FromTags reads back (times to the
// second), without error.
func TestPropTagsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		img := genImage(t, "ami-1", propNow)
		img.Stage = rapid.SampledFrom([]Stage{"", StageActive, StageDeprecated, StageDisabled, StageDeregistered}).Draw(t, "stage")
		img.Family = rapid.String().Draw(t, "family")
		img.Parent = rapid.String().Draw(t, "parent")
		tags := Tags(img, "test")
		back, err := FromTags(Image{ID: img.ID}, tags)
		require.NoError(t, err, "FromTags(Tags(img))")
		sec := func(x time.Time) time.Time { return x.Truncate(time.Second) }
		same := back.Family == img.Family && back.Version == img.Version && back.Channel == img.Channel &&
			back.Parent == img.Parent && back.Stage == img.Stage && back.Pinned == img.Pinned &&
			back.ReleasedAt.Equal(sec(img.ReleasedAt)) && back.ExpiresAt.Equal(sec(img.ExpiresAt)) &&
			back.StageSince.Equal(sec(img.StageSince)) && IsManaged(back.Tags, "test")
		require.True(t, same, "round trip lost data:\n%+v\n%+v", img, back)
		require.Equal(t, tags, Tags(back, "test"), "Tags(FromTags(Tags(img))) != Tags(img)")
	})
}

// respell writes v another way with the same precedence, or returns v.
func respell(t *rapid.T, v string) string {
	sv := parseSemver(v)
	if sv == nil {
		return v
	}
	out := v
	switch rapid.IntRange(0, 3).Draw(t, "respell") {
	case 0:
		if !strings.HasPrefix(out, "v") {
			out = "v" + out
		}
	case 1:
		if !strings.ContainsAny(out, "-+") {
			out += ".0"
		}
	case 2:
		if !strings.Contains(out, "+") {
			out += "+b" + strconv.Itoa(rapid.IntRange(1, 99).Draw(t, "build"))
		}
	}
	if o := parseSemver(out); o == nil || compareSemver(o, sv) != 0 {
		return v
	}
	return out
}

// TestPropOneReleasePerPrecedence: how a version is spelled (v prefix,
// trailing zeros, build metadata) changes no action: versions of equal
// precedence are one release.
func TestPropOneReleasePerPrecedence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		first := s.plan()
		re := s
		re.images = deepCopyImages(s.images)
		for i := range re.images {
			re.images[i].Version = respell(t, re.images[i].Version)
		}
		actions := func(plan []Decision) map[string]Action {
			m := map[string]Action{}
			for _, d := range plan {
				m[d.Image.ID] = d.Action
			}
			return m
		}
		require.Equal(t, actions(first), actions(re.plan()), "respelling changed actions")
	})
}

// TestPropKeepCountsReleases: in each (family, channel, region) at most
// keep_releases releases are kept as "newest release", each by one build
// time only (a rebuild supersedes the older builds); an image with a newer
// live build of its release is never kept as the newest.
func TestPropKeepCountsReleases(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		if s.policy.Validate() != nil {
			return
		}
		type rk struct {
			g   groupKey
			key string
		}
		builds := map[rk]map[time.Time]bool{}
		perGroup := map[groupKey]map[string]bool{}
		for _, d := range s.plan() {
			if !strings.HasPrefix(d.Reason, "kept: newest release (") {
				continue
			}
			img := d.Image
			k := rk{keyOf(img), releaseKey(versionCache{}, img)}
			if builds[k] == nil {
				builds[k] = map[time.Time]bool{}
			}
			builds[k][img.BuildTime] = true
			require.Len(t, builds[k], 1, "two builds of one release kept as the newest: %s", img.ID)
			if perGroup[k.g] == nil {
				perGroup[k.g] = map[string]bool{}
			}
			perGroup[k.g][k.key] = true
			n, keep := len(perGroup[k.g]), s.policy.For(img.Channel).KeepReleases
			require.LessOrEqual(t, n, keep, "%d releases kept as newest, keep %d", n, keep)
		}
	})
}

// TestPropMoreKeepNeverMoreAggressive: raising keep_releases never adds a
// step to a plan.
func TestPropMoreKeepNeverMoreAggressive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		s.policy.Channels = nil
		more := s
		more.policy.KeepReleases++
		base := map[string]Action{}
		for _, d := range s.plan() {
			base[d.Image.ID] = d.Action
		}
		for _, d := range more.plan() {
			// Rule 0's restores and marker clears are no steps; nor is a
			// record of the stage the backend shows where the other plan
			// undid it: which of the two rule 0 picks rests on a trial of
			// everything stopped runs left, not monotone in keep, and
			// neither retires anything.
			step := d.Action.Mutates() && d.Action != ActionRestore && !MarkerOnly(d.Image, d) &&
				!(d.Action == ActionRecord && base[d.Image.ID] == ActionRestore)
			require.False(t, step && d.Action != base[d.Image.ID], "keep %d: %s %s (%q); keep %d: %s",
				more.policy.KeepReleases, d.Image.ID, d.Action, d.Reason, s.policy.KeepReleases, base[d.Image.ID])
		}
	})
}
