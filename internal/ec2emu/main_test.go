package ec2emu

import (
	"os"
	"testing"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/hermetic"
)

// TestMain runs the package's tests inside a loopback-only network namespace with dummy
// AWS credentials: the awscli contract tests start the real `aws`, and nothing here may
// reach a real endpoint by accident.
func TestMain(m *testing.M) { os.Exit(hermetic.Main(m, nil)) }
