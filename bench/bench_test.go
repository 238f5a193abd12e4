//go:build bench

package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// settings are the knobs of a `make bench` run (environment variables).
type settings struct {
	scale float64  // PLC_BENCH_SCALE: time compression of cases 2 and 3
	runs  int      // PLC_BENCH_RUNS: runs per figure, the fastest reported
	cases []string // PLC_BENCH_CASES: which cases (1,2,4,5,gcp,azure,size), all by default
	out   string   // PLC_BENCH_OUT: where BENCHMARKS.md goes
}

func loadSettings() settings {
	s := settings{scale: 25, runs: 3, cases: []string{"1", "2", "4", "5", "gcp", "azure", "size"}, out: filepath.Join("..", "BENCHMARKS.md")}
	if v, err := strconv.ParseFloat(os.Getenv("PLC_BENCH_SCALE"), 64); err == nil && v >= 1 {
		s.scale = v
	}
	if v, err := strconv.Atoi(os.Getenv("PLC_BENCH_RUNS")); err == nil && v >= 1 {
		s.runs = v
	}
	if v := os.Getenv("PLC_BENCH_CASES"); v != "" {
		s.cases = strings.Split(v, ",")
	}
	if v := os.Getenv("PLC_BENCH_OUT"); v != "" {
		s.out = v
	}
	return s
}

func (s settings) want(c string) bool { return slices.Contains(s.cases, c) }

// TestBenchmarks is `make bench`: every case, then BENCHMARKS.md.
func TestBenchmarks(t *testing.T) {
	set := loadSettings()
	start := time.Now()
	doc := &report{set: set, machine: describeMachine()}
	sw, stop := newSwitchable()
	defer stop()
	r := &runner{t: t, sw: sw, dir: t.TempDir()}
	if set.want("size") || set.want("4") {
		doc.size = measureSizes(t, r.dir)
	}
	if set.want("1") {
		c := r.case1(set.runs)
		doc.case1 = &c
	}
	if set.want("2") {
		doc.sweep = r.sweep(set.scale, set.runs)
	}
	if set.want("4") {
		c := r.dataSource(set.runs, doc.size.plugin)
		doc.ds = &c
	}
	if set.want("5") {
		c := measureLocal(t, r.dir, set.runs)
		doc.local = &c
	}
	if set.want("gcp") {
		gsw, gstop := newGCESwitch()
		doc.gcp = (&gcpRunner{t: t, sw: gsw, dir: r.dir}).sweep(set.runs)
		gstop()
	}
	if set.want("azure") {
		doc.azure = (&azRunner{t: t, dir: r.dir}).sweep(set.runs)
	}
	doc.took = time.Since(start)
	doc.loadEnd = loadAverage()
	if err := os.WriteFile(set.out, []byte(doc.markdown()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s after %s", set.out, doc.took.Round(time.Second))
}
