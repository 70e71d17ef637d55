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

// Worker is what a run's context may implement to hear of work done outside
// Lua instructions: Work(n) says a library function built n bytes. The
// engine counts it toward the periodic checks it makes every few thousand
// instructions (CPU share, memory held), since one string.rep can build
// megabytes in a single instruction.
type Worker interface{ Work(bytes int) }

// made reports a string of n bytes just built to the run's context.
func (vm *VM) made(L *lua.LState, n int) {
	if w, ok := L.Context().(Worker); ok {
		w.Work(n)
	}
}
