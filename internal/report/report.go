// Package report renders what a lifecycle run decided and did: a JSON file
// for machines and a few readable lines for the Packer UI.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/safefile"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// Outcome of one decision.
const (
	StatusNone      = "none"      // keep or skip: nothing to carry out
	StatusDone      = "done"      // carried out
	StatusUnchanged = "unchanged" // already in the target stage (a re-run, or a concurrent run)
	StatusPlanned   = "planned"   // dry run: the dry-run twin succeeded
	StatusFailed    = "failed"    // carrying it out (or its dry-run twin) failed
	StatusSkipped   = "skipped"   // not carried out: the run failed before
	StatusUndone    = "undone"    // carried out, then restored: the run failed
)

// SchemaVersion of the JSON report. 2: snake_case keys throughout, notes,
// failed regions and the new build's outcome.
const SchemaVersion = 2

// Report is one run of the post-processor.
type Report struct {
	Schema  int       `json:"schema"`
	Plugin  string    `json:"plugin"`
	Family  string    `json:"family"`
	Backend string    `json:"backend"`
	Time    time.Time `json:"time"`
	// SimulatedTime: Time came from PACKER_LIFECYCLE_NOW, not the wall clock.
	SimulatedTime bool     `json:"simulated_time,omitempty"`
	DryRun        bool     `json:"dry_run"`
	Sweep         bool     `json:"sweep"`
	NewBuild      []string `json:"new_build"` // region:id of each new image
	// NewBuildStatus: "recorded", "would record", or why it was not
	// recorded (a failed run forgets its new build: Packer destroys it).
	NewBuildStatus string          `json:"new_build_status,omitempty"`
	FailedRegions  []RegionFailure `json:"failed_regions,omitempty"`
	Decisions      []Entry         `json:"decisions"`
	// OrphanedSnapshots: storage the family's managed releases left behind
	// (AWS snapshots no image refers to any more); listed, never deleted.
	OrphanedSnapshots []Orphan `json:"orphaned_snapshots,omitempty"`
	// OrphansUnknown: regions where they could not be looked for.
	OrphansUnknown []RegionFailure `json:"orphans_unknown,omitempty"`
	// Accounts: in an organisation-wide sweep, each account and whether
	// it was swept; the entries above then name their account.
	Accounts []Account `json:"accounts,omitempty"`
	Summary  Summary   `json:"summary"`
}

