package lifecycle

import "time"

// Backend states the planner understands. Anything else (pending, failed,
// error, transient, invalid, …) is not a finished release and is skipped.
const (
	StateAvailable    = "available"
	StateDisabled     = "disabled"
	StateDeregistered = "deregistered"
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

// stageSince is when the image entered its effective stage, as far as we can
// tell. ok is false when nothing records it; the planner then waits rather
// than guess, because a guess of "long ago" would skip the whole delay.
func (img Image) stageSince(eff Stage, now time.Time) (time.Time, bool) {
	recorded := img.Stage
	if recorded == "" {
		recorded = StageActive
	}
	if recorded == eff && !img.StageSince.IsZero() {
		return img.StageSince, true
	}
	switch eff {
	case StageActive:
		// Active since release; ReleasedAt when recorded, else build time.
		if !img.ReleasedAt.IsZero() {
			return img.ReleasedAt, true
		}
		return img.BuildTime, true
	case StageDeprecated:
		if !img.DeprecationTime.IsZero() && !img.DeprecationTime.After(now) {
			return img.DeprecationTime, true
		}
	}
	return time.Time{}, false
}

// releaseTime is when the image was released: ReleasedAt when recorded,
// otherwise its build time.
func (img Image) releaseTime() time.Time {
	if !img.ReleasedAt.IsZero() {
		return img.ReleasedAt
	}
	return img.BuildTime
}

// Apply returns img as it is once the backend has carried d out at now: the
// stage the action reaches and when, plus the backend state that goes with
// it. Planning again on the result at the same now yields no further action,
// which is what makes plans idempotent. Keep and skip change nothing.
func Apply(img Image, d Decision, now time.Time) Image {
	switch d.Action {
	case ActionDeprecate:
		img.DeprecationTime = now
	case ActionDisable:
		img.State = StateDisabled
	case ActionDeregister:
		img.State = StateDeregistered
		if d.DeleteSnapshots {
			img.Snapshots = nil
		}
	case ActionRestore:
		img.State = StateAvailable
		img.DeprecationTime = time.Time{}
		// A restored release is live again; leaving a past expiry would
		// have it deprecated again at once.
		img.ExpiresAt = time.Time{}
	default:
		return img
	}
	img.Stage = d.Action.Target()
	img.StageSince = now
	return img
}
