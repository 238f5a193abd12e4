package release

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/report"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

// realRun configures the post-processor with raw (the real backends: no
// fake) and runs it at now on an artifact of files; it returns the report
// at reportPath and the run's error.
func realRun(t *testing.T, raw map[string]interface{}, now time.Time, reportPath string, files ...string) (report.Report, error) {
	t.Helper()
	t.Setenv(clock.Env, now.Format(time.RFC3339))
	raw["allow_simulated_time"] = true
	raw["report_path"] = reportPath
	var p PostProcessor
	require.NoError(t, p.Configure(raw))
	id := ""
	if len(files) > 0 {
		id = files[0]
	}
	in := &packersdk.MockArtifact{BuilderIdValue: "packer.file", IdValue: id, FilesValue: files}
	_, _, _, err := p.PostProcess(context.Background(), newUI(), in)
	var rep report.Report
	data, rerr := os.ReadFile(reportPath)
	require.NoError(t, rerr, "a report is written whatever happens (run error: %v)", err)
	require.NoError(t, json.Unmarshal(data, &rep))
	return rep, err
}

// craftedCatalog is a local catalog of family web where 1.0.0 was
// superseded by 1.1.0 and deprecated on day0+1: a sweep on day0+60 disables
// it (moves a.img to the quarantine). It returns the artifact root.
func craftedCatalog(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "root")
	require.NoError(t, os.MkdirAll(root, 0o755))
	for _, f := range []string{"a.img", "b.img"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, f), []byte("image "+f), 0o644))
	}
	cfg := func(v string) map[string]interface{} {
		return map[string]interface{}{"family": "web", "version": v, "keep_releases": 1, "min_age": "0s",
			"catalog_dir": filepath.Join(root, "cat")}
	}
	_, err := realRun(t, cfg("1.0.0"), day0, filepath.Join(root, "cat", "reports", "1.json"), filepath.Join(root, "a.img"))
	require.NoError(t, err)
	_, err = realRun(t, cfg("1.1.0"), day0.Add(24*time.Hour), filepath.Join(root, "cat", "reports", "2.json"), filepath.Join(root, "b.img"))
	require.NoError(t, err)
	return root
}

func sweepCatalog(t *testing.T, root string) (report.Report, error) {
	raw := map[string]interface{}{"family": "web", "sweep": true, "keep_releases": 1, "min_age": "0s",
		"disable_after": "7d", "deregister_after": "7d", "catalog_dir": filepath.Join(root, "cat")}
	return realRun(t, raw, day0.Add(60*24*time.Hour), filepath.Join(root, "cat", "reports", "sweep.json"))
}

// editEntry rewrites the catalog's entry of version 1.0.0 as raw JSON, so
// that wrong types can be written too.
func editEntry(t *testing.T, root string, edit func(doc map[string]interface{}, e map[string]interface{})) {
	t.Helper()
	path := filepath.Join(root, "cat", "catalog.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc map[string]interface{}
	require.NoError(t, json.Unmarshal(data, &doc))
	for _, e := range doc["entries"].([]interface{}) {
		if m := e.(map[string]interface{}); m["version"] == "1.0.0" {
			edit(doc, m)
		}
	}
	data, err = json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// filesOutsideCatalog lists every file of dir (the artifact root and what
// lies beside it) with its content, but the catalog's own bookkeeping.
func filesOutsideCatalog(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() && fi.Name() == "cat" {
			return filepath.SkipDir
		}
		if !fi.IsDir() {
			data, _ := os.ReadFile(p)
			out[p] = fi.Mode().String() + " " + string(data)
		}
		return nil
	}))
	return out
}

