package backendtest

import "testing"

// The fake the shell's unit tests use keeps the same contract as the real
// backends.
func TestFakeConforms(t *testing.T) { Run(t, FakeHarness()) }
