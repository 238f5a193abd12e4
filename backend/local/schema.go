package local

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/backend"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// SchemaVersion is the catalog format this package reads and writes. A
// catalog with a higher number was written by a newer plugin: we refuse it
// rather than drop fields we do not know.
const SchemaVersion = 1

// Document is the whole content of catalog.json, for example:
//
//	{
//	  "schema": 1,
//	  "entries": [{
//	    "id": "web-1.4.2-3d61f0fc9b26", "family": "web", "version": "1.4.2", "channel": "stable",
//	    "name": "web-1.4.2", "build_time": "…", "released_at": "…", "expires_at": "…",
//	    "stage": "disabled", "stage_since": "…", "deprecated_at": "…", "managed": true,
//	    "parent": "base-2.0.0-0a1b2c3d4e5f",
//	    "files": [{"path": "output/web.qcow2", "size": 1048576, "sha256": "…",
//	               "quarantined": "quarantine/web-1.4.2-3d61f0fc9b26/web.qcow2"}],
//	    "tags": {"os": "debian"},
//	    "history": [{"time": "…", "action": "record", "reason": "recorded new build", "to": "active"},
//	                {"time": "…", "action": "deprecate", "reason": "…", "from": "active", "to": "deprecated"}]
//	  }]
//	}
type Document struct {
	Schema  int     `json:"schema"`
	Entries []Entry `json:"entries"` // in recording order, so diffs stay small
}

// Entry is one recorded release. Deregistered entries stay as tombstones
// (stage deregistered, history kept) so the catalog remains an audit log.
type Entry struct {
	ID         string          `json:"id"`
	Family     string          `json:"family"`
	Version    string          `json:"version"`
	Channel    string          `json:"channel,omitempty"`
	Name       string          `json:"name,omitempty"`
	BuildTime  time.Time       `json:"build_time,omitzero"`
	ReleasedAt time.Time       `json:"released_at,omitzero"`
	ExpiresAt  time.Time       `json:"expires_at,omitzero"` // zero: never expires
	Stage      lifecycle.Stage `json:"stage"`
	StageSince time.Time       `json:"stage_since"`
	// DeprecatedAt is the planner's DeprecationTime: when the entry was
	// deprecated, zero while active. It is not the expiry: an expiry in the
	// past would make the planner see an active entry as deprecated.
	DeprecatedAt time.Time `json:"deprecated_at,omitzero"`
	Pinned       bool      `json:"pinned,omitempty"`
	Protected    bool      `json:"protected,omitempty"`
	Managed      bool      `json:"managed"`
	// Pending is set while the run that recorded the entry has not
	// finished: it is no release yet (see backend.StatePending).
	Pending bool `json:"pending,omitempty"`
	// SupersededBy names the new build whose run deprecated or disabled
	// the entry, until that build is released (lifecycle.Image.SupersededBy).
	SupersededBy string            `json:"superseded_by,omitempty"`
	Parent       string            `json:"parent,omitempty"`
	Files        []FileRef         `json:"files"`
	Tags         map[string]string `json:"tags,omitempty"`
	History      []Event           `json:"history"`
}

