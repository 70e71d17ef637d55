// Package sandbox builds the Lua states dialua runs other people's scripts in.
//
// A VM is a gopher-lua state opened with no standard libraries, then given an
// allowlist: the safe base functions, string, table, math and a clock-only os.
// Every library table a script can reach is a read-only proxy, the string
// metatable is locked, and each run gets a fresh globals table whose reads
// fall through to the VM's globals, so nothing one run does is seen by the
// next. Every library function that can loop or allocate in Go checks the
// run's deadline and the string-size limit itself, because gopher-lua only
// checks the context between Lua instructions.
package sandbox

import (
	"errors"
	"math/rand/v2"

	lua "github.com/yuin/gopher-lua"
)

// Limits bound what one run can take from its VM.
type Limits struct {
	// MaxStringBytes caps every string a library function or the ..
	// operator builds. Default 4 MiB.
	MaxStringBytes int
	// CallStackSize caps Lua call depth (recursion). Default 200.
	CallStackSize int
	// RegistryMaxSize caps the value stack, in slots. Default 256 Ki.
	RegistryMaxSize int
}

// DefaultMaxStringBytes is Limits.MaxStringBytes when not set.
const DefaultMaxStringBytes = 4 << 20

// WithDefaults fills in the limits left zero.
func (l Limits) WithDefaults() Limits {
	if l.MaxStringBytes <= 0 {
		l.MaxStringBytes = DefaultMaxStringBytes
	}
	if l.CallStackSize <= 0 {
		l.CallStackSize = 200
	}
	if l.RegistryMaxSize <= 0 {
		l.RegistryMaxSize = 256 << 10
	}
	return l
}

// VM is one sandboxed Lua state. It is not safe for concurrent use: a pool
// hands it to one run at a time.
type VM struct {
	L *lua.LState

	// Globals is what every run's globals table falls through to. Fill it
	// with Set before the first run; scripts can read it but never write it.
	Globals *lua.LTable

	// Print receives what the script passes to print(), tab-separated.
	Print func(msg string)

	// OnIterate, when set, sees every table a script passes to pairs(), next()
	// or table.foreach before iteration starts, so a table that fills itself
	// lazily can complete itself first.
	OnIterate func(t *lua.LTable)

	limits     Limits
	nextFn     *lua.LFunction // what pairs returns for a table
	ipairsFn   *lua.LFunction // what ipairs returns
	lenFn      *lua.LFunction // __len of frozen data proxies (data.go)
	envMeta    *lua.LTable
	roMeta     map[*lua.LTable]struct{} // proxies scripts must not write
	spareEnv   *lua.LTable              // a finished run's globals, untouched: the next run's (env.go)
	spareOwner string                   // whose run left spareEnv
	envOwner   string                   // whose run the current globals are
	envWrote   bool                     // the current run stored into its globals (env.go)
	rng        *rand.Rand               // set by math.randomseed, for this run only
}

// MaxArrayIndex is the largest index gopher-lua keeps in a table's array part.
// Its default (64 Mi) lets one assignment, t[67108863] = true, append that
// many nils in a single uninterruptible instruction: seconds of CPU and
// gigabytes. With 1 Mi the worst single assignment costs milliseconds;
// larger indexes go to the hash part, where # and ipairs do not reach, so a
// sequence longer than 1,048,575 elements is not one to Lua here
// (docs/lua-api.md says so).
//
// gopher-lua keeps this limit in a package variable, shared by every Lua
// state in the process, so the sandbox does not set it behind the program's
// back: the program calls LimitArrays once (cmd/dialua does, in main), and
// the engine refuses to start until it has (ArraysLimited).
const MaxArrayIndex = 1 << 20

// LimitArrays sets gopher-lua's process-wide array limit to MaxArrayIndex.
// Call it from main, before any Lua state of the process runs.
func LimitArrays() { lua.MaxArrayIndex = MaxArrayIndex }

// ArraysLimited reports whether LimitArrays (or an even lower setting) is in
// effect.
func ArraysLimited() bool { return lua.MaxArrayIndex <= MaxArrayIndex }

// Defines reports whether the sandbox's globals have name (a library, a
// base function), which a module must not replace.
func (vm *VM) Defines(name string) bool { return vm.Globals.RawGetString(name) != lua.LNil }

