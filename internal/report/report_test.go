package report

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

func TestAddCountsOutcomes(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	img := func(id string, size int64, stage lifecycle.Stage) lifecycle.Image {
		return lifecycle.Image{ID: id, Version: id, Channel: "stable", Size: size, Stage: stage}
	}
	var r Report
	r.Add(lifecycle.Decision{Image: img("a", 10, lifecycle.StageActive), Action: lifecycle.ActionKeep, Reason: "kept: new build"}, now, false, nil)
	r.Add(lifecycle.Decision{Image: img("b", 100, lifecycle.StageDisabled), Action: lifecycle.ActionDeregister, DeleteSnapshots: true, Reason: "deregister: x"}, now, false, nil)
	r.Add(lifecycle.Decision{Image: img("c", 1000, lifecycle.StageDisabled), Action: lifecycle.ActionDeregister, DeleteSnapshots: true}, now, false, errors.New("boom"))
	r.Add(lifecycle.Decision{Image: img("d", 5, lifecycle.StageActive), Action: lifecycle.ActionDeprecate,
		Consumers: []lifecycle.Consumer{{Kind: "instance", ID: "i-1"}}}, now, false, nil)

	if r.Summary.BytesReclaimed != 100 {
		t.Errorf("bytes reclaimed = %d, want 100 (failed and kept images reclaim nothing)", r.Summary.BytesReclaimed)
	}
	if r.Summary.Failed != 1 || r.Decisions[2].Status != StatusFailed || r.Decisions[2].StageAfter != lifecycle.StageDisabled {
		t.Errorf("failure not recorded: %+v", r.Decisions[2])
	}
	if r.Decisions[1].StageAfter != lifecycle.StageDeregistered || r.Decisions[1].Status != StatusDone {
		t.Errorf("done deregister: %+v", r.Decisions[1])
	}
	if strings.Join(r.Summary.StillInUse, ",") != "d" {
		t.Errorf("still in use = %v, want [d]", r.Summary.StillInUse)
	}
	last := r.Lines()[len(r.Decisions)]
	if last != "1 keep, 1 deprecate, 2 deregister; 1 FAILED; 100 B reclaimed" {
		t.Errorf("summary line = %q", last)
	}

	var dry Report
	dry.DryRun = true
	dry.Add(lifecycle.Decision{Image: img("b", 100, lifecycle.StageDisabled), Action: lifecycle.ActionDeregister, DeleteSnapshots: true}, now, true, nil)
	if dry.Decisions[0].Status != StatusPlanned || dry.Summary.BytesReclaimed != 0 || !strings.HasPrefix(dry.Lines()[0], "would deregister") {
		t.Errorf("dry run: %+v %v", dry.Decisions[0], dry.Lines())
	}
}

func TestWriteUniqueNeverOverwrites(t *testing.T) {
	stem := filepath.Join(t.TempDir(), "reports", "web-20260301T000000Z")
	var names []string
	for i := range 3 {
		r := Report{Family: "web", NewBuild: []string{string(rune('a' + i))}}
		name, err := r.Write(stem, true)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(name))
	}
	if got := strings.Join(names, " "); got != "web-20260301T000000Z.json web-20260301T000000Z-2.json web-20260301T000000Z-3.json" {
		t.Errorf("names = %s", got)
	}
	data, err := os.ReadFile(stem + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil || back.NewBuild[0] != "a" {
		t.Errorf("first report was overwritten or unreadable: %v %+v", err, back)
	}
}
