// Package e2e drives the plugin through the real Packer: it builds the plugin
// once, installs it with `packer plugins install --path` into a temporary
// PACKER_PLUGIN_PATH, and runs `packer` inside a loopback-only network
// namespace (see internal/hermetic).
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/hermetic"
)

// The plugin's install address as users type it in required_plugins.
const pluginSource = "github.com/packer-lifecycle/lifecycle"

var (
	toolsDir     string // packer, packer-plugin-amazon (tools/go.mod), packer-plugin-googlecompute (tools/gcp/go.mod), packer-plugin-azure (tools/azure/go.mod)
	pluginPath   string // PACKER_PLUGIN_PATH with our plugin, amazon, googlecompute and azure installed
	pluginBinary string // the plugin built for this run
	repoRoot     string
)

func TestMain(m *testing.M) { os.Exit(hermetic.Main(m, setup)) }

func setup(m *testing.M) int {
	var err error
	if repoRoot, err = filepath.Abs(".."); err != nil {
		return fail(err)
	}
	toolsDir = os.Getenv("PACKER_LIFECYCLE_TOOLS")
	if toolsDir == "" {
		home, _ := os.UserHomeDir()
		toolsDir = filepath.Join(home, ".cache", "packer-plugin-lifecycle", "tools")
	}
	for _, tool := range []string{"packer", "packer-plugin-amazon", "packer-plugin-googlecompute", "packer-plugin-azure"} {
		if _, err := os.Stat(filepath.Join(toolsDir, tool)); err != nil {
			return fail(fmt.Errorf("%s not found in %s: run `make tools` (or `make test`)", tool, toolsDir))
		}
	}
	tmp, err := os.MkdirTemp("", "plc-e2e-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	pluginPath = filepath.Join(tmp, "plugins")
	bin := filepath.Join(tmp, "packer-plugin-lifecycle")
	pluginBinary = bin
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("building the plugin: %v\n%s", err, out))
	}
	for src, path := range map[string]string{
		pluginSource:                         bin,
		"github.com/hashicorp/amazon":        filepath.Join(toolsDir, "packer-plugin-amazon"),
		"github.com/hashicorp/googlecompute": filepath.Join(toolsDir, "packer-plugin-googlecompute"),
		"github.com/hashicorp/azure":         filepath.Join(toolsDir, "packer-plugin-azure"),
	} {
		if res := packer(tmp, "plugins", "install", "--path", path, src); res.code != 0 {
			return fail(fmt.Errorf("installing %s: %s", src, res))
		}
	}
	return m.Run()
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "e2e setup:", err)
	return 1
}

// result is what one packer run printed.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\n--- stdout\n%s--- stderr\n%s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// packer runs the real Packer in dir with the test plugin path; extra env
// entries (K=V) come last so they win.
func packer(dir string, args ...string) result { return packerEnv(dir, nil, args...) }

func packerEnv(dir string, env []string, args ...string) result {
	cmd := exec.Command(filepath.Join(toolsDir, "packer"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PACKER_PLUGIN_PATH="+pluginPath,
		"PACKER_CONFIG_DIR="+filepath.Join(dir, ".packer.d"),
		"PACKER_CACHE_DIR="+filepath.Join(dir, "packer_cache"),
		"CHECKPOINT_DISABLE=1",
		"PACKER_NO_COLOR=1",
	)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if err != nil {
		r.code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
	}
	return r
}

// template writes a template into a fresh directory and returns the directory.
func template(t *testing.T, name, body string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	return dir
}

// requireLifecycle is the packer block users write to require the plugin.
const requireLifecycle = `
packer {
  required_plugins {
    lifecycle = {
      source  = "github.com/packer-lifecycle/lifecycle"
      version = ">= 0.1.0"
    }
  }
}
`

func mustSucceed(t *testing.T, r result) {
	t.Helper()
	require.Zero(t, r.code, "packer failed: %s", r)
}

// mustContain checks for each needle with white space folded, because Packer
// wraps long diagnostics, and says whether all were there.
func mustContain(t *testing.T, haystack string, needles ...string) bool {
	t.Helper()
	folded := strings.Join(strings.Fields(haystack), " ")
	ok := true
	for _, n := range needles {
		ok = assert.True(t, strings.Contains(folded, strings.Join(strings.Fields(n), " ")), "output lacks %q:\n%s", n, haystack) && ok
	}
	return ok
}
