package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/clock"
)

// TestHostileInputIsRefusedAtValidate: every bad value a hostile or
// careless user may write is refused by Configure (what `packer validate`
// runs), with the field named, before anything is touched. Run with -v to
// print the table (the issue notes list it).
func TestHostileInputIsRefusedAtValidate(t *testing.T) {
	root := t.TempDir()
	cat := filepath.Join(root, "cat")
	require.NoError(t, os.MkdirAll(filepath.Join(cat, "reports"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cat, "catalog.json"), []byte(`{"schema":1,"entries":[]}`), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(cat, "catalog.json"), filepath.Join(root, "link.json")))
	require.NoError(t, os.Symlink(cat, filepath.Join(root, "catlink")))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "dir.json"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "afile"), nil, 0o644))
	long := func(n int) string { return strings.Repeat("x", n) }
	base := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"family": "web", "version": "1.0.0", "catalog_dir": cat}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	cp := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"name": "rc"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return base("channel_policy", []map[string]interface{}{m})
	}
	cases := []struct {
		what string
		raw  map[string]interface{}
		want string
	}{
		{"nothing set", map[string]interface{}{}, "family: must be set"},
		{"empty family", base("family", ""), "family: must be set"},
		{"no version", base("version", ""), "version: must be set"},
		{"family too long", base("family", long(101)), "family: at most 100 characters, got 101"},
		{"version too long", base("version", long(65)), "version: at most 64 characters, got 65"},
		{"channel too long", base("channel", long(65)), "channel: at most 64 characters, got 65"},
		{"parent too long", base("parent", long(257)), "parent: at most 256 characters, got 257"},
		{"newline in family", base("family", "web\nrm -rf"), "family: \"web\\nrm -rf\" contains a control character"},
		{"tab in version", base("version", "1.0\t"), "version: \"1.0\\t\" contains a control character"},
		{"escape in channel", base("channel", "\x1b[31mred"), "channel: \"\\x1b[31mred\" contains a control character"},
		{"nul in parent", base("parent", "a\x00b"), "parent: \"a\\x00b\" contains a control character"},
		{"keep 0", base("keep_releases", 0), "keep_releases: must be at least 1"},
		{"keep negative", base("keep_releases", -3), "keep_releases: must be at least 1 (the newest release is always kept), got -3"},
		{"min_age words", base("min_age", "a week"), `min_age: invalid duration "a week"`},
		{"min_age negative", base("min_age", "-1d"), "min_age:"},
		{"expire_after forever", base("expire_after", "forever"), "expire_after: invalid duration"},
		{"deprecate_after years", base("deprecate_after", "1y"), "deprecate_after: invalid duration"},
		{"disable_after beyond 100 years", base("disable_after", "99999999d"), "disable_after:"},
		{"deregister_after garbage", base("deregister_after", "1.5.d"), "deregister_after: invalid duration"},
		{"backend unknown", base("backend", "gce"), `backend: "gce" is not one of auto, local, aws, gcp`},
		{"backend wrong case", base("backend", "LOCAL"), `backend: "LOCAL" is not one of auto, local, aws`},
		{"aws release too long to publish", base("backend", "aws", "family", long(100), "version", long(64), "channel", long(64)),
			"family, version, channel, managed_by: together too long to publish in an AMI description"},
		{"managed_by too long", base("managed_by", long(257)), "managed_by: at most 256 characters, got 257"},
		{"managed_by control", base("managed_by", "team\r"), "managed_by: \"team\\r\" contains a control character"},
		{"catalog_dir at the root", base("catalog_dir", "/cat"), "catalog_dir: \"/cat\" would make /, the whole file system, the artifact root"},
		{"catalog_dir is a file", base("catalog_dir", filepath.Join(root, "afile")), "catalog_dir: \"" + filepath.Join(root, "afile") + "\" exists and is not a directory"},
		{"null builder without sweep", base("packer_builder_type", "null"), "sweep: the null builder produces no image to record"},
		{"pin with sweep", base("sweep", true, "pin", true), "pin: pins the new build, but sweep = true records none"},
		{"restore without sweep", base("restore", []string{"x"}), "restore: needs sweep = true"},
		{"restore empty id", base("sweep", true, "restore", []string{" "}), `restore[0]: must be a release id (or region:id), got " "`},
		{"report not json", base("report_path", "r.txt"), `report_path: "r.txt" should end in .json`},
		{"report is the catalog", base("report_path", filepath.Join(cat, "catalog.json")), "report_path: \"" + filepath.Join(cat, "catalog.json") + "\" lies inside catalog_dir"},
		{"report inside the catalog dir", base("report_path", filepath.Join(cat, "r.json")), "lies inside catalog_dir"},
		{"report in the quarantine", base("report_path", filepath.Join(cat, "quarantine", "x", "r.json")), "lies inside catalog_dir"},
		{"report via ..", base("report_path", cat+"/reports/../catalog.json.bak.json"), "lies inside catalog_dir"},
		{"report via a symlinked dir", base("report_path", filepath.Join(root, "catlink", "x.json")), "lies inside catalog_dir"},
		{"report is a symlink", base("report_path", filepath.Join(root, "link.json")), "is a symlink; name the file itself"},
		{"report is a directory", base("report_path", filepath.Join(root, "dir.json")), "exists and is not a regular file"},
		{"channel_policy without name", cp("name", ""), "channel_policy[0].name: must be set"},
		{"channel_policy name too long", cp("name", long(65)), "channel_policy[0].name: at most 64 characters"},
		{"channel_policy keep 0", cp("keep_releases", 0), "channel_policy[0].keep_releases: must be at least 1, got 0"},
		{"channel_policy never and expire", cp("never_expire", true, "expire_after", "1d"), "channel_policy[0]: never_expire and expire_after contradict"},
		{"channel_policy bad min_age", cp("min_age", "soon"), "channel_policy[0].min_age: invalid duration"},
		{"channel_policy bad expire_after", cp("expire_after", "-2d"), "channel_policy[0].expire_after:"},
		{"channel_policy bad deprecate_after", cp("deprecate_after", "x"), "channel_policy[0].deprecate_after: invalid duration"},
		{"channel_policy bad disable_after", cp("disable_after", "x"), "channel_policy[0].disable_after: invalid duration"},
		{"channel_policy bad deregister_after", cp("deregister_after", "x"), "channel_policy[0].deregister_after: invalid duration"},
		{"channel_policy twice", base("channel_policy", []map[string]interface{}{{"name": "rc"}, {"name": "rc"}}), `channel_policy[1].name: channel "rc" has more than one channel_policy`},
		{"unknown option", base("keep_forever", true), "keep_forever"},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			before := snapshotDir(t, root)
			var p PostProcessor
			err := p.Configure(c.raw)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
			require.Equal(t, before, snapshotDir(t, root), "Configure touched the file system")
			t.Logf("%-36s %s", c.what, firstLine(err.Error(), c.want))
		})
	}

	// The rehearsal clock is checked at validate too.
	t.Run("PACKER_LIFECYCLE_NOW garbage", func(t *testing.T) {
		t.Setenv(clock.Env, "next tuesday")
		var p PostProcessor
		err := p.Configure(base())
		require.ErrorContains(t, err, `PACKER_LIFECYCLE_NOW: "next tuesday" is not an RFC 3339 time`)
	})
}

