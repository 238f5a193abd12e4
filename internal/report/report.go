// Package report renders what a lifecycle run decided and did: a JSON file
// for machines and a few readable lines for the Packer UI.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Outcome of one decision.
const (
	StatusNone    = "none"    // keep or skip: nothing to carry out
	StatusDone    = "done"    // carried out
	StatusPlanned = "planned" // dry run: the dry-run twin succeeded
	StatusFailed  = "failed"  // carrying it out (or its dry-run twin) failed
)

// Report is one run of the post-processor.
type Report struct {
	Schema    int       `json:"schema"`
	Plugin    string    `json:"plugin"`
	Family    string    `json:"family"`
	Backend   string    `json:"backend"`
	Time      time.Time `json:"time"`
	DryRun    bool      `json:"dry_run"`
	Sweep     bool      `json:"sweep"`
	NewBuild  []string  `json:"new_build"`
	Decisions []Entry   `json:"decisions"`
	Summary   Summary   `json:"summary"`
}

// Entry is one image's decision and what became of it.
type Entry struct {
	ID              string               `json:"id"`
	Region          string               `json:"region"`
	Name            string               `json:"name,omitempty"`
	Version         string               `json:"version"`
	Channel         string               `json:"channel"`
	Action          lifecycle.Action     `json:"action"`
	Reason          string               `json:"reason"`
	StageBefore     lifecycle.Stage      `json:"stage_before"`
	StageAfter      lifecycle.Stage      `json:"stage_after"`
	DeleteSnapshots bool                 `json:"delete_snapshots,omitempty"`
	Bytes           int64                `json:"bytes,omitempty"`
	Consumers       []lifecycle.Consumer `json:"consumers,omitempty"`
	Status          string               `json:"status"`
	Error           string               `json:"error,omitempty"`
}

// Summary counts decisions by action and outcome.
type Summary struct {
	Actions        map[lifecycle.Action]int `json:"actions"`
	Failed         int                      `json:"failed"`
	BytesReclaimed int64                    `json:"bytes_reclaimed"`
	// StillInUse lists deprecated or retiring images that something still
	// uses: their consumers should move to a newer release.
	StillInUse []string `json:"still_in_use,omitempty"`
}

// Add records a decision and its outcome (err is nil unless it failed).
func (r *Report) Add(d lifecycle.Decision, now time.Time, dryRun bool, err error) {
	e := Entry{
		ID: d.Image.ID, Region: d.Image.Region, Name: d.Image.Name, Version: d.Image.Version,
		Channel: d.Image.Channel, Action: d.Action, Reason: d.Reason,
		StageBefore: d.Image.EffectiveStage(now), DeleteSnapshots: d.DeleteSnapshots,
		Bytes: d.Image.Size, Consumers: d.Consumers, Status: StatusNone,
	}
	e.StageAfter = e.StageBefore
	switch {
	case err != nil:
		e.Status, e.Error = StatusFailed, err.Error()
	case d.Action.Mutates() && dryRun:
		e.Status = StatusPlanned
	case d.Action.Mutates():
		e.Status, e.StageAfter = StatusDone, d.Action.Target()
	}
	if r.Summary.Actions == nil {
		r.Summary.Actions = map[lifecycle.Action]int{}
	}
	r.Summary.Actions[d.Action]++
	if e.Status == StatusFailed {
		r.Summary.Failed++
	}
	if e.Status == StatusDone && d.Action == lifecycle.ActionDeregister && d.DeleteSnapshots {
		r.Summary.BytesReclaimed += d.Image.Size
	}
	if len(d.Consumers) > 0 && (d.Action.Mutates() && d.Action != lifecycle.ActionRestore || e.StageBefore != lifecycle.StageActive) {
		r.Summary.StillInUse = append(r.Summary.StillInUse, d.Image.ID)
	}
	r.Decisions = append(r.Decisions, e)
}

// Write saves the report as indented JSON at path, creating its directory.
// With unique, path is a stem: the report goes to stem.json, or stem-2.json,
// stem-3.json… whichever does not exist yet, so concurrent runs never
// overwrite each other's reports. It returns the path written.
func (r *Report) Write(path string, unique bool) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	data = append(data, '\n')
	if !unique {
		return path, os.WriteFile(path, data, 0o644)
	}
	for n := 1; ; n++ {
		name := path + ".json"
		if n > 1 {
			name = fmt.Sprintf("%s-%d.json", path, n)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(data)
		return name, errors.Join(err, f.Close())
	}
}

// Lines is the readable summary: one line per decision, then the totals.
func (r *Report) Lines() []string {
	var out []string
	for _, e := range r.Decisions {
		verb := string(e.Action)
		switch e.Status {
		case StatusPlanned:
			verb = "would " + verb
		case StatusFailed:
			verb = verb + " FAILED"
		}
		line := fmt.Sprintf("%-14s %s %s (%s): %s", verb, e.ID, e.Version, e.Channel, e.Reason)
		if e.Error != "" {
			line += ": " + e.Error
		}
		out = append(out, line)
	}
	var parts []string
	for _, a := range []lifecycle.Action{lifecycle.ActionKeep, lifecycle.ActionSkip, lifecycle.ActionDeprecate,
		lifecycle.ActionDisable, lifecycle.ActionDeregister, lifecycle.ActionRestore} {
		if n := r.Summary.Actions[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	total := "nothing to decide"
	if len(parts) > 0 {
		total = strings.Join(parts, ", ")
	}
	if r.Summary.Failed > 0 {
		total += fmt.Sprintf("; %d FAILED", r.Summary.Failed)
	}
	if r.Summary.BytesReclaimed > 0 {
		total += fmt.Sprintf("; %s reclaimed", humanBytes(r.Summary.BytesReclaimed))
	}
	if r.DryRun {
		total += " (dry run: nothing changed)"
	}
	out = append(out, total)
	if len(r.Summary.StillInUse) > 0 {
		out = append(out, "still in use while retiring: "+strings.Join(r.Summary.StillInUse, ", "))
	}
	return out
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