// TestCraftedCatalogNeverRetires: a local catalog edited by someone else
// (unknown or future stages, wrong JSON types, huge strings, entries whose
// files lie outside the artifact root or behind a symlink, duplicate ids,
// times from the future, entries not ours) never leads to a retirement
// through the real backend and the real run: no file anywhere is moved or
// deleted, and the report says why the entry was skipped (or the run fails
// and says why). The control case, unedited, is disabled.
func TestCraftedCatalogNeverRetires(t *testing.T) {
	huge := strings.Repeat("x", 1<<16)
	cases := []struct {
		name string
		edit func(t *testing.T, root, outside string, doc, e map[string]interface{})
		want string // in the skip reason or the run's error
	}{
		{"unknown stage", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["stage"] = "retired" }, "unknown"},
		{"stage upper case", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["stage"] = "DEPRECATED" }, "unknown"},
		{"huge stage", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["stage"] = huge }, "unknown"},
		{"stage a number", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["stage"] = 5 }, "corrupt"},
		{"managed a string", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["managed"] = "yes" }, "corrupt"},
		{"files an object", func(_ *testing.T, _, _ string, _, e map[string]interface{}) {
			e["files"] = map[string]interface{}{"path": "/"}
		}, "corrupt"},
		{"stage_since garbage", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["stage_since"] = "last week" }, "corrupt"},
		{"stage_since in 2999", func(_ *testing.T, _, _ string, _, e map[string]interface{}) {
			e["stage_since"] = "2999-01-01T00:00:00Z"
		}, ""},
		{"released in 2999", func(_ *testing.T, _, _ string, _, e map[string]interface{}) {
			e["released_at"], e["build_time"], e["stage_since"] = "2999-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
		}, ""},
		{"deregistered already, files present", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["stage"] = "deregistered" }, ""},
		{"not managed", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["managed"] = false }, "not managed"},
		{"managed by another tool", func(_ *testing.T, _, _ string, _, e map[string]interface{}) {
			e["tags"].(map[string]interface{})[lifecycle.TagManagedBy] = "terraform"
		}, "not managed"},
		{"huge version", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["version"] = huge }, "version of 65536 characters"},
		{"version with a newline", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["version"] = "1.0.0\nrm -rf /" }, "control character"},
		{"duplicate id", func(_ *testing.T, _, _ string, doc, e map[string]interface{}) {
			doc["entries"] = append(doc["entries"].([]interface{}), e)
		}, "duplicate entry id"},
		{"id with a path", func(_ *testing.T, _, _ string, _, e map[string]interface{}) { e["id"] = "../../x" }, "bad or duplicate entry id"},
		{"file outside the root, absolute", func(_ *testing.T, _, outside string, _, e map[string]interface{}) {
			e["files"].([]interface{})[0].(map[string]interface{})["path"] = outside
		}, "refusing"},
		{"file outside the root, relative", func(_ *testing.T, _, _ string, _, e map[string]interface{}) {
			e["files"].([]interface{})[0].(map[string]interface{})["path"] = "../outside/passwd"
		}, "refusing"},
		{"file behind a symlink", func(t *testing.T, root, outside string, _, e map[string]interface{}) {
			require.NoError(t, os.Symlink(outside, filepath.Join(root, "link.img")))
			e["files"].([]interface{})[0].(map[string]interface{})["path"] = "link.img"
		}, "refusing"},
	}
	// The control: the same catalog unedited is disabled by the sweep.
	t.Run("control", func(t *testing.T) {
		root := craftedCatalog(t)
		rep, err := sweepCatalog(t, root)
		require.NoError(t, err)
		require.Equal(t, 1, rep.Summary.Actions[lifecycle.ActionDisable], "%+v", rep.Decisions)
		_, err = os.Stat(filepath.Join(root, "a.img"))
		require.True(t, os.IsNotExist(err), "a.img is in the quarantine")
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := craftedCatalog(t)
			outsideDir := filepath.Join(filepath.Dir(root), "outside")
			require.NoError(t, os.MkdirAll(outsideDir, 0o755))
			outside := filepath.Join(outsideDir, "passwd")
			// The decoy has the very content of a.img: only its place tells it apart.
			require.NoError(t, os.WriteFile(outside, []byte("image a.img"), 0o644))
			editEntry(t, root, func(doc, e map[string]interface{}) { c.edit(t, root, outside, doc, e) })
			before := filesOutsideCatalog(t, filepath.Dir(root))
			catalog, rerr := os.ReadFile(filepath.Join(root, "cat", "catalog.json"))
			require.NoError(t, rerr)
			rep, err := sweepCatalog(t, root)
			if c.want == "corrupt" || strings.Contains(c.want, "entry id") {
				after, rerr := os.ReadFile(filepath.Join(root, "cat", "catalog.json"))
				require.NoError(t, rerr)
				require.Equal(t, string(catalog), string(after), "a catalog that does not parse is never overwritten")
			}
			require.Equal(t, before, filesOutsideCatalog(t, filepath.Dir(root)), "a file was moved or deleted (run error: %v)", err)
			for _, d := range rep.Decisions {
				// A decision to retire is allowed only as one the backend
				// refused: failed, the stage unchanged.
				if d.Action == lifecycle.ActionDisable || d.Action == lifecycle.ActionDeregister {
					require.Equal(t, "failed", d.Status, "%s was retired: %+v", d.ID, d)
					require.Equal(t, d.StageBefore, d.StageAfter, "%+v", d)
				}
			}
			said := strings.Join(append([]string{errString(err)}, reasons(rep)...), "\n")
			if c.want != "" {
				require.Contains(t, said, c.want)
			}
			t.Logf("%-40s %s", c.name, clipLine(said))
		})
	}
}

