package sandbox

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// baseAllowed are the base functions scripts keep as gopher-lua ships them.
// Left out on purpose: load, loadstring, loadfile, dofile (bytecode and file
// loading), getfenv, setfenv (reach into other functions' globals),
// collectgarbage, module, require (replaced by the engine), newproxy, and
// gopher-lua's _printregs.
var baseAllowed = []string{
	"assert", "error", "pcall", "select",
	"tonumber", "tostring", "type", "xpcall",
	"getmetatable", "rawequal", "rawget",
}

func (vm *VM) openBase(L *lua.LState) {
	lua.OpenBase(L)
	for _, name := range baseAllowed {
		vm.Globals.RawSetString(name, L.GetGlobal(name))
	}
	vm.Globals.RawSetString("_VERSION", lua.LString(lua.LuaVersion))
	vm.Globals.RawSetString("rawset", L.NewFunction(vm.rawset))
	setmt := L.GetGlobal("setmetatable").(*lua.LFunction).GFunction
	vm.Globals.RawSetString("setmetatable", L.NewFunction(func(L *lua.LState) int {
		// Lua 5.1 takes tables only. gopher-lua also takes numbers, strings,
		// booleans and functions and then changes the metatable of the
		// whole type for the whole VM: one tenant's hooks would run inside
		// every later run, of every tenant.
		L.CheckTable(1)
		return setmt(L)
	}))
	vm.Globals.RawSetString("unpack", L.NewFunction(unpack))
	vm.ipairsFn = L.NewFunction(vm.ipairsNext)
	vm.Globals.RawSetString("ipairs", L.NewFunction(vm.ipairs))
	vm.nextFn = L.NewFunction(vm.next)
	vm.Globals.RawSetString("next", vm.nextFn)
	vm.Globals.RawSetString("pairs", L.NewFunction(vm.pairs))
	vm.Globals.RawSetString("print", L.NewFunction(vm.print))
	vm.Globals.RawSetString(concatFunc, L.NewFunction(vm.concat))
	vm.Globals.RawSetString(forNumFunc, L.NewFunction(forNumber))
}

// rawset refuses the read-only proxies: a raw write would bypass their
// __newindex and change what every later run sees.
func (vm *VM) rawset(L *lua.LState) int {
	t := L.CheckTable(1)
	if vm.isReadOnly(t) {
		L.RaiseError("attempt to modify a read-only table")
	}
	vm.noteWrite(t)
	L.RawSet(t, L.CheckAny(2), L.CheckAny(3))
	L.SetTop(1)
	return 1
}

func (vm *VM) print(L *lua.LState) int {
	if vm.Print == nil {
		return 0
	}
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
		if b.Len() > vm.limits.MaxStringBytes {
			break
		}
	}
	vm.Print(b.String())
	return 0
}

// concat implements the .. operator (Compile rewrites every a .. b .. c into
// a call of this function): Lua's semantics, with the result size checked
// before it is built. gopher-lua's own concatenation has no bound, and a
// script doubling a string 40 times would take the whole process down.
func (vm *VM) concat(L *lua.LState) int {
	n := L.GetTop()
	total := 0
	plain := true
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			total += len(v)
		case lua.LNumber:
			total += 24
		default:
			plain = false
		}
	}
	if plain {
		vm.checkLen(L, total)
		var b strings.Builder
		b.Grow(total)
		for i := 1; i <= n; i++ {
			b.WriteString(lua.LVAsString(L.Get(i)))
		}
		vm.checkLen(L, b.Len())
		vm.made(L, b.Len())
		L.Push(lua.LString(b.String()))
		return 1
	}
	// Some operand has a __concat metamethod (or is an error): pair from the
	// right as Lua does. accAt is the operand acc still is, 0 once it is a
	// result.
	acc, accAt := L.Get(n), n
	for i := n - 1; i >= 1; i-- {
		lhs := L.Get(i)
		if canConcat(lhs) && canConcat(acc) {
			s := lua.LVAsString(lhs)
			r := lua.LVAsString(acc)
			vm.checkLen(L, len(s)+len(r))
			vm.made(L, len(s)+len(r))
			acc, accAt = lua.LString(s+r), 0
			continue
		}
		mm := L.GetMetaField(lhs, "__concat")
		if mm == lua.LNil {
			mm = L.GetMetaField(acc, "__concat")
		}
		if mm == lua.LNil {
			// Lua 5.1 blames the left operand unless it is a string or
			// number.
			bad, at := lhs, i
			if canConcat(lhs) {
				bad, at = acc, accAt
			}
			vm.concatError(L, n, at, bad)
		}
		L.Push(mm)
		L.Push(lhs)
		L.Push(acc)
		L.Call(2, 1)
		acc, accAt = L.Get(-1), 0
		L.Pop(1)
	}
	L.Push(acc)
	return 1
}

// concatError raises Lua 5.1's message for operand at (1-based; 0: a
// result, which has no name) of n.
func (vm *VM) concatError(L *lua.LState, n, at int, bad lua.LValue) {
	typ := bad.Type().String()
	if at > 0 {
		if name := vm.concatOperand(L, n, at); name != "" {
			L.RaiseError("attempt to concatenate %s (a %s value)", name, typ)
		}
	}
	L.RaiseError("attempt to concatenate a %s value", typ)
}

func canConcat(v lua.LValue) bool {
	t := v.Type()
	return t == lua.LTString || t == lua.LTNumber
}

// maxResults caps how many values one library call may push, as Lua 5.1's
// stack check does (LUAI_MAXCSTACK). gopher-lua has no such check: unpack(t,
// 1, 1e8) grows the value stack in small steps, copying it each time, for
// seconds of Go time the deadline cannot interrupt.
const maxResults = 8000

// unpack is Lua 5.1's unpack with its "too many results" check.
func unpack(L *lua.LState) int {
	t := Contents(L.CheckTable(1))
	i := L.OptInt(2, 1)
	e := L.OptInt(3, t.Len())
	if i > e {
		return 0
	}
	if float64(e)-float64(i)+1 > maxResults {
		L.RaiseError("too many results to unpack")
	}
	n := e - i + 1
	for k := i; k <= e; k++ {
		L.Push(t.RawGetInt(k))
	}
	return n
}

// ipairs is Lua's, reading a read-only proxy (a library table, a frozen
// data module) through to its table.
func (vm *VM) ipairs(L *lua.LState) int {
	t := L.CheckTable(1)
	L.Push(vm.ipairsFn)
	L.Push(t)
	L.Push(lua.LNumber(0))
	return 3
}

func (vm *VM) ipairsNext(L *lua.LState) int {
	t := vm.readable(L.CheckTable(1))
	i := L.CheckInt(2) + 1
	v := t.RawGetInt(i)
	if v == lua.LNil {
		return 0
	}
	L.Push(lua.LNumber(i))
	L.Push(v)
	return 2
}
