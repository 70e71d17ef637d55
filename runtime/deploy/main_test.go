package deploy_test

import (
	"os"
	"testing"

	"github.com/dialua/dialua/runtime/sandbox"
)

// Engines refuse to start before gopher-lua's process-wide array limit is
// set, as cmd/dialua's main sets it.
func TestMain(m *testing.M) {
	sandbox.LimitArrays()
	os.Exit(m.Run())
}
