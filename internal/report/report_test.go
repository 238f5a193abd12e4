package report

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

	assert.EqualValues(t, 100, r.Summary.BytesReclaimed, "bytes reclaimed (failed and kept images reclaim nothing)")
	assert.Equal(t, 1, r.Summary.Failed, "failed count")
	assert.Equal(t, StatusFailed, r.Decisions[2].Status, "failure not recorded: %+v", r.Decisions[2])
	assert.Equal(t, lifecycle.StageDisabled, r.Decisions[2].StageAfter, "failure not recorded: %+v", r.Decisions[2])
	assert.Equal(t, lifecycle.StageDeregistered, r.Decisions[1].StageAfter, "done deregister: %+v", r.Decisions[1])
	assert.Equal(t, StatusDone, r.Decisions[1].Status, "done deregister: %+v", r.Decisions[1])
	assert.Equal(t, StatusUnchanged, r.Decisions[4].Status, "already done: %+v", r.Decisions[4])
	assert.Equal(t, lifecycle.StageDeregistered, r.Decisions[4].StageAfter, "already done: %+v", r.Decisions[4])
	assert.Equal(t, "d", strings.Join(r.Summary.StillInUse, ","), "still in use")
	assert.Equal(t, "1 keep, 1 deprecate, 3 deregister; 1 FAILED; 100 B reclaimed", r.Totals(), "summary line")
	if d := r.Details(); assert.Len(t, d, 5, "details = %q", d) {
		assert.True(t, strings.HasSuffix(d[4], "(already done)"), "details = %q", d)
		assert.Contains(t, d[2], "FAILED", "details = %q", d)
	}

	dry := New("p", "web", "local", now, true, false)
	dry.Add(lifecycle.Decision{Image: img("b", 100, lifecycle.StageDisabled), Action: lifecycle.ActionDeregister, DeleteSnapshots: true, Reason: "deregister: x"}, now, Outcome{Changed: true})
	assert.Equal(t, StatusPlanned, dry.Decisions[0].Status, "dry run: %+v", dry.Decisions[0])
	assert.Zero(t, dry.Summary.BytesReclaimed, "dry run reclaims nothing")
	assert.Contains(t, dry.Details()[0], "would deregister", "dry run details")
}

func TestWriteUniqueNeverOverwrites(t *testing.T) {
	stem := filepath.Join(t.TempDir(), "reports", "web-20260301T000000Z")
	var names []string
	for i := range 3 {
		r := Report{Family: "web", NewBuild: []string{string(rune('a' + i))}}
		name, err := r.Write(stem, true)
		require.NoError(t, err, "report %d", i)
		names = append(names, filepath.Base(name))
	}
	assert.Equal(t, []string{"web-20260301T000000Z.json", "web-20260301T000000Z-2.json", "web-20260301T000000Z-3.json"}, names, "names")
	data, err := os.ReadFile(stem + ".json")
	require.NoError(t, err)
	var back Report
	require.NoError(t, json.Unmarshal(data, &back), "first report unreadable")
	require.NotEmpty(t, back.NewBuild, "first report: %+v", back)
	assert.Equal(t, "a", back.NewBuild[0], "first report was overwritten: %+v", back)
}

// Consumers of the JSON report read snake_case keys only.
func TestReportKeysAreSnakeCase(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	r := New("p", "web", "local", now, false, false)
	r.FailedRegions = []RegionFailure{{Region: "r", Error: "x"}}
	r.Add(lifecycle.Decision{Image: lifecycle.Image{ID: "a"}, Action: lifecycle.ActionKeep,
		Consumers: []lifecycle.Consumer{{Kind: "launch-template", ID: "lt-1", Version: "3", Account: "1"}}}, now, Outcome{Note: "n"})
	data, err := json.Marshal(r)
	require.NoError(t, err)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				assert.True(t, k == strings.ToLower(k) && !strings.ContainsAny(k, " -"), "key %q is not snake_case", k)
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var doc any
	require.NoError(t, json.Unmarshal(data, &doc))
	walk(doc)
	assert.Contains(t, string(data), `"kind":"launch-template"`, "consumer not in the report")
}

// A report never writes through a symlink, and honours the umask so that
// another user can read it.
func TestWriteReplacesASymlinkAndHonoursUmask(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim.json")
	require.NoError(t, os.WriteFile(victim, []byte("keep"), 0o644))
	link := filepath.Join(dir, "report.json")
	require.NoError(t, os.Symlink(victim, link))
	r := New("p", "web", "local", time.Now(), false, false)
	_, err := r.Write(link, false)
	require.NoError(t, err)
	data, _ := os.ReadFile(victim)
	assert.Equal(t, "keep", string(data), "the report was written through the symlink")
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular(), "report is not a regular file: %v", fi.Mode())
	assert.NotZero(t, fi.Mode().Perm()&0o044, "report mode %v: others cannot read it", fi.Mode())
}

// TestMergeNamesTheAccount: an account's run merged into an
// organisation-wide sweep's report keeps every entry, each naming the
// account, and adds its summary to the sum.
func TestMergeNamesTheAccount(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	top := New("p", "web", "aws", now, false, true)
	for _, acc := range []string{"210000000001", "210000000002"} {
		sub := New("p", "web", "aws", now, false, true)
		sub.Add(lifecycle.Decision{Image: lifecycle.Image{ID: "ami-1", Region: "us-east-1", Size: 8 << 30}, Action: lifecycle.ActionDeregister, DeleteSnapshots: true}, now, Outcome{Changed: true})
		sub.FailedRegions = []RegionFailure{{Region: "eu-west-1", Error: "down"}}
		sub.OrphanedSnapshots = []Orphan{{Region: "us-east-1", ID: "snap-1"}}
		sub.OrphansUnknown = []RegionFailure{{Region: "eu-west-1", Error: "down"}}
		sub.Summary.StillInUse = []string{"us-east-1:ami-2"}
		top.Merge(acc, sub)
	}
	for i, acc := range []string{"210000000001", "210000000002"} {
		if top.Decisions[i].Account != acc || top.FailedRegions[i].Account != acc || top.OrphanedSnapshots[i].Account != acc || top.OrphansUnknown[i].Account != acc {
			t.Fatalf("entry %d does not name account %s: %+v", i, acc, top)
		}
	}
	if top.Summary.Actions[lifecycle.ActionDeregister] != 2 || top.Summary.BytesReclaimed != 16<<30 || len(top.Summary.StillInUse) != 2 {
		t.Fatalf("summary not added up: %+v", top.Summary)
	}
}
