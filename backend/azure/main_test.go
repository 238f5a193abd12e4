package azure

import (
	"os"
	"testing"

	"github.com/packer-lifecycle/packer-plugin-lifecycle/internal/hermetic"
)

// TestMain runs the package's tests in a loopback-only network namespace:
// they build ARM and Entra ID clients, and one that missed its endpoint
// must fail here, not reach a real cloud.
func TestMain(m *testing.M) { os.Exit(hermetic.Main(m, nil)) }