// FileRef is one artifact file of a release.
type FileRef struct {
	// Path as recorded: relative to the artifact root, or absolute. It is
	// the only path we ever act on (plus its quarantine twin).
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Quarantined is where the file sits while the entry is disabled (and
	// after a deregister that kept the files); empty when at Path.
	Quarantined string `json:"quarantined,omitempty"`
	// Deleted is set once a deregister with delete_snapshots removed it.
	Deleted bool `json:"deleted,omitempty"`
}

// Event is one line of an entry's history: a recording or a decision
// carried out.
type Event struct {
	Time   time.Time        `json:"time"`
	Action lifecycle.Action `json:"action"` // "record" or a lifecycle.Action
	Reason string           `json:"reason,omitempty"`
	From   lifecycle.Stage  `json:"from,omitempty"`
	To     lifecycle.Stage  `json:"to,omitempty"`
}

// ActionRecord is the history action of Record; it is not a planner action.
const ActionRecord lifecycle.Action = "record"

// idPattern keeps ids usable as a directory name under quarantine/: no
// separators, no "..", nothing a shell or a path join can misread.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$`)

// CheckID checks an entry id as `restore`, `pin_releases` and
// `unpin_releases` take it on the local backend.
func CheckID(id string) error { return validID(id) }

func validID(id string) error {
	if !idPattern.MatchString(id) || strings.Contains(id, "..") {
		return fmt.Errorf("invalid catalog id %q: use letters, digits, '.', '_', '+', '-' (no '..', no '/')", id)
	}
	return nil
}

var unsafeIDChars = regexp.MustCompile(`[^A-Za-z0-9._+-]+`)

// makeID builds "<family>-<version>-<12 hex>" where the hex is a digest of
// the exact family and version and the files' sha256 (or of name and build
// time when there are none). The same build therefore always gets the same
// id, which makes a re-run of Record after a crash idempotent; and two
// versions that read alike once sanitised ("2.0 beta", "2.0_beta") never
// share one.
func makeID(img lifecycle.Image, files []FileRef) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", img.Family, img.Version)
	if len(files) == 0 {
		fmt.Fprintf(h, "%s\x00%s", img.Name, img.BuildTime.UTC().Format(time.RFC3339Nano))
	}
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00", f.SHA256)
	}
	clean := func(s, def string) string {
		s = strings.Trim(unsafeIDChars.ReplaceAllString(s, "_"), "._+-")
		if s == "" {
			return def
		}
		return strings.ReplaceAll(s, "..", "_")
	}
	return clean(img.Family, "image") + "-" + clean(img.Version, "0") + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// image converts an entry to what the planner sees.
func (e *Entry) image() lifecycle.Image {
	// Snapshots are the files the entry still holds (not deleted).
	paths := make([]string, 0, len(e.Files))
	var size int64
	for _, f := range e.Files {
		if !f.Deleted {
			paths = append(paths, f.Path)
			size += f.Size
		}
	}
	state := lifecycle.StateAvailable
	switch {
	case e.Pending:
		state = backend.StatePending
	case e.Stage == lifecycle.StageDisabled:
		state = lifecycle.StateDisabled
	case e.Stage == lifecycle.StageDeregistered:
		state = lifecycle.StateDeregistered
	}
	img := lifecycle.Image{
		ID:              e.ID,
		Region:          Region,
		Name:            e.Name,
		Family:          e.Family,
		Channel:         e.Channel,
		Version:         e.Version,
		BuildTime:       e.BuildTime,
		ReleasedAt:      e.ReleasedAt,
		ExpiresAt:       e.ExpiresAt,
		Stage:           e.Stage,
		StageSince:      e.StageSince,
		DeprecationTime: e.DeprecatedAt,
		State:           state,
		Pinned:          e.Pinned,
		Protected:       e.Protected,
		Managed:         e.Managed,
		Owner:           "",
		Parent:          e.Parent,
		SupersededBy:    lifecycle.ParseRef(e.SupersededBy),
		Snapshots:       paths,
		Size:            size,
	}
	img.Tags = lifecycleTags(e.Tags, img)
	return img
}

// lifecycleTags returns the stored tags with the lifecycle:* keys rendered
// from the entry's fields, which are the truth here: a tag recorded at build
// time (lifecycle:stage=active) must not contradict the stage reached since.
// The managed-by marker is kept as recorded; unset fields drop their key.
func lifecycleTags(stored map[string]string, img lifecycle.Image) map[string]string {
	out := maps.Clone(stored)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range lifecycle.Tags(img, stored[lifecycle.TagManagedBy]) {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

func (d *Document) find(id string) *Entry {
	for i := range d.Entries {
		if d.Entries[i].ID == id {
			return &d.Entries[i]
		}
	}
	return nil
}

// live reports whether the entry still counts: everything but tombstones.
func (e *Entry) live() bool { return e.Stage != lifecycle.StageDeregistered }
