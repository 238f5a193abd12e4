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
	r := New("p", "web", "local", now, false, false)
	r.Add(lifecycle.Decision{Image: img("a", 10, lifecycle.StageActive), Action: lifecycle.ActionKeep, Reason: "kept: new build"}, now, Outcome{})
	r.Add(lifecycle.Decision{Image: img("b", 100, lifecycle.StageDisabled), Action: lifecycle.ActionDeregister, DeleteSnapshots: true, Reason: "deregister: x"}, now, Outcome{Changed: true})
	r.Add(lifecycle.Decision{Image: img("c", 1000, lifecycle.StageDisabled), Action: lifecycle.ActionDeregister, DeleteSnapshots: true}, now, Outcome{Err: errors.New("boom")})
	r.Add(lifecycle.Decision{Image: img("d", 5, lifecycle.StageActive), Action: lifecycle.ActionDeprecate,
		Consumers: []lifecycle.Consumer{{Kind: "instance", ID: "i-1"}}}, now, Outcome{Changed: true})
	// Already done by a concurrent run: reported, never counted twice.
	r.Add(lifecycle.Decision{Image: img("e", 7000, lifecycle.StageDisabled), Action: lifecycle.ActionDeregister, DeleteSnapshots: true}, now, Outcome{})

	if r.Summary.BytesReclaimed != 100 {
		t.Errorf("bytes reclaimed = %d, want 100 (failed and kept images reclaim nothing)", r.Summary.BytesReclaimed)
	}
	if r.Summary.Failed != 1 || r.Decisions[2].Status != StatusFailed || r.Decisions[2].StageAfter != lifecycle.StageDisabled {
		t.Errorf("failure not recorded: %+v", r.Decisions[2])
	}
	if r.Decisions[1].StageAfter != lifecycle.StageDeregistered || r.Decisions[1].Status != StatusDone {
		t.Errorf("done deregister: %+v", r.Decisions[1])
	}
	if r.Decisions[4].Status != StatusUnchanged || r.Decisions[4].StageAfter != lifecycle.StageDeregistered {
		t.Errorf("already done: %+v", r.Decisions[4])
	}
	if strings.Join(r.Summary.StillInUse, ",") != "d" {
		t.Errorf("still in use = %v, want [d]", r.Summary.StillInUse)
	}
	if last := r.Totals(); last != "1 keep, 1 deprecate, 3 deregister; 1 FAILED; 100 B reclaimed" {
		t.Errorf("summary line = %q", last)
	}
	if d := r.Details(); len(d) != 5 || !strings.HasSuffix(d[4], "(already done)") || !strings.Contains(d[2], "FAILED") {
		t.Errorf("details = %q", d)
	}

	dry := New("p", "web", "local", now, true, false)
	dry.Add(lifecycle.Decision{Image: img("b", 100, lifecycle.StageDisabled), Action: lifecycle.ActionDeregister, DeleteSnapshots: true, Reason: "deregister: x"}, now, Outcome{Changed: true})
	if dry.Decisions[0].Status != StatusPlanned || dry.Summary.BytesReclaimed != 0 || !strings.Contains(dry.Details()[0], "would deregister") {
		t.Errorf("dry run: %+v %v", dry.Decisions[0], dry.Details())
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

// Consumers of the JSON report read snake_case keys only.
func TestReportKeysAreSnakeCase(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	r := New("p", "web", "local", now, false, false)
	r.FailedRegions = []RegionFailure{{Region: "r", Error: "x"}}
	r.Add(lifecycle.Decision{Image: lifecycle.Image{ID: "a"}, Action: lifecycle.ActionKeep,
		Consumers: []lifecycle.Consumer{{Kind: "launch-template", ID: "lt-1", Version: "3", Account: "1"}}}, now, Outcome{Note: "n"})
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k != strings.ToLower(k) || strings.ContainsAny(k, " -") {
					t.Errorf("key %q is not snake_case", k)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	if !strings.Contains(string(data), `"kind":"launch-template"`) {
		t.Errorf("consumer not in the report: %s", data)
	}
}

// A report never writes through a symlink, and honours the umask so that
// another user can read it.
func TestWriteReplacesASymlinkAndHonoursUmask(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim.json")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "report.json")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	r := New("p", "web", "local", time.Now(), false, false)
	if _, err := r.Write(link, false); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "keep" {
		t.Errorf("the report was written through the symlink: %q", data)
	}
	fi, err := os.Lstat(link)
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("report is not a regular file: %v %v", fi, err)
	}
	if fi.Mode().Perm()&0o044 == 0 {
		t.Errorf("report mode %v: others cannot read it", fi.Mode())
	}
}