// A stray PACKER_LIFECYCLE_NOW in CI must never time-travel a run that
// retires images: it is honoured only in a dry run or when the template
// says allow_simulated_time, and refused at validate otherwise.
func TestSimulatedTimeOnlyInADryRunOrWhenAllowed(t *testing.T) {
	withOpt := func(k string) map[string]interface{} {
		raw := map[string]interface{}{"family": "web", "version": "1", "catalog_dir": t.TempDir()}
		if k != "" {
			raw[k] = true
		}
		return raw
	}
	t.Setenv(clock.Env, "2030-01-01T00:00:00Z")
	var p PostProcessor
	err := p.Configure(withOpt(""))
	require.ErrorContains(t, err, "allow_simulated_time: PACKER_LIFECYCLE_NOW is set (2030-01-01T00:00:00Z) and this run changes images")
	for _, k := range []string{"dry_run", "allow_simulated_time"} {
		var p PostProcessor
		require.NoError(t, p.Configure(withOpt(k)), k)
	}
	t.Setenv(clock.Env, "")
	require.NoError(t, (&PostProcessor{}).Configure(withOpt("")), "the wall clock needs no flag")
}

func firstLine(msg, want string) string {
	for _, l := range strings.Split(msg, "\n") {
		if strings.Contains(l, want) {
			return strings.TrimSpace(l)
		}
	}
	return msg
}

func snapshotDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p+" "+fi.Mode().String()+" "+fi.ModTime().String())
		return nil
	}))
	return out
}
