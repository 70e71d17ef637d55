package sandbox

import lua "github.com/yuin/gopher-lua"

// tickEvery is how many steps a Go-side loop takes between deadline checks:
// often enough that a run stops within microseconds of its deadline, rare
// enough that the check costs nothing measurable.
const tickEvery = 1024

// checkDeadline raises a Lua error when the run's context is done. gopher-lua
// checks the context between instructions only; every library function that
// can loop for long calls this so a single call cannot outlive the deadline.
func checkDeadline(L *lua.LState) {
	ctx := L.Context()
	if ctx == nil {
		return
	}
	select {
	case <-ctx.Done():
		L.RaiseError("%s", ctx.Err())
	default:
	}
}

// checkLen raises "string too long" when n bytes would exceed the limit.
func (vm *VM) checkLen(L *lua.LState, n int) {
	if n > vm.limits.MaxStringBytes || n < 0 {
		L.RaiseError("string too long: %d bytes is over the limit of %d", n, vm.limits.MaxStringBytes)
	}
}
