package lifecycle

// Action is what a Decision asks the backend to do with one image.
type Action string

const (
	ActionKeep       Action = "keep"       // nothing to do; Reason says why
	ActionSkip       Action = "skip"       // not ours to judge (unmanaged, foreign, failed)
	ActionDeprecate  Action = "deprecate"  // active → deprecated
	ActionDisable    Action = "disable"    // deprecated → disabled
	ActionDeregister Action = "deregister" // disabled → deregistered (+ snapshots when DeleteSnapshots)
	ActionRestore    Action = "restore"    // deprecated or disabled → active, on request
)

// Mutates reports whether carrying the action out changes anything.
func (a Action) Mutates() bool {
	switch a {
	case ActionDeprecate, ActionDisable, ActionDeregister, ActionRestore:
		return true
	}
	return false
}

// Target is the stage an image reaches once the action is carried out; for
// keep and skip it is the empty Stage (no change).
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
	Image           Image
	Action          Action
	Reason          string
	DeleteSnapshots bool       // with ActionDeregister: also delete the image's snapshots/files
	Consumers       []Consumer // who still uses the image, for the report
}