// Account is one account of an organisation-wide sweep.
type Account struct {
	Account string `json:"account"`
	RoleARN string `json:"role_arn"`
	// swept, or failed (Error says why: the role could not be assumed, or
	// something in the account failed; its decisions are above).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Orphan is a snapshot a managed release left behind.
type Orphan struct {
	Account string `json:"account,omitempty"` // organisation-wide sweeps
	Region  string `json:"region"`
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
	Bytes   int64  `json:"bytes"`
	// With delete_orphaned_snapshots: deleted, planned (dry run), kept
	// (Note says why) or failed (Error).
	Status string `json:"status,omitempty"`
	Note   string `json:"note,omitempty"`
	Error  string `json:"error,omitempty"`
}

// RegionFailure is a region (or catalog) that could not be listed: nothing
// in it was decided.
type RegionFailure struct {
	Account string `json:"account,omitempty"` // organisation-wide sweeps
	Region  string `json:"region"`
	Error   string `json:"error"`
}

// Entry is one image's decision and what became of it.
type Entry struct {
	Account         string           `json:"account,omitempty"` // organisation-wide sweeps
	ID              string           `json:"id"`
	Region          string           `json:"region"`
	Name            string           `json:"name,omitempty"`
	Version         string           `json:"version"`
	Channel         string           `json:"channel"`
	Action          lifecycle.Action `json:"action"`
	Reason          string           `json:"reason"`
	StageBefore     lifecycle.Stage  `json:"stage_before"`
	StageAfter      lifecycle.Stage  `json:"stage_after"`
	DeleteSnapshots bool             `json:"delete_snapshots,omitempty"`
	Bytes           int64            `json:"bytes,omitempty"`
	Consumers       []Consumer       `json:"consumers,omitempty"`
	Status          string           `json:"status"`
	Note            string           `json:"note,omitempty"`
	Error           string           `json:"error,omitempty"`
}

// Consumer is someone still using an image.
type Consumer struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
	Account string `json:"account,omitempty"`
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

// New starts the report of a run.
func New(plugin, family, backend string, now time.Time, dryRun, sweep bool) *Report {
	return &Report{
		Schema: SchemaVersion, Plugin: plugin, Family: family, Backend: backend, Time: now,
		DryRun: dryRun, Sweep: sweep, NewBuild: []string{}, Decisions: []Entry{},
		Summary: Summary{Actions: map[lifecycle.Action]int{}},
	}
}

// Outcome is what carrying a decision out gave.
type Outcome struct {
	Changed bool   // false: the target stage was already reached
	Note    string // detail, e.g. which files went
	Err     error
	Skipped bool // not carried out: the run failed first
	Undone  bool // carried out, then restored because the run failed
}

// Add records a decision and its outcome.
func (r *Report) Add(d lifecycle.Decision, now time.Time, o Outcome) {
	e := Entry{
		ID: d.Image.ID, Region: d.Image.Region, Name: d.Image.Name, Version: d.Image.Version,
		Channel: d.Image.Channel, Action: d.Action, Reason: d.Reason,
		StageBefore: d.Image.EffectiveStage(now), DeleteSnapshots: d.DeleteSnapshots,
		Bytes: d.Image.Size, Status: StatusNone, Note: o.Note,
	}
	for _, c := range d.Consumers {
		e.Consumers = append(e.Consumers, Consumer(c))
	}
	e.StageAfter = e.StageBefore
	switch {
	case o.Err != nil:
		e.Status, e.Error = StatusFailed, o.Err.Error()
	case o.Skipped:
		e.Status = StatusSkipped
	case o.Undone:
		e.Status = StatusUndone
	case d.Action == lifecycle.ActionForget && r.DryRun:
		e.Status = StatusPlanned
	case d.Action == lifecycle.ActionForget && o.Changed:
		e.Status = StatusDone
	case d.Action == lifecycle.ActionForget:
		e.Status = StatusUnchanged
	case d.Action.Mutates() && r.DryRun:
		e.Status = StatusPlanned
	case d.Action.Mutates() && o.Changed:
		e.Status, e.StageAfter = StatusDone, d.Target()
	case d.Action.Mutates():
		e.Status, e.StageAfter = StatusUnchanged, d.Target()
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
		r.Summary.StillInUse = append(r.Summary.StillInUse, d.Image.Ref().String())
	}
	r.Decisions = append(r.Decisions, e)
}

// Merge adds what one account's run decided and did to r (an
// organisation-wide sweep's report), each entry naming the account.
func (r *Report) Merge(account string, sub *Report) {
	for _, e := range sub.Decisions {
		e.Account = account
		r.Decisions = append(r.Decisions, e)
	}
	for _, f := range sub.FailedRegions {
		f.Account = account
		r.FailedRegions = append(r.FailedRegions, f)
	}
	for _, o := range sub.OrphanedSnapshots {
		o.Account = account
		r.OrphanedSnapshots = append(r.OrphanedSnapshots, o)
	}
	for _, f := range sub.OrphansUnknown {
		f.Account = account
		r.OrphansUnknown = append(r.OrphansUnknown, f)
	}
	if r.Summary.Actions == nil {
		r.Summary.Actions = map[lifecycle.Action]int{}
	}
	for a, n := range sub.Summary.Actions {
		r.Summary.Actions[a] += n
	}
	r.Summary.Failed += sub.Summary.Failed
	r.Summary.BytesReclaimed += sub.Summary.BytesReclaimed
	r.Summary.StillInUse = append(r.Summary.StillInUse, sub.Summary.StillInUse...)
}

// Write saves the report as indented JSON at path, atomically (temp file
// and rename: a symlink at path is replaced, never written through). With
// unique, path is a stem: the report goes to stem.json, or stem-2.json,
// stem-3.json… whichever does not exist yet, so concurrent runs never
// overwrite each other's reports. It returns the path written.
func (r *Report) Write(path string, unique bool) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return "", err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	data = append(data, '\n')
	if !unique {
		return path, safefile.Write(path, data)
	}
	for n := 1; ; n++ {
		name := path + ".json"
		if n > 1 {
			name = fmt.Sprintf("%s-%d.json", path, n)
		}
		err := safefile.WriteNew(name, data)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
}

// Details is one line per decision, for ui.Message: the image, then the
// reason, which starts with the action ("deprecate: superseded by 1.2.0").
func (r *Report) Details() []string {
	var out []string
	for _, e := range r.Decisions {
		ref := e.ID
		if e.Region != "" && e.Region != "local" {
			ref = e.Region + ":" + e.ID
		}
		reason := e.Reason
		switch e.Status {
		case StatusPlanned:
			reason = "would " + reason
		case StatusUnchanged:
			reason += " (already done)"
		case StatusFailed:
			reason = "FAILED " + reason
		case StatusSkipped, StatusUndone:
			reason = "(" + e.Status + ") " + reason
		}
		line := fmt.Sprintf("%s %s (%s): %s", ref, e.Version, e.Channel, reason)
		if e.Note != "" {
			line += "; " + e.Note
		}
		if e.Error != "" {
			line += ": " + e.Error
		}
		out = append(out, line)
	}
	return out
}

// Totals is the one-line summary of the run.
func (r *Report) Totals() string {
	var parts []string
	for _, a := range []lifecycle.Action{lifecycle.ActionKeep, lifecycle.ActionSkip, lifecycle.ActionRecord,
		lifecycle.ActionDeprecate, lifecycle.ActionDisable, lifecycle.ActionDeregister, lifecycle.ActionRestore} {
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
	if n := len(r.FailedRegions); n > 0 {
		total += fmt.Sprintf("; %d region%s not listed", n, map[bool]string{true: "", false: "s"}[n == 1])
	}
	if r.Summary.BytesReclaimed > 0 {
		total += fmt.Sprintf("; %s reclaimed", humanBytes(r.Summary.BytesReclaimed))
	}
	if r.DryRun {
		total += " (dry run: nothing changed)"
	}
	return total
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
