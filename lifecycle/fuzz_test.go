package lifecycle

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fuzz targets run their seeds (f.Add plus testdata/fuzz/Fuzz*/) on every
// `go test`; `go test -fuzz=FuzzPlan ./lifecycle/` explores further.

// decodeScenario turns arbitrary bytes into planner input, so the fuzzer can
// reach any combination of flags, stages, states and times. versions is split
// on "|" and indexed by the image bytes: arbitrary text, huge numbers and
// unicode reach the version parser through it.
func decodeScenario(data []byte, versions string, nowUnix int64) scenario {
	vs := strings.Split(versions, "|")
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	durs := []time.Duration{0, time.Minute, time.Hour, Day, 7 * Day, 30 * Day, -time.Hour, 1<<63 - 1}
	dur := func() time.Duration { return durs[int(next())%len(durs)] }
	s := scenario{now: time.Unix(nowUnix, 0).UTC(), usage: Usage{}}
	s.policy = Policy{
		KeepReleases: int(int8(next())) % 5, // may be 0 or negative: invalid policies must keep all
		MinAge:       dur(), ExpireAfter: dur(), DeprecateAfter: dur(), DisableAfter: dur(), DeregisterAfter: dur(),
		ManagedBy: "fuzz",
	}
	s.policy.ForgetPendingAfter = dur()
	pf := next()
	s.policy.DeleteSnapshots = pf&1 != 0
	s.policy.DeprecateExpired = pf&2 != 0
	if pf&4 != 0 {
		s.policy.Owners = []string{"111"}
	}
	if pf&8 != 0 {
		keep := int(pf>>4) % 4
		s.policy.Channels = map[string]ChannelPolicy{"rc": {KeepReleases: &keep}}
	}
	// time reads an int16 hour offset from now; 0x8000 means the zero time.
	tm := func() time.Time {
		h := int16(binary.BigEndian.Uint16([]byte{next(), next()}))
		if h == -1<<15 {
			return time.Time{}
		}
		return s.now.Add(time.Duration(h) * time.Hour)
	}
	stages := []Stage{"", StageActive, StageDeprecated, StageDisabled, StageDeregistered, "💀"}
	states := []string{StateAvailable, "", StateDisabled, StateDeregistered, "pending", "failed"}
	for i := 0; len(data) > 0 && i < 64; i++ {
		f, g := next(), next()
		img := Image{
			ID:        "ami-" + string(rune('A'+i%26)) + string(rune('a'+i/26)),
			Region:    []string{"r1", "r2"}[g&1],
			Family:    []string{"f1", "f2"}[g>>1&1],
			Channel:   []string{"stable", "rc", ""}[int(g>>2&3)%3],
			Version:   vs[int(next())%len(vs)],
			Stage:     stages[int(g>>4)%len(stages)],
			State:     states[int(next())%len(states)],
			Pinned:    f&1 != 0,
			Protected: f&2 != 0,
			Managed:   f&4 == 0,
			Owner:     []string{"111", "222"}[f>>3&1],
		}
		img.BuildTime, img.ReleasedAt, img.ExpiresAt, img.StageSince, img.DeprecationTime = tm(), tm(), tm(), tm(), tm()
		if f&16 != 0 {
			img.Snapshots = []string{"snap"}
		}
		if f&32 != 0 {
			s.usage[img.Ref()] = []Consumer{{Kind: "instance", ID: "i-" + img.ID}}
		}
		if f&128 != 0 {
			s.usage[img.Ref()] = append(s.usage[img.Ref()], Consumer{Kind: ConsumerUnknown, ID: "lookup failed"})
		}
		if f&64 != 0 {
			s.newBuild = append(s.newBuild, img.Ref())
		}
		s.images = append(s.images, img)
	}
	return s
}

func FuzzPlan(f *testing.F) {
	f.Add([]byte{}, "", int64(0))
	f.Add([]byte{3, 5, 0, 3, 5, 5, 3, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0}, "1.0.0|1.1.0", int64(1748779200))
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x03\x00\x00\x01\x00\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x00\xfe\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		"99999999999999999999999|v1.0|1.0.0-rc.01|", int64(1748779200))
	f.Add([]byte(strings.Repeat("\x02\x31\x02\x00\xf0\x00\x00\x00\x00\x00\x00\x00\xf8\x00", 6)),
		"β|日本|\x00\xff|1.2.3-🦄|nightly", int64(-62135596800))
	f.Add([]byte(strings.Repeat("\x01\x00\x00\x00\x00\x00\x03\x20\x01\x00\x00\xfc\x00\x00\x00\x00\xff\x00\xff\x00", 8)),
		"3|2|1|0", int64(1<<62))
	f.Fuzz(func(t *testing.T, data []byte, versions string, nowUnix int64) {
		s := decodeScenario(data, versions, nowUnix)
		plan := s.plan()
		checkSafety(t, s, plan)
		// Deterministic, and blind to input order.
		rev := s
		rev.images = make([]Image, len(s.images))
		for i, img := range s.images {
			rev.images[len(s.images)-1-i] = img
		}
		require.Equal(t, plan, rev.plan(), "input order changed the plan")
		// Every step passes the backends' last check, and is done once
		// carried out.
		checkTransitions(t, s, plan)
		// Idempotent: carrying the plan out leaves nothing to do now, also
		// after a round trip through tags (whole seconds).
		next := s
		next.images = applyAll(plan, s.now, false)
		for _, d := range next.plan() {
			require.False(t, d.Action.Mutates(), "second plan acts: %s %s %q", d.Image.ID, d.Action, d.Reason)
		}
		for i, img := range next.images {
			next.images[i], _ = FromTags(img, Tags(img, "fuzz"))
		}
		for _, d := range next.plan() {
			require.False(t, d.Action.Mutates(), "plan after a tag round trip acts: %s %s %q", d.Image.ID, d.Action, d.Reason)
		}
		for _, d := range Restore(s.images, s.newBuild, s.now) {
			if d.Action == ActionRestore {
				require.NotEqual(t, StageActive, d.Image.EffectiveStage(s.now), "restored an active image: %s", d.Image.ID)
			}
		}
	})
}

