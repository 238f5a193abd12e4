//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/ec2emu"
	"github.com/packer-lifecycle/packer-plugin-lifecycle/lifecycle"
)

const module = "github.com/packer-lifecycle/packer-plugin-lifecycle"

func toolsDir() string {
	if d := os.Getenv("PACKER_LIFECYCLE_TOOLS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "packer-plugin-lifecycle", "tools")
}

// sizes are the plugin as goreleaser ships it (CGO off, -trimpath, -s -w)
// and the amazon plugin 1.8.0 as tools/ builds it, unstripped and
// stripped alike.
type sizes struct {
	plugin                      string // path of the shipped-form binary
	pluginBytes                 int64
	amazonBytes, amazonStripped int64
}

func measureSizes(t *testing.T, dir string) sizes {
	bin := filepath.Join(dir, "packer-plugin-lifecycle")
	build := exec.Command("go", "build", "-trimpath", "-ldflags",
		"-s -w -X "+module+"/version.Version=0.1.0 -X "+module+"/version.VersionPrerelease=", "-o", bin, ".")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	amazon := filepath.Join(toolsDir(), "packer-plugin-amazon")
	stripped := filepath.Join(dir, "packer-plugin-amazon.stripped")
	if out, err := exec.Command("strip", "-o", stripped, amazon).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, out)
	}
	return sizes{plugin: bin, pluginBytes: fileSize(t, bin), amazonBytes: fileSize(t, amazon), amazonStripped: fileSize(t, stripped)}
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// ---- Case 4: the data source against amazon-ami, both through the real Packer.

const dsImages = 2000

// dsTemplate is a null build that echoes what expr chose, with plugin
// required and data declared.
func dsTemplate(plugin, data, expr string) string {
	return fmt.Sprintf(`packer {
  required_plugins {
%s  }
}
variable "endpoint" {
  type = string
}
source "null" "n" {
  communicator = "none"
}
%s
build {
  sources = ["source.null.n"]
  post-processor "shell-local" {
    inline = ["echo CHOSEN=%s"]
  }
}
`, plugin, data, expr)
}

var dsTemplates = map[string]string{
	// Packer, a null build and shell-local alone: what the other two pay besides their data source.
	"none": dsTemplate("", "", "none"),
	"lifecycle-image": dsTemplate(`    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
`, `data "lifecycle-image" "base" {
  family              = "base"
  owners              = ["self"]
  region              = "us-east-1"
  custom_endpoint_ec2 = var.endpoint
}`, "${data.lifecycle-image.base.id}"),
	"amazon-ami": dsTemplate(`    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "= 1.8.0"
    }
`, `data "amazon-ami" "base" {
  region                     = "us-east-1"
  custom_endpoint_ec2        = var.endpoint
  skip_credential_validation = true
  skip_metadata_api_check    = true
  filters = {
    "tag:lifecycle:family" = "base"
  }
  owners      = ["self"]
  most_recent = true
}`, "${data.amazon-ami.base.id}"),
}

var dsVariants = []string{"none", "lifecycle-image", "amazon-ami"}

// dsPlugin is the plugin whose peak RSS counts for a variant (Packer also
// starts every installed plugin briefly to describe it).
var dsPlugin = map[string]string{"lifecycle-image": "packer-plugin-lifecycle", "amazon-ami": "packer-plugin-amazon"}

type dsResult struct {
	runs   map[string]measured // fastest per variant
	limits ec2emu.RateLimits
}

func (r *runner) dataSource(runs int, plugin string) dsResult {
	t := r.t
	env := []string{"PACKER_PLUGIN_PATH=" + filepath.Join(r.dir, "plugins"), "PACKER_CONFIG_DIR=" + filepath.Join(r.dir, "packer.d"),
		"PACKER_CACHE_DIR=" + filepath.Join(r.dir, "packer_cache"), "CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1"}
	for src, bin := range map[string]string{"github.com/packer-lifecycle/lifecycle": plugin, "github.com/hashicorp/amazon": filepath.Join(toolsDir(), "packer-plugin-amazon")} {
		if out, err := packerCmd(r.dir, env, "plugins", "install", "--path", bin, src).CombinedOutput(); err != nil {
			t.Fatalf("installing %s: %v\n%s", src, err, out)
		}
	}
	s, l := r.sw.fresh(1)
	now := time.Now().UTC()
	rels := make([]ami, dsImages)
	for i := range rels {
		built := now.Add(time.Duration(i-dsImages) * time.Hour).Truncate(time.Second)
		rels[i] = ami{family: "base", version: fmt.Sprintf("1.0.%d", i), built: built, since: built, stage: lifecycle.StageActive}
	}
	ids := seed(s, "us-east-1", rels)
	newest := ids[len(ids)-1]
	all := map[string][]measured{}
	for range runs {
		for _, v := range dsVariants {
			dir := filepath.Join(r.dir, "ds-"+v)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(dsTemplates[v]), 0o644); err != nil {
				t.Fatal(err)
			}
			s.SetRateLimits(&l)
			s.ResetCounters()
			cmd := packerCmd(dir, env, "build", "-color=false", "-var", "endpoint="+r.sw.url, ".")
			wall, rss, out, err := runWatched(cmd, dsPlugin[v])
			if err != nil {
				t.Fatalf("packer build (%s): %v\n%s", v, err, out)
			}
			want := "CHOSEN=" + newest
			if v == "none" {
				want = "CHOSEN=none"
			}
			if !strings.Contains(out, want) {
				t.Fatalf("packer build (%s) chose something else than %s:\n%s", v, newest, out)
			}
			all[v] = append(all[v], collect(s, wall, usage{rss: rss}))
		}
	}
	res := dsResult{runs: map[string]measured{}, limits: l}
	for v, ms := range all {
		res.runs[v] = fastest(ms)
		t.Logf("data source %s: %s, %d calls, plugin RSS %d KiB", v, res.runs[v].Wall, res.runs[v].total(), res.runs[v].RSS)
	}
	return res
}

func packerCmd(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(toolsDir(), "packer"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// runWatched runs cmd and returns its wall time and the peak RSS (KiB,
// VmHWM read from /proc every 5 ms) of the processes whose executable's
// name starts with exe: cmd itself or its descendants (Packer's plugins).
func runWatched(cmd *exec.Cmd, exe string) (time.Duration, int64, string, error) {
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, "", err
	}
	done := make(chan struct{})
	var mu sync.Mutex
	var peak int64
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, pid := range append(descendants(cmd.Process.Pid), cmd.Process.Pid) {
				path, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
				if exe == "" || !strings.HasPrefix(filepath.Base(path), exe) {
					continue
				}
				if hwm := vmHWM(pid); hwm > 0 {
					mu.Lock()
					peak = max(peak, hwm)
					mu.Unlock()
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	mu.Lock()
	defer mu.Unlock()
	return wall, peak, buf.String(), err
}

// descendants are pid's children, theirs and so on: Packer re-executes
// itself (panicwrap), so its plugins are grandchildren.
func descendants(pid int) []int {
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", queue[0]))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, s := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(s); err == nil {
					out = append(out, n)
					queue = append(queue, n)
				}
			}
		}
	}
	return out
}

func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
