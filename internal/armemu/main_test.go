package armemu_test

import (
	"os"
	"testing"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/hermetic"
)

// TestMain runs the tests in a loopback-only network namespace: a client that
// missed the emulator (MSAL's login.microsoftonline.com, say) must fail here, not
// reach Azure.
func TestMain(m *testing.M) { os.Exit(hermetic.Main(m, nil)) }
