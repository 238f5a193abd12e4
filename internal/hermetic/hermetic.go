// Package hermetic keeps tests that start Packer, awscli or SDK clients off
// the network: they run inside a loopback-only network namespace, with dummy
// static credentials, so an endpoint we forgot to redirect fails loudly
// instead of reaching a real cloud.
package hermetic

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

// reexecMarker is set on the re-executed test binary, so a namespace that did
// not come out isolated fails instead of looping.
const reexecMarker = "PACKER_LIFECYCLE_HERMETIC"

// Isolated reports whether every network interface the process can see is a
// loopback one.
func Isolated() (bool, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return false, err
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback == 0 {
			return false, nil
		}
	}
	return true, nil
}

// Main is a TestMain body: when the process is isolated it sets dummy AWS
// credentials and calls run (m.Run when run is nil); otherwise it re-executes
// the test binary inside `unshare -n` with the loopback interface up. It never
// runs the tests on a real network.
func Main(m *testing.M, run func(*testing.M) int) int {
	ok, err := Isolated()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hermetic:", err)
		return 1
	}
	if ok {
		setDummyAWSEnv()
		if run == nil {
			return m.Run()
		}
		return run(m)
	}
	if os.Getenv(reexecMarker) != "" {
		fmt.Fprintln(os.Stderr, "hermetic: still not isolated inside the new network namespace")
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hermetic:", err)
		return 1
	}
	ns := []string{"--net"}
	if os.Geteuid() != 0 {
		// An ordinary user gets the network namespace inside a user
		// namespace of its own, where it may bring lo up.
		ns = append(ns, "--map-root-user")
	}
	args := append(append(ns, "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, self), os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), reexecMarker+"=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "hermetic: cannot enter a loopback-only network namespace (needs unshare and ip, and root or user namespaces): %v\n", err)
		return 1
	}
	return 0
}

// setDummyAWSEnv makes every AWS client in this process and its children use
// static dummy credentials and never read a user's profile or the instance
// metadata service.
func setDummyAWSEnv() {
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDLIFECYCLETEST",
		"AWS_SECRET_ACCESS_KEY":       "dummy-secret",
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "us-east-1",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"CHECKPOINT_DISABLE":          "1", // Packer's version check phones home
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"} {
		os.Unsetenv(k)
	}
}
