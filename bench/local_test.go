//go:build bench

package bench

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// localResult is case 5, from the benchmarks the packages already have:
// backend/local's BenchmarkSweep (1,000 retirements through List, Usage,
// Plan and Apply) and lifecycle's BenchmarkPlan on 17 regions × 1,000
// releases (17,000 images), each run in a process of its own.
type localResult struct {
	sweep, planner measured
}

var nsPerOp = regexp.MustCompile(`\s(\d+(?:\.\d+)?) ns/op`)

func measureLocal(t *testing.T, dir string, runs int) localResult {
	bench := func(pkg, pattern string) measured {
		bin := filepath.Join(dir, filepath.Base(pkg)+".test")
		build := exec.Command("go", "test", "-c", "-o", bin, "./"+pkg)
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
		var ms []measured
		for range runs {
			cmd := exec.Command(bin, "-test.run=^$", "-test.bench="+pattern, "-test.benchtime=1x", "-test.count=1")
			cmd.Dir = filepath.Join("..", pkg)
			_, rss, text, err := runWatched(cmd, filepath.Base(bin))
			out := []byte(text)
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", pkg, pattern, err, out)
			}
			m := nsPerOp.FindSubmatch(out)
			if m == nil {
				t.Fatalf("%s %s: no ns/op in\n%s", pkg, pattern, out)
			}
			ns, _ := strconv.ParseFloat(string(m[1]), 64)
			ms = append(ms, measured{Wall: time.Duration(ns), RSS: rss, CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()})
		}
		best := fastest(ms)
		t.Logf("%s %s: %s, RSS %d KiB", pkg, pattern, best.Wall, best.RSS)
		return best
	}
	return localResult{
		sweep:   bench("backend/local", "^BenchmarkSweep$"),
		planner: bench("lifecycle", fmt.Sprintf("^BenchmarkPlan$/^releases=%d/regions=17$", 1000)),
	}
}
