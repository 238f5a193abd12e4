package lifecycle

import "testing"

// A hand-edited stage tag the planner does not know must reach the planner
// as such, so it skips the image (rule 3), rather than being dropped and
// leaving the image planned as if it were active.
func TestFromTagsUnknownStageIsSkipped(t *testing.T) {
	imgs := history()
	got, err := FromTags(imgs[3], map[string]string{TagStage: "Disabld", TagStageSince: daysAgo(90).Format("2006-01-02T15:04:05Z")})
	if err == nil {
		t.Fatal("no error for an unknown stage")
	}
	imgs[3] = got
	for _, d := range Plan(imgs, nil, testPolicy(), now, nil) {
		if d.Image.ID == "ami-110" && d.Action != ActionSkip {
			t.Fatalf("image with unknown stage tag: %s (%s), want skip", d.Action, d.Reason)
		}
	}
}
