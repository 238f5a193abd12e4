package lifecycle

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// MarkerOnly reports whether carrying d out on current, which has reached
// d's target already (ErrAlreadyDone), only changes Image.SupersededBy:
// the record that clears it once the new build is released. The backend
// then writes that marker alone, and keeps the stage and its since.
func MarkerOnly(current Image, d Decision) bool {
	return d.Action.Mutates() && current.Stage == d.Target() && current.SupersededBy != d.SupersededBy
}

// ErrAlreadyDone is returned (wrapped) by CheckTransition when the image has
// already reached the decision's target: a re-run after a crash, or a second
// sweep racing the first. The backend makes no state-changing call; if the
// recorded stage (current.Stage) still differs from d.Target(), it writes
// the stage (Apply(current, d, now)), which is what converges a crash
// between the backend call and the tag write.
var ErrAlreadyDone = errors.New("target stage already reached")

// TransitionError says why a backend must not carry a decision out now.
type TransitionError struct {
	Ref    Ref
	Action Action
	Why    string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s %s refused: %s", e.Action, e.Ref, e.Why)
}

// CheckTransition is the last check every backend makes right before it
// acts on d: current is the image as the backend re-read it just now, usage
// who uses it now (re-read too, or nil when the backend cannot re-read it;
// a ConsumerUnknown entry counts as in use). It returns
//
//   - nil: the action may proceed;
//   - an error wrapping ErrAlreadyDone: the target is already reached
//     (see ErrAlreadyDone for what the backend still owes);
//   - a *TransitionError otherwise, saying why: a different image, gone
//     (deregistered) already, not managed, an unknown stage or a state
//     other than available/disabled, pinned now, no longer in the stage the
//     plan assumed (d.Image's effective stage), a skipped stage, and for
//     disable and deregister: protected or in use.
//
// Keep and skip always pass (there is nothing to do). Plan only emits
// decisions that pass CheckTransition on the images and usage it was given.
//
// A deregister whose image is gone already is done, unless it deletes
// snapshots and current.Snapshots still lists some of d.Snapshots: then it
// passes, so the backend finishes deleting them (deletion is idempotent).
func CheckTransition(current Image, d Decision, usage []Consumer, now time.Time) error {
	if !d.Action.Mutates() {
		return nil
	}
	to := d.Target()
	refuse := func(format string, args ...any) error {
		return &TransitionError{Ref: d.Image.Ref(), Action: d.Action, Why: fmt.Sprintf(format, args...)}
	}
	done := func() error {
		return fmt.Errorf("%s %s: %w (%s)", d.Action, d.Image.Ref(), ErrAlreadyDone, to)
	}
	if current.Ref() != d.Image.Ref() {
		return refuse("the backend re-read %s instead", current.Ref())
	}
	if d.Action == ActionRecord && to == StageDeregistered && current.State == StateDeregistered {
		if current.Stage == StageDeregistered {
			return done()
		}
		if !current.Managed {
			return refuse("image is not managed (no managed-by marker)")
		}
		return nil // recording that it is gone
	}
	if current.Stage == StageDeregistered || current.State == StateDeregistered {
		if to != StageDeregistered || d.Action == ActionRecord {
			return refuse("image is deregistered already")
		}
		want := d.Snapshots
		if want == nil { // a decision built by hand: all of them, as in Apply
			want = d.Image.Snapshots
		}
		if d.DeleteSnapshots && slices.ContainsFunc(want, func(s string) bool { return slices.Contains(current.Snapshots, s) }) {
			return nil
		}
		return done()
	}
	switch {
	case !current.Managed:
		return refuse("image is not managed (no managed-by marker)")
	case !knownStage(current.Stage):
		return refuse("unknown stage %q", clip(string(current.Stage)))
	case !usableState(current.State):
		return refuse("state %q", clip(current.State))
	}
	eff := current.EffectiveStage(now)
	switch d.Action {
	case ActionRecord:
		recorded := current.Stage
		if recorded == "" {
			recorded = StageActive
		}
		obs := current.observedStage(now)
		if recorded == to {
			return done()
		}
		if obs != to {
			return refuse("the backend shows %s now, not %s", obs, to)
		}
		return nil
	case ActionRestore:
		if eff == StageActive {
			return done()
		}
		if eff != StageDeprecated && eff != StageDisabled {
			return refuse("image is %s; only a deprecated or disabled image can be restored", eff)
		}
		return nil
	}
	// Forward steps: deprecate, disable, deregister.
	if eff == to {
		return done()
	}
	// A pin or a protection counts whether it is there now or was when
	// the plan was made: metadata that lost one must not expose the image.
	if current.Pinned || d.Image.Pinned {
		return refuse("image is pinned (keep-forever)")
	}
	if assumed := d.Image.EffectiveStage(now); eff != assumed {
		return refuse("image is %s now; the plan assumed %s", eff, assumed)
	}
	from, _ := eff.rank()
	if want, _ := to.rank(); want != from+1 {
		return refuse("image is %s; stages are never skipped", eff)
	}
	if d.Action == ActionDisable || d.Action == ActionDeregister {
		if current.Protected || d.Image.Protected {
			return refuse("image is deregistration-protected")
		}
		if why := usedBy(usage); why != "" {
			return refuse("%s", why)
		}
	}
	return nil
}

// usedBy says why an image counts as in use ("in use by i-1", "usage
// unknown (…)"), or "" when nothing uses it. Unknown usage comes first: it
// is the one a person must fix.
func usedBy(cs []Consumer) string {
	var unknown []Consumer
	for _, c := range cs {
		if c.Kind == ConsumerUnknown {
			unknown = append(unknown, c)
		}
	}
	switch {
	case len(unknown) > 0:
		return "usage unknown (" + formatUnknown(unknown) + ")"
	case len(cs) > 0:
		return "in use by " + formatConsumers(cs)
	}
	return ""
}
