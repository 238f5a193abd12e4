package lifecycle

// Action is what a Decision asks the backend to do with one image.
type Action string

const (
	ActionKeep       Action = "keep"       // nothing to do; Reason says why
	ActionSkip       Action = "skip"       // not ours to judge (unmanaged, foreign, failed)
	ActionDeprecate  Action = "deprecate"  // active → deprecated
	ActionDisable    Action = "disable"    // deprecated → disabled
	ActionDeregister Action = "deregister" // disabled → deregistered (+ Decision.Snapshots when DeleteSnapshots)
	ActionRestore    Action = "restore"    // deprecated or disabled → active, on request
	// ActionRecord writes the stage the backend already shows (Decision.To)
	// into the image's metadata, and nothing else: the backend state moved
	// without the stage being recorded (a crash between an EC2 call and the
	// tag write, EC2 deprecating at a DeprecationTime, a person disabling or
	// re-enabling the image by hand). See Plan.
	ActionRecord Action = "record"
	// ActionForget stops managing a pending image that a stopped run left
	// behind (Backend.Forget removes the plugin's metadata; the image
	// stays). Not carried out by Apply, so not Mutates: it changes no stage.
	ActionForget Action = "forget"
)

// Mutates reports whether carrying the action out changes anything.
func (a Action) Mutates() bool {
	switch a {
	case ActionDeprecate, ActionDisable, ActionDeregister, ActionRestore, ActionRecord:
		return true
	}
	return false
}

// Target is the stage an image reaches once the action is carried out; for
// keep and skip it is the empty Stage (no change). ActionRecord has no fixed
// target: use Decision.Target.
func (a Action) Target() Stage {
	switch a {
	case ActionDeprecate:
		return StageDeprecated
	case ActionDisable:
		return StageDisabled
	case ActionDeregister:
		return StageDeregistered
	case ActionRestore:
		return StageActive
	}
	return ""
}

// Decision is the planner's verdict on one image, with a reason a person
// understands ("kept: newest release (1 of 3)", "deregister: superseded by
// 1.4.2, disabled 7d ago").
type Decision struct {
	Image  Image
	Action Action
	Reason string
	// To is the stage the image reaches once the decision is carried out:
	// Action.Target(), or for ActionRecord the stage to record. Empty for
	// keep and skip. Plan and Restore always fill it; see Target.
	To Stage
	// DeleteSnapshots: with ActionDeregister, also delete Snapshots.
	DeleteSnapshots bool
	// Snapshots is exactly what a deregister with DeleteSnapshots may
	// delete: the image's snapshots (or files) minus any that another image
	// the plan keeps also references. Empty otherwise.
	Snapshots []string
	Consumers []Consumer // who still uses the image, for the report
	// SupersededBy is recorded in Image.SupersededBy by every stage
	// change and record: the shell sets it on what a new build brings
	// about, and clears it with a record once the build is released. Plan
	// leaves it empty.
	SupersededBy Ref
}

// Target is the stage the decision leads to: To when set, else the action's
// own target (decisions built by hand may leave To empty).
func (d Decision) Target() Stage {
	if d.To != "" {
		return d.To
	}
	return d.Action.Target()
}