func FuzzFromTags(f *testing.F) {
	f.Add("base", "1.4.2", "stable", "2025-06-01T12:00:00Z", "", "deprecated", "2025-06-01T12:00:00+02:00", "true", "ami-0")
	f.Add("", "", "", "yesterday", "2025-13-01T00:00:00Z", "zombie", "0000-01-01T00:30:00+01:00", "yes", "")
	f.Add("базовый", "99999999999999999999.1", "rc🦄", " 2025-06-01T12:00:00.123456789Z ", "9999-12-31T23:59:59-01:00",
		" disabled ", "1970-01-01T00:00:00Z", "FALSE", "\x00\xff")
	f.Add("f", "v", "c", "2025-06-01T12:00:00Z\n", "1969-12-31T23:59:59Z", "active", "2025-02-29T00:00:00Z", "", "p")
	f.Fuzz(func(t *testing.T, family, ver, channel, released, expires, stage, since, pin, parent string) {
		tags := map[string]string{
			TagFamily: family, TagVersion: ver, TagChannel: channel, TagReleasedAt: released,
			TagExpiresAt: expires, TagStage: stage, TagStageSince: since, TagPin: pin, TagParent: parent,
			TagManagedBy: "m",
		}
		img, err := FromTags(Image{ID: "ami-1"}, tags)
		// Every bad key is named in the error, and only bad keys are.
		for _, k := range []string{TagReleasedAt, TagExpiresAt, TagStageSince} {
			_, perr := parseTagTime(tags[k])
			named := err != nil && strings.Contains(err.Error(), k+":")
			require.Equal(t, perr != nil, named, "%s=%q: parse error %v, but FromTags error %v", k, tags[k], perr, err)
		}
		require.Equal(t, []string{family, ver, channel, parent}, []string{img.Family, img.Version, img.Channel, img.Parent},
			"plain string tags (family, version, channel, parent) not copied")
		require.Equal(t, "m", img.Tags[TagManagedBy], "tags not recorded")
		// Whatever was read writes back and reads again identically.
		out := Tags(img, "m")
		again, err2 := FromTags(Image{ID: "ami-1"}, out)
		// An unknown stage is kept as read, so it is reported again.
		if err2 != nil {
			require.False(t, knownStage(img.Stage), "re-reading written tags: %v", err2)
			require.NotContains(t, err2.Error(), "\n", "re-reading written tags: more than the unknown stage")
		}
		require.Equal(t, out, Tags(again, "m"), "tags not stable")
		// And the result plans without trouble.
		img.Managed, img.BuildTime = true, img.ReleasedAt
		_ = Plan([]Image{img}, nil, DefaultPolicy(), time.Unix(1748779200, 0), nil)
	})
}

// FuzzVersionOrder: whatever the strings, the version order stays an order.
func FuzzVersionOrder(f *testing.F) {
	f.Add("1.0.0-rc1", "1.0.0", "1.0.0.0-rc1")
	f.Add("1.0.0-rc.1", "1.0.0-rc.01", "1.0.0-rc.1.0")
	f.Add("99999999999999999999", "v1.2.3+meta", "1.2.3-β")
	f.Add("", "🦄", "1.0.0-"+strings.Repeat("9", 40))
	f.Fuzz(func(t *testing.T, a, b, c string) {
		sa, sb, sc := parseSemver(a), parseSemver(b), parseSemver(c)
		require.Equal(t, -compareSemver(sb, sa), compareSemver(sa, sb), "not antisymmetric: %q %q", a, b)
		if compareSemver(sa, sb) <= 0 && compareSemver(sb, sc) <= 0 {
			require.LessOrEqual(t, compareSemver(sa, sc), 0, "not transitive: %q %q %q", a, b, c)
		}
		if compareSemver(sa, sb) == 0 && compareSemver(sb, sc) == 0 {
			require.Equal(t, 0, compareSemver(sa, sc), "equality not transitive: %q %q %q", a, b, c)
		}
		// One release per precedence: the release key is equal exactly
		// when the precedence is.
		if sa != nil && sb != nil {
			require.Equal(t, compareSemver(sa, sb) == 0, sa.canonical() == sb.canonical(),
				"canonical %q, %q disagrees with precedence of %q, %q", sa.canonical(), sb.canonical(), a, b)
		}
	})
}

// FuzzDuration: ParseDuration and formatDuration never panic, and whole days
// survive a round trip.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"7d", "36h", "-1d", "106751d", "9223372036854775807ns", "1.5d", "d", "٣d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		require.True(t, d >= 0 && d <= maxDurationDays*Day, "ParseDuration(%q) = %v, out of range", s, d)
		out := formatDuration(d)
		if d%Day == 0 && d != 0 {
			back, err := ParseDuration(out)
			require.NoError(t, err, "%q -> %v -> %q", s, d, out)
			require.Equal(t, d, back, "%q -> %v -> %q", s, d, out)
		}
	})
}
