package lifecycle

import (
	"slices"
	"time"
)

// Backend states the planner understands. Anything else (pending, failed,
// error, transient, invalid, …) is not a finished release and is skipped.
const (
	StateAvailable    = "available"
	StateDisabled     = "disabled"
	StateDeregistered = "deregistered"

	// StatePending is EC2's state of an AMI being made, and the backends'
	// state of a new build recorded by a run that has not finished.
	StatePending = "pending"
)

// rank orders stages along the retirement path; ok is false for a stage the
// planner does not know (a hand-edited tag), which it refuses to act on.
func (s Stage) rank() (int, bool) {
	switch s {
	case "", StageActive:
		return 0, true
	case StageDeprecated:
		return 1, true
	case StageDisabled:
		return 2, true
	case StageDeregistered:
		return 3, true
	}
	return -1, false
}

var stagesByRank = [...]Stage{StageActive, StageDeprecated, StageDisabled, StageDeregistered}

// observedStage is what the backend state alone says, whatever was recorded.
func (img Image) observedStage(now time.Time) Stage {
	switch {
	case img.State == StateDeregistered:
		return StageDeregistered
	case img.State == StateDisabled:
		return StageDisabled
	case !img.DeprecationTime.IsZero() && !img.DeprecationTime.After(now):
		return StageDeprecated
	}
	return StageActive
}

// EffectiveStage is the furthest of the recorded Stage and what the backend
// state shows (disabled state, or a DeprecationTime that has passed): someone
// may have disabled an image by hand, or EC2 deprecated it at its expiry, and
// the planner must never act as if it were less retired than it is. An
// unknown recorded stage is returned as is.
func (img Image) EffectiveStage(now time.Time) Stage {
	rec, ok := img.Stage.rank()
	if !ok {
		return img.Stage
	}
	obs, _ := img.observedStage(now).rank()
	return stagesByRank[max(rec, obs)]
}

// recordedStage is the recorded stage, with "" read as active.
func recordedStage(img Image) Stage {
	if img.Stage == "" {
		return StageActive
	}
	return img.Stage
}

func mustRank(s Stage) int { r, _ := s.rank(); return r }

// actualStage is the stage the planner plans from, for an image whose
// recorded stage is known: what the backend shows when it is ahead of the
// record (the record lags), or behind it with clear evidence of a hand
// restore (a disabled image whose state is available again, a deprecated
// one whose DeprecationTime was cleared); the record otherwise. A
// deprecation time still ahead on a deprecated image is not such evidence:
// EC2 rounds deprecation times to the minute, so a deprecation just carried
// out may show as a minute ahead.
func (img Image) actualStage(now time.Time) Stage {
	rec, obs := recordedStage(img), img.observedStage(now)
	r, known := rec.rank()
	if !known {
		return img.Stage
	}
	o := mustRank(obs)
	switch {
	case o > r:
		return obs
	case o < r && rec == StageDisabled && img.State == StateAvailable,
		o < r && rec == StageDeprecated && img.DeprecationTime.IsZero():
		return obs
	}
	return rec
}

// stageSince is when the image entered its stage eff, as far as we can
// tell. ok is false when nothing records it; the planner then waits rather
// than guess, because a guess of "long ago" would skip the whole delay.
func (img Image) stageSince(eff Stage, now time.Time) (time.Time, bool) {
	recorded := recordedStage(img)
	if recorded == eff && !img.StageSince.IsZero() {
		return img.StageSince, true
	}
	switch eff {
	case StageActive:
		// Active since it appeared (release, or arrival in the region).
		return img.appearedAt(), true
	case StageDeprecated:
		if !img.DeprecationTime.IsZero() && !img.DeprecationTime.After(now) {
			return img.DeprecationTime, true
		}
	}
	return time.Time{}, false
}

// appearedAt is when the image became available as a release in its region:
// the later of its release time and its build (creation) time. A copy made
// to another region later carries the release's released-at tag but is
// created when it arrives, and a region's clock starts then. Zero when
// neither is known.
func (img Image) appearedAt() time.Time {
	return later(img.ReleasedAt, img.BuildTime)
}

// Apply returns img as it is once the backend has carried d out at now
// (taken at whole seconds, as tags record it): the stage the decision
// reaches and when, plus the backend state that goes with it. Planning
// again on the result at the same now, directly or after a round trip
// through Tags and FromTags, yields no further action, which is what makes
// plans idempotent. Keep and skip change nothing.
//
// A deregister with DeleteSnapshots removes d.Snapshots from the image's
// snapshots (all of them when d.Snapshots is nil, as in a decision built by
// hand). A restore clears the deprecation and the disabled state but keeps
// the expiry. A record writes the stage only, since now: the delay to the
// next stage runs from when the plugin learnt of the stage, and a record is
// never followed by a further step at the same instant, except one that
// only changes the marker (see MarkerOnly), which keeps the since. Every
// action but keep and skip records d.SupersededBy (active clears it).
func Apply(img Image, d Decision, now time.Time) Image {
	now = now.Truncate(time.Second)
	switch d.Action {
	case ActionDeprecate:
		img.DeprecationTime = now
	case ActionDisable:
		img.State = StateDisabled
	case ActionDeregister:
		img.State = StateDeregistered
		if d.DeleteSnapshots {
			if d.Snapshots == nil {
				img.Snapshots = nil
			} else {
				img.Snapshots = slices.DeleteFunc(slices.Clone(img.Snapshots), func(s string) bool {
					return slices.Contains(d.Snapshots, s)
				})
			}
		}
	case ActionRestore:
		img.State = StateAvailable
		img.DeprecationTime = time.Time{}
	case ActionRecord:
		if d.Target() == "" {
			return img // nothing to record
		}
		if MarkerOnly(img, d) { // the stage and its since stand
			img.SupersededBy = d.SupersededBy
			return img
		}
	default:
		return img
	}
	img.Stage = d.Target()
	img.StageSince = now
	img.SupersededBy = d.SupersededBy
	if img.Stage == StageActive {
		img.SupersededBy = Ref{}
	}
	return img
}