func reasons(rep report.Report) []string {
	var out []string
	for _, f := range rep.FailedRegions {
		out = append(out, "failed "+f.Region+": "+f.Error)
	}
	for _, d := range rep.Decisions {
		if d.Version != "1.1.0" {
			out = append(out, string(d.Action)+": "+d.Reason+" "+d.Error)
		}
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func clipLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

// awsCrafted is an emulator holding family web in us-east-1: 1.0.0,
// deprecated 60 days ago and due to be disabled, and 1.1.0, active; craft
// edits 1.0.0's tags or image first. It returns the emulator and 1.0.0's id.
func awsCrafted(t *testing.T, now time.Time, craft func(img *ec2emu.Image, tags map[string]string)) (*ec2emu.Server, string, string) {
	t.Helper()
	s := ec2emu.New(ec2emu.WithClock(ec2emu.NewFakeClock(now)))
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	long := now.Add(-60 * 24 * time.Hour)
	var old string
	for i, v := range []string{"1.0.0", "1.1.0"} {
		s.Update(func(st *ec2emu.State) {
			r := st.Region("us-east-1")
			created := long.Add(time.Duration(i) * time.Hour)
			snap := &ec2emu.Snapshot{ID: st.NewID("snap"), OwnerID: ec2emu.DefaultAccount, VolumeSize: 8, State: "completed", StartTime: created}
			r.Snapshots[snap.ID] = snap
			img := &ec2emu.Image{ID: st.NewID("ami"), Name: "web-" + v, OwnerID: ec2emu.DefaultAccount, State: "available", CreationDate: created,
				Architecture: "x86_64", VirtualizationType: "hvm", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs",
				BlockDevices: []ec2emu.BlockDevice{{DeviceName: "/dev/xvda", SnapshotID: snap.ID, VolumeSize: 8, VolumeType: "gp3", DeleteOnTermination: true}}}
			stage := "active"
			if v == "1.0.0" {
				stage = "deprecated"
				at := long.Truncate(time.Minute)
				img.DeprecationTime = &at
			}
			tags := map[string]string{
				lifecycle.TagFamily: "web", lifecycle.TagVersion: v, lifecycle.TagChannel: "stable",
				lifecycle.TagManagedBy: lifecycle.DefaultManagedBy, lifecycle.TagStage: stage,
				lifecycle.TagStageSince: long.Format(time.RFC3339), lifecycle.TagReleasedAt: created.Format(time.RFC3339),
			}
			if v == "1.0.0" {
				old = img.ID
				if craft != nil {
					craft(img, tags)
				}
			}
			r.Images[img.ID] = img
			r.Tags[img.ID] = tags
		})
	}
	return s, hs.URL, old
}

// awsSweep runs a sweep of family web through the real AWS backend
// against the emulator at url.
func awsSweep(t *testing.T, url string, now time.Time, extra map[string]interface{}) (report.Report, error) {
	t.Helper()
	for _, k := range []string{"AWS_ENDPOINT_URL_AUTO_SCALING", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_EC2"} {
		t.Setenv(k, url)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	raw := map[string]interface{}{"family": "web", "sweep": true, "backend": "aws", "region": "us-east-1",
		"custom_endpoint_ec2": url, "access_key": "AKIDCRAFTED", "secret_key": "crafted-secret",
		"keep_releases": 1, "min_age": "0s", "disable_after": "7d", "deregister_after": "7d"}
	for k, v := range extra {
		raw[k] = v
	}
	return realRun(t, raw, now, filepath.Join(t.TempDir(), "sweep.json"))
}

// mutatingCalls are the emulator calls that are not reads.
func mutatingCalls(s *ec2emu.Server) []string {
	var out []string
	for region, calls := range s.Snapshot() {
		for action := range calls {
			if !strings.HasPrefix(action, "Describe") && !strings.HasPrefix(action, "Get") && !strings.HasPrefix(action, "List") {
				out = append(out, region+" "+action)
			}
		}
	}
	return out
}

// TestCraftedTagsNeverRetire: AMI tags written by someone else (huge
// values, times that are not times, unknown stages, stages and times from
// the future, another tool's marker, another account's AMI shared with
// ours and tagged as ours) never lead to a retirement through the real AWS
// backend and the real run: no mutating EC2 call, and the report says why
// the image was skipped or kept (or never lists another account's AMI).
// The control case, untouched, is disabled.
func TestCraftedTagsNeverRetire(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	t.Run("control", func(t *testing.T) {
		s, url, old := awsCrafted(t, now, nil)
		rep, err := awsSweep(t, url, now, nil)
		require.NoError(t, err)
		require.Contains(t, mutatingCalls(s), "us-east-1 DisableImage")
		require.Equal(t, 1, rep.Summary.Actions[lifecycle.ActionDisable], "%+v", rep.Decisions)
		var st string
		s.Update(func(x *ec2emu.State) { st = x.Region("us-east-1").Images[old].State })
		require.Equal(t, "disabled", st)
	})
	huge := strings.Repeat("9", 256) // EC2's longest tag value
	cases := []struct {
		name  string
		craft func(img *ec2emu.Image, tags map[string]string)
		want  string // in the report's reason for 1.0.0; "" when it must not be listed
	}{
		{"huge version", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagVersion] = huge }, "version of 256 characters"},
		{"huge stage", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagStage] = huge }, "unknown stage"},
		{"huge stage-since", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagStageSince] = huge }, "unreadable metadata (lifecycle:stage-since"},
		{"stage-since not a time", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagStageSince] = "1700000000" }, "unreadable metadata (lifecycle:stage-since"},
		{"released-at not a time", func(_ *ec2emu.Image, tags map[string]string) {
			tags[lifecycle.TagReleasedAt], tags[lifecycle.TagStageSince] = "yesterday", "yesterday"
		}, "unreadable metadata (lifecycle:released-at"},
		{"expires-at a number", func(_ *ec2emu.Image, tags map[string]string) {
			tags[lifecycle.TagExpiresAt], tags[lifecycle.TagStageSince] = "42", ""
		}, "unreadable metadata (lifecycle:expires-at"},
		{"unknown stage", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagStage] = "retired" }, `unknown stage "retired"`},
		{"deregistered on an available image", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagStage] = "deregistered" }, "skipped"},
		{"stage-since in 2999", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagStageSince] = "2999-01-01T00:00:00Z" }, "in the future"},
		{"released in 2999", func(img *ec2emu.Image, tags map[string]string) {
			tags[lifecycle.TagReleasedAt], tags[lifecycle.TagStageSince] = "2999-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
		}, "future"},
		{"another tool's marker", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagManagedBy] = "terraform" }, "not managed"},
		{"pin not a bool", func(_ *ec2emu.Image, tags map[string]string) { tags[lifecycle.TagPin] = "maybe" }, "pinned"},
		{"another account's AMI shared with us, tagged as ours", func(img *ec2emu.Image, _ map[string]string) {
			img.OwnerID, img.LaunchUsers = "210987654321", []string{ec2emu.DefaultAccount}
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, url, old := awsCrafted(t, now, c.craft)
			rep, err := awsSweep(t, url, now, nil)
			require.NoError(t, err)
			require.Empty(t, mutatingCalls(s), "a crafted image led to a change")
			var reason string
			listed := false
			for _, d := range rep.Decisions {
				if d.ID == old {
					listed = true
					reason = string(d.Action) + ": " + d.Reason
					require.Contains(t, []lifecycle.Action{lifecycle.ActionSkip, lifecycle.ActionKeep}, d.Action, "%+v", d)
				}
			}
			if c.want == "" {
				require.False(t, listed, "another account's AMI is never listed")
			} else {
				require.True(t, listed, "the report names the crafted image: %+v", rep.Decisions)
				require.Contains(t, reason, c.want)
			}
			t.Logf("%-55s %s", c.name, clipLine(reason))
		})
	}
}
