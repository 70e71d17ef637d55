package luar_test

import (
	"os"
	"testing"

	"github.com/dialua/dialua/runtime/sandbox"
)

// Engines refuse to start before the program has set gopher-lua's
// process-wide array limit, as cmd/dialua's main does.
func TestMain(m *testing.M) {
	sandbox.LimitArrays()
	os.Exit(m.Run())
}
