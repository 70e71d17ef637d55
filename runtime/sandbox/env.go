package sandbox

import lua "github.com/yuin/gopher-lua"

// A run's globals table is empty but for _G and reads through to Globals.
// Making one costs about six allocations (the table, its maps, the boxed
// key), a tenth of a typical run, so a VM keeps the last run's table for the
// next one when that run never stored into it, which is the common case
// for scripts that keep to locals. A table any run wrote to is dropped, never
// emptied and reused: gopher-lua tables never shrink (a deleted key stays in
// their key list), so a reused table could grow without bound across runs.
//
// Every way a script stores into a table it holds goes through one of:
// assignment to a key the table lacks (the metatable's __newindex,
// envNewIndex), assignment to a key it has (only _G: checked by DoneEnv),
// rawset, table.insert, table.remove and table.sort (noteWrite). DoneEnv
// checks the table's contents as well, so a Go function that wrote into it
// directly does not make it the next run's either.

// NewEnv returns the globals table for one run: empty, reading through to
// Globals, with _G naming itself. Whatever the run stores in it dies with it.
func (vm *VM) NewEnv() *lua.LTable { return vm.NewEnvFor("") }

// NewEnvFor is NewEnv for a run on behalf of owner (a tenant): a table is
// reused only by runs of the owner whose run left it. A reused table keeps
// its address; tostring(_G) does not show it (envString), and keeping reuse
// within one tenant means no other way of seeing it could tell a tenant
// anything about another's runs either.
func (vm *VM) NewEnvFor(owner string) *lua.LTable {
	vm.envWrote, vm.envOwner = false, owner
	env := vm.spareEnv
	vm.spareEnv = nil
	if env != nil && vm.spareOwner == owner {
		return env
	}
	env = vm.L.CreateTable(0, 1)
	env.Metatable = vm.envMeta
	env.RawSetString("_G", env)
	return env
}

// DoneEnv takes back a run's globals table when the run is over; a table
// the run left exactly as NewEnv made it serves the next run.
func (vm *VM) DoneEnv(env *lua.LTable) {
	if env == nil || vm.envWrote || env.Metatable != vm.envMeta {
		return
	}
	k, v := env.Next(lua.LNil)
	if k != lua.LString("_G") || v != env {
		return
	}
	if k, _ = env.Next(k); k != lua.LNil {
		return
	}
	vm.spareEnv, vm.spareOwner = env, vm.envOwner
}

// envString is tostring(_G): a name, not the table's address, which would
// show whether the table is one a VM kept (and so whether other runs came
// between two of a tenant's).
func envString(L *lua.LState) int {
	L.Push(lua.LString("table: globals"))
	return 1
}

// envNewIndex stores a new global: the assignment Lua would do, noted.
func (vm *VM) envNewIndex(L *lua.LState) int {
	vm.envWrote = true
	L.RawSet(L.CheckTable(1), L.Get(2), L.Get(3))
	return 0
}

// noteWrite is called by every library function that writes a table raw,
// after the read-only check.
func (vm *VM) noteWrite(t *lua.LTable) {
	if vm.isEnv(t) {
		vm.envWrote = true
	}
}
