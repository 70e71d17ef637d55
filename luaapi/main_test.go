package luaapi_test

import (
	"os"
	"testing"

	"github.com/dialua/dialua/runtime/sandbox"
)

// The engine refuses to start before the program has set gopher-lua's
// process-wide array limit, as cmd/dialua's main does. Set here, before any
// test, so that testkit.NewEngine finds it set and VMs never see it change.
func TestMain(m *testing.M) {
	sandbox.LimitArrays()
	os.Exit(m.Run())
}
