package sandbox

import lua "github.com/yuin/gopher-lua"

// Lua 5.1 library functions gopher-lua leaves out or gets wrong, which
// scripts ported from stock Lua or OpenResty use: table.foreach,
// table.foreachi, table.maxn over every numeric key, string.gfind, and
// iteration that sees what indexing sees (pairs over a library table, over
// _G). docs/lua-api.md lists them under "Differences from Lua 5.1".

// internalPrefix starts the names of the globals Compile's rewrites call;
// iteration over _G never yields them.
const internalPrefix = "__dialua"

// readable is the table whose keys a script sees in t: a read-only proxy
// is empty itself, its keys are in the table it reads through to. The
// inner table is only read, and the values it holds are what indexing the
// proxy gives anyway (frozen tables are proxies too), so nothing writable
// leaks.
func (vm *VM) readable(t *lua.LTable) *lua.LTable {
	if !vm.isReadOnly(t) {
		return t
	}
	mt, ok := t.Metatable.(*lua.LTable)
	if !ok {
		return t
	}
	if inner, ok := mt.RawGetString("__index").(*lua.LTable); ok {
		return inner
	}
	return t
}

// isEnv reports whether t is a run's globals table (NewEnv).
func (vm *VM) isEnv(t *lua.LTable) bool { return t.Metatable == vm.envMeta }

// next is next(t [, k]) with a read-only proxy walked through to its
// table. A run's globals are walked raw, as Lua's next walks any table:
// only pairs(_G) adds the library names (see envWalker).
func (vm *VM) next(L *lua.LState) int {
	t := L.CheckTable(1)
	if vm.OnIterate != nil {
		vm.OnIterate(t)
	}
	k, v := vm.readable(t).Next(L.Get(2))
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(v)
	return 2
}

// pairs returns next for a table, and for a run's globals an iterator that
// yields the run's own globals and then every library name the run has not
// replaced, as pairs(_G) does in Lua 5.1 where both live in one table.
func (vm *VM) pairs(L *lua.LState) int {
	t := L.CheckTable(1)
	if vm.OnIterate != nil {
		vm.OnIterate(t)
	}
	if vm.isEnv(t) {
		L.Push(L.NewFunction(newEnvWalker(t, vm.Globals).step))
	} else {
		L.Push(vm.nextFn)
	}
	L.Push(t)
	L.Push(lua.LNil)
	return 3
}

// envWalker walks a run's globals, then the VM's. It keeps its place
// itself, so that a script clearing one of its own globals as it goes (which
// Lua allows) cannot send it back into the first phase. Its work is bounded
// by the two tables' sizes, one step per call.
type envWalker struct {
	env, globals *lua.LTable
	inGlobals    bool
	key          lua.LValue // the last one yielded, nil at the start of a phase
}

func newEnvWalker(env, globals *lua.LTable) *envWalker {
	return &envWalker{env: env, globals: globals, key: lua.LNil}
}

// pair is the next key and value, or nil when the walk is over.
func (w *envWalker) pair() (lua.LValue, lua.LValue) {
	for {
		if !w.inGlobals {
			k, v := w.env.Next(w.key)
			if k != lua.LNil {
				w.key = k
				return k, v
			}
			w.inGlobals, w.key = true, lua.LNil
		}
		k, v := w.globals.Next(w.key)
		if k == lua.LNil {
			return k, v
		}
		w.key = k
		name, ok := k.(lua.LString)
		if ok && IsInternal(string(name)) || w.env.RawGet(k) != lua.LNil {
			continue // internal, or replaced by the run (already yielded)
		}
		return k, v
	}
}

// step is the iterator function pairs(_G) returns.
func (w *envWalker) step(L *lua.LState) int {
	k, v := w.pair()
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(v)
	return 2
}

// tableForeach is Lua 5.1's table.foreach(t, f): f(k, v) for every pair,
// stopping at the first call that returns a value other than nil, which is
// returned. f runs as Lua code under the run's deadline; the loop checks the
// deadline at every step too, as f may be a Go function.
func (vm *VM) tableForeach(L *lua.LState) int {
	t := L.CheckTable(1)
	f := L.CheckFunction(2)
	if vm.OnIterate != nil {
		vm.OnIterate(t)
	}
	var step func() (lua.LValue, lua.LValue)
	if vm.isEnv(t) {
		step = newEnvWalker(t, vm.Globals).pair
	} else {
		src, key := vm.readable(t), lua.LValue(lua.LNil)
		step = func() (lua.LValue, lua.LValue) {
			k, v := src.Next(key)
			key = k
			return k, v
		}
	}
	for {
		checkDeadline(L)
		k, v := step()
		if k == lua.LNil {
			return 0
		}
		if r := vm.callPair(L, f, k, v); r != lua.LNil {
			L.Push(r)
			return 1
		}
	}
}

// tableForeachi is Lua 5.1's table.foreachi(t, f): f(i, t[i]) for i from 1
// to #t (taken once, at the start), stopping as table.foreach does.
func (vm *VM) tableForeachi(L *lua.LState) int {
	t := L.CheckTable(1)
	f := L.CheckFunction(2)
	src := vm.readable(t)
	n := src.Len()
	for i := 1; i <= n; i++ {
		checkDeadline(L)
		if r := vm.callPair(L, f, lua.LNumber(i), src.RawGetInt(i)); r != lua.LNil {
			L.Push(r)
			return 1
		}
	}
	return 0
}

func (vm *VM) callPair(L *lua.LState, f *lua.LFunction, k, v lua.LValue) lua.LValue {
	L.Push(f)
	L.Push(k)
	L.Push(v)
	L.Call(2, 1)
	r := L.Get(-1)
	L.Pop(1)
	return r
}

// tableMaxn is Lua 5.1's table.maxn(t): the largest positive numeric key,
// 2.5 and 2^40 included (gopher-lua's looks at the array part only), or 0.
// It walks every key, checking the deadline as it goes.
func (vm *VM) tableMaxn(L *lua.LState) int {
	t := vm.readable(L.CheckTable(1))
	best := lua.LNumber(0)
	k, steps := lua.LValue(lua.LNil), 0
	for {
		if steps++; steps%tickEvery == 0 {
			checkDeadline(L)
		}
		k, _ = t.Next(k)
		if k == lua.LNil {
			break
		}
		if n, ok := k.(lua.LNumber); ok && n > best {
			best = n
		}
	}
	L.Push(best)
	return 1
}
