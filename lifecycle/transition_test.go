package lifecycle

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestCheckTransition(t *testing.T) {
	dep := mk("ami-1", "1.0.0", 90, stage(StageDeprecated, 40))
	dis := mk("ami-1", "1.0.0", 90, stage(StageDisabled, 40), with(func(i *Image) { i.Snapshots = []string{"snap-1"} }))
	act := mk("ami-1", "1.0.0", 90)
	dec := func(img Image, a Action) Decision { return Decision{Image: img, Action: a, To: a.Target()} }
	mod := func(img Image, f func(*Image)) Image { f(&img); return img }
	inst := []Consumer{{Kind: ConsumerInstance, ID: "i-1"}}
	unknown := []Consumer{{Kind: ConsumerUnknown, ID: "DescribeInstances: throttled"}}
	const done = "done"
	cases := []struct {
		name    string
		current Image
		d       Decision
		usage   []Consumer
		want    string // "" nil, done: ErrAlreadyDone, else the TransitionError text
	}{
		{"keep always passes", mod(act, func(i *Image) { i.Managed = false }), dec(act, ActionKeep), nil, ""},
		{"deprecate", act, dec(act, ActionDeprecate), inst, ""},
		{"deprecated already", dep, dec(act, ActionDeprecate), nil, done},
		{"deprecated by EC2, tag not written yet: done", mod(act, func(i *Image) { i.DeprecationTime = daysAgo(1) }), dec(act, ActionDeprecate), nil, done},
		{"pinned now", mod(act, func(i *Image) { i.Pinned = true }), dec(act, ActionDeprecate), nil, "deprecate us-east-1:ami-1 refused: image is pinned (keep-forever)"},
		{"disable", dep, dec(dep, ActionDisable), nil, ""},
		{"restored meanwhile", act, dec(dep, ActionDisable), nil, "disable us-east-1:ami-1 refused: image is active now; the plan assumed deprecated"},
		{"stages never skipped", act, dec(act, ActionDisable), nil, "disable us-east-1:ami-1 refused: image is active; stages are never skipped"},
		{"in use", dep, dec(dep, ActionDisable), inst, "disable us-east-1:ami-1 refused: in use by i-1"},
		{"usage unknown", dep, dec(dep, ActionDisable), append(unknown, inst...), "disable us-east-1:ami-1 refused: usage unknown (DescribeInstances: throttled)"},
		{"protected", mod(dis, func(i *Image) { i.Protected = true }), dec(dis, ActionDeregister), nil, "deregister us-east-1:ami-1 refused: image is deregistration-protected"},
		{"not managed", mod(dep, func(i *Image) { i.Managed = false }), dec(dep, ActionDisable), nil, "disable us-east-1:ami-1 refused: image is not managed (no managed-by marker)"},
		{"unknown stage", mod(dep, func(i *Image) { i.Stage = "zombie" }), dec(dep, ActionDisable), nil, `disable us-east-1:ami-1 refused: unknown stage "zombie"`},
		{"pending", mod(dep, func(i *Image) { i.State = "pending" }), dec(dep, ActionDisable), nil, `disable us-east-1:ami-1 refused: state "pending"`},
		{"another region's copy", mod(dep, func(i *Image) { i.Region = "eu-west-1" }), dec(dep, ActionDisable), nil, "disable us-east-1:ami-1 refused: the backend re-read eu-west-1:ami-1 instead"},
		{"deregister", dis, dec(dis, ActionDeregister), nil, ""},
		{"deregistered already", mod(dis, func(i *Image) { i.State = StateDeregistered }), dec(dis, ActionDeregister), nil, done},
		{"deregistered, snapshots left to delete", mod(dis, func(i *Image) { i.State = StateDeregistered }),
			Decision{Image: dis, Action: ActionDeregister, DeleteSnapshots: true, Snapshots: []string{"snap-1"}}, nil, ""},
		{"gone", mod(dep, func(i *Image) { i.Stage = StageDeregistered }), dec(dep, ActionDisable), nil, "disable us-east-1:ami-1 refused: image is deregistered already"},
		{"restore", dis, dec(dis, ActionRestore), inst, ""},
		{"restored already", act, dec(dis, ActionRestore), nil, done},
		{"record", mod(act, func(i *Image) { i.State = StateDisabled }), Decision{Image: act, Action: ActionRecord, To: StageDisabled}, inst, ""},
		{"recorded already", mod(dis, func(i *Image) {}), Decision{Image: act, Action: ActionRecord, To: StageDisabled}, nil, done},
		{"record, backend changed again", act, Decision{Image: act, Action: ActionRecord, To: StageDisabled}, nil, "record us-east-1:ami-1 refused: the backend shows active now, not disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTransition(tc.current, tc.d, tc.usage, now)
			switch tc.want {
			case "":
				require.NoError(t, err)
			case done:
				require.ErrorIs(t, err, ErrAlreadyDone)
			default:
				var te *TransitionError
				require.ErrorAs(t, err, &te)
				require.EqualError(t, err, tc.want)
				require.NotErrorIs(t, err, ErrAlreadyDone)
			}
		})
	}
}

// TestPropCheckTransitionAgreesWithPlan: every step Plan asks for passes
// CheckTransition on the images and usage Plan saw, and once carried out
// (Apply) the same check says it is done.
func TestPropCheckTransitionAgreesWithPlan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		checkTransitions(t, s, s.plan())
	})
}

func checkTransitions(t fataler, s scenario, plan []Decision) {
	for _, d := range plan {
		if !d.Action.Mutates() {
			continue
		}
		u := s.usage[d.Image.Ref()]
		err := CheckTransition(d.Image, d, u, s.now)
		if errors.Is(err, ErrAlreadyDone) && MarkerOnly(d.Image, d) {
			err = nil // the stage stands, the marker is cleared
		}
		if err != nil {
			t.Fatalf("Plan asked for %s %s (%q), CheckTransition says %v", d.Action, d.Image.Ref(), d.Reason, err)
		}
		after := Apply(d.Image, d, s.now)
		if err := CheckTransition(after, d, u, s.now); !errors.Is(err, ErrAlreadyDone) || MarkerOnly(after, d) {
			t.Fatalf("%s %s carried out, CheckTransition says %v", d.Action, d.Image.Ref(), err)
		}
	}
}

// TestPropTagRoundTripIdempotent: a plan carried out at any sub-second
// instant, written as tags and read back, leaves nothing to do at that
// instant.
func TestPropTagRoundTripIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genScenario(t)
		s.now = s.now.Add(time.Duration(rapid.Int64Range(0, int64(time.Second)-1).Draw(t, "nanos")))
		var next []Image
		first := s.plan()
		undid := slices.ContainsFunc(first, func(d Decision) bool { return d.Action == ActionRestore })
		for _, d := range first {
			img := Apply(d.Image, d, s.now)
			back, _ := FromTags(img, Tags(img, "test")) // bad stage tags are reported, and kept as read
			next = append(next, back)
		}
		s.images = next
		for _, d := range s.plan() {
			if d.Action == ActionRestore || !undid && d.Action.Mutates() { // see TestPropIdempotent
				t.Fatalf("after a tag round trip: %s %s %q", d.Image.Ref(), d.Action, d.Reason)
			}
		}
	})
}