// New builds a VM with the allowlisted libraries.
func New(limits Limits) *VM {
	limits = limits.WithDefaults()
	L := lua.NewState(lua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   limits.CallStackSize,
		RegistrySize:    4096,
		RegistryMaxSize: limits.RegistryMaxSize,
		// Grow the value stack in large steps: gopher-lua copies it on
		// every growth, and small steps make deep stacks quadratic.
		RegistryGrowStep: 4096,
	})
	vm := &VM{L: L, limits: limits, roMeta: map[*lua.LTable]struct{}{}}
	vm.Globals = L.NewTable()
	vm.openBase(L)
	str := vm.openString(L)
	vm.Globals.RawSetString("string", vm.ReadOnly(str))
	vm.Globals.RawSetString("table", vm.ReadOnly(vm.openTable(L)))
	vm.Globals.RawSetString("math", vm.ReadOnly(vm.openMath(L)))
	vm.Globals.RawSetString("os", vm.ReadOnly(vm.openOS(L)))

	// String methods ("x"):upper() look in the string metatable's __index.
	// Its __metatable field makes getmetatable("") return a string instead
	// of the table, so no script can reach it to change it.
	smt := L.NewTable()
	smt.RawSetString("__index", str)
	smt.RawSetString("__metatable", lua.LString("read-only"))
	L.SetMetatable(lua.LString(""), smt)

	vm.envMeta = L.CreateTable(0, 4)
	vm.envMeta.RawSetString("__index", vm.Globals)
	vm.envMeta.RawSetString("__newindex", L.NewFunction(vm.envNewIndex))
	vm.envMeta.RawSetString("__tostring", L.NewFunction(envString))
	vm.envMeta.RawSetString("__metatable", lua.LString("read-only"))
	return vm
}

// Set puts a value into the VM's globals.
func (vm *VM) Set(name string, v lua.LValue) { vm.Globals.RawSetString(name, v) }

// ReadOnly wraps t in an empty proxy that reads through to t and raises an
// error on writes; the proxy's metatable is locked, and rawset and the table
// library refuse it. t itself must not be handed to scripts.
func (vm *VM) ReadOnly(t *lua.LTable) *lua.LTable {
	proxy := vm.L.CreateTable(0, 0) // empty for good: no slots to reserve
	proxy.Metatable = LockedMeta(vm.L, t, "")
	vm.roMeta[proxy] = struct{}{}
	return proxy
}

// Frozen makes a module's value safe to share between runs: a table
// becomes a read-only proxy over a copy whose nested tables are frozen the
// same way (a table reached twice gives one proxy), so no run can leave
// anything in it for the next, at any depth; a userdata must have a
// locked metatable (a __metatable field, as LockedMeta gives), or
// getmetatable would hand scripts its metatable to write into. Other values
// pass as they are (Go functions, strings, numbers). The value is built by
// Go at start-up; depth is bounded anyway.
func (vm *VM) Frozen(v lua.LValue) (lua.LValue, error) {
	return vm.freeze(v, map[*lua.LTable]*lua.LTable{}, 0)
}

const maxFreezeDepth = 64

func (vm *VM) freeze(v lua.LValue, done map[*lua.LTable]*lua.LTable, depth int) (lua.LValue, error) {
	switch x := v.(type) {
	case *lua.LTable:
		if vm.isReadOnly(x) {
			return x, nil
		}
		if p, ok := done[x]; ok {
			return p, nil
		}
		if depth > maxFreezeDepth {
			return nil, errors.New("tables nested too deep")
		}
		inner := vm.L.NewTable()
		proxy := vm.ReadOnly(inner)
		done[x] = proxy
		var err error
		x.ForEach(func(k, val lua.LValue) {
			if err != nil {
				return
			}
			var fk, fv lua.LValue
			if fk, err = vm.freeze(k, done, depth+1); err != nil {
				return
			}
			if fv, err = vm.freeze(val, done, depth+1); err != nil {
				return
			}
			inner.RawSet(fk, fv)
		})
		if err != nil {
			return nil, err
		}
		if x.Metatable != lua.LNil {
			return nil, errors.New("a table with a metatable cannot be frozen")
		}
		return proxy, nil
	case *lua.LUserData:
		mt, ok := x.Metatable.(*lua.LTable)
		if x.Metatable != lua.LNil && (!ok || mt.RawGetString("__metatable") == lua.LNil) {
			return nil, errors.New("a userdata must have a locked metatable (a __metatable field: sandbox.LockedMeta)")
		}
		return x, nil
	case *lua.LFunction:
		if x.Proto != nil && len(x.Upvalues) > 0 {
			return nil, errors.New("a Lua closure with upvalues would share its upvalues between runs")
		}
		return x, nil
	}
	return v, nil
}

// LockedMeta is the one read-only metatable dialua builds, for proxy
// tables (ReadOnly) and for the userdata modules are made of: reads go to
// index, writes raise "<what> is read-only" (or "attempt to modify a
// read-only table" when what is empty), getmetatable returns the string
// "read-only" instead of the table, and tostring gives what.
func LockedMeta(L *lua.LState, index lua.LValue, what string) *lua.LTable {
	mt := L.CreateTable(0, 4)
	mt.RawSetString("__index", index)
	msg := "attempt to modify a read-only table"
	if what != "" {
		msg = what + " is read-only"
		mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LString(what))
			return 1
		}))
	}
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("%s", msg)
		return 0
	}))
	mt.RawSetString("__metatable", lua.LString("read-only"))
	return mt
}

func (vm *VM) isReadOnly(t *lua.LTable) bool {
	_, ok := vm.roMeta[t]
	return ok || isFrozenData(t)
}

// Reset clears the per-run state the libraries keep (the seeded random
// generator), so the next run starts as every run does.
func (vm *VM) Reset() { vm.rng = nil }

// Close releases the Lua state.
func (vm *VM) Close() { vm.L.Close() }
