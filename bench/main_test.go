//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/hermetic"
)

// The orchestrator (TestBenchmarks) runs every measured client in a child
// process of its own, the test binary re-executed with roleEnv set: the
// child's peak RSS is then the client's alone (the emulator lives in the
// parent), read from the kernel when the child exits.
const (
	roleEnv = "PLC_BENCH_ROLE"
	inEnv   = "PLC_BENCH_IN"
	outEnv  = "PLC_BENCH_OUT"
)

func TestMain(m *testing.M) {
	os.Exit(hermetic.Main(m, func(m *testing.M) int {
		if role := os.Getenv(roleEnv); role != "" {
			return child(role)
		}
		return m.Run()
	}))
}

// childOutput is what a child reports: the wall time of what it measures
// (set-up excluded) and the error that made it fail.
type childOutput struct {
	Wall time.Duration `json:"wall"`
	RSS  int64         `json:"rss"` // VmHWM at the end, KiB
	Err  string        `json:"err,omitempty"`
}

func child(role string) int {
	in, err := os.ReadFile(os.Getenv(inEnv))
	var out childOutput
	switch {
	case err != nil:
		out.Err = err.Error()
	case role == "post-processor":
		out = runPostProcessor(in)
	case role == "serial":
		out = runSerial(in)
	case role == "gcp-post-processor":
		out = runGCPPostProcessor(in)
	case role == "gcp-serial":
		out = runGCPSerial(in)
	case role == "azure-post-processor":
		out = runAzurePostProcessor(in)
	case role == "azure-serial":
		out = runAzureSerial(in)
	default:
		out.Err = "unknown role " + role
	}
	out.RSS = vmHWM(os.Getpid())
	b, _ := json.Marshal(out)
	if err := os.WriteFile(os.Getenv(outEnv), b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// usage is what a child process used. Its peak RSS is its own VmHWM, not
// getrusage's ru_maxrss: Go starts children with vfork, and Linux hands the
// parent's high-water mark down to the child at exec.
type usage struct {
	rss int64         // peak RSS, KiB
	cpu time.Duration // user + system
}

// selfCPU is this process's CPU time so far (the emulator's, in a run).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runChild runs role with in (as JSON) in a child process and returns what
// it reported and what it used.
func runChild(dir, role string, in any) (childOutput, usage, error) {
	var out childOutput
	b, err := json.Marshal(in)
	if err != nil {
		return out, usage{}, err
	}
	inFile, err := os.CreateTemp(dir, role+"-in-*.json")
	if err != nil {
		return out, usage{}, err
	}
	defer os.Remove(inFile.Name())
	if _, err := inFile.Write(b); err != nil {
		return out, usage{}, err
	}
	inFile.Close()
	outFile := inFile.Name() + ".out"
	defer os.Remove(outFile)
	self, err := os.Executable()
	if err != nil {
		return out, usage{}, err
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, inEnv+"="+inFile.Name(), outEnv+"="+outFile)
	combined, err := cmd.CombinedOutput()
	if err != nil {
		return out, usage{}, fmt.Errorf("%s child: %v\n%s", role, err, combined)
	}
	rss := usage{cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	res, err := os.ReadFile(outFile)
	if err != nil {
		return out, rss, fmt.Errorf("%s child: %v\n%s", role, err, combined)
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return out, rss, err
	}
	rss.rss = out.RSS
	if out.Err != "" {
		return out, rss, fmt.Errorf("%s child: %s", role, out.Err)
	}
	return out, rss, nil
}
