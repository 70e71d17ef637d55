package sandbox

import (
	"math"
	"math/rand/v2"
	"sort"

	lua "github.com/yuin/gopher-lua"
)

func (vm *VM) openTable(L *lua.LState) *lua.LTable {
	lua.OpenTable(L)
	std := L.GetGlobal("table").(*lua.LTable)
	t := L.NewTable()
	for _, name := range []string{"insert", "remove"} {
		t.RawSetString(name, vm.refuseReadOnly(std.RawGetString(name).(*lua.LFunction)))
	}
	// getn only reads: a read-only proxy is measured through to its table.
	t.RawSetString("getn", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(vm.readable(L.CheckTable(1)).Len()))
		return 1
	}))
	t.RawSetString("maxn", L.NewFunction(vm.tableMaxn))
	t.RawSetString("foreach", L.NewFunction(vm.tableForeach))
	t.RawSetString("foreachi", L.NewFunction(vm.tableForeachi))
	t.RawSetString("concat", L.NewFunction(vm.tableConcat))
	t.RawSetString("sort", L.NewFunction(vm.tableSort))
	return t
}

// tableSort is table.sort(t [, comp]) with the deadline checked as it
// compares: gopher-lua sorts in Go, where comparing long strings that share
// a prefix costs milliseconds each and nothing checks the time.
func (vm *VM) tableSort(L *lua.LState) int {
	t := L.CheckTable(1)
	if vm.isReadOnly(t) {
		L.RaiseError("attempt to modify a read-only table")
	}
	vm.noteWrite(t)
	var cmp *lua.LFunction
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		cmp = L.CheckFunction(2)
	}
	n := t.Len()
	vals := make([]lua.LValue, n)
	for i := range vals {
		vals[i] = t.RawGetInt(i + 1)
	}
	steps := 0
	sort.Slice(vals, func(i, j int) bool {
		a, b := vals[i], vals[j]
		steps++
		if sa, ok := a.(lua.LString); ok && len(sa) > 1024 || steps%64 == 0 {
			checkDeadline(L)
		}
		if cmp != nil {
			L.Push(cmp)
			L.Push(a)
			L.Push(b)
			L.Call(2, 1)
			r := lua.LVAsBool(L.Get(-1))
			L.Pop(1)
			return r
		}
		return L.LessThan(a, b)
	})
	for i, v := range vals {
		t.RawSetInt(i+1, v)
	}
	return 0
}

// refuseReadOnly wraps a table function that writes its first argument raw,
// so it cannot be pointed at a read-only proxy.
func (vm *VM) refuseReadOnly(fn *lua.LFunction) *lua.LFunction {
	g := fn.GFunction
	return vm.L.NewFunction(func(L *lua.LState) int {
		if t, ok := L.Get(1).(*lua.LTable); ok {
			if vm.isReadOnly(t) {
				L.RaiseError("attempt to modify a read-only table")
			}
			vm.noteWrite(t)
		}
		return g(L)
	})
}

// tableConcat is table.concat(t [, sep [, i [, j]]]) with the result size
// checked as it grows and the deadline checked as it loops.
func (vm *VM) tableConcat(L *lua.LState) int {
	t := Contents(L.CheckTable(1))
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	var b []byte
	for k := i; k <= j; k++ {
		if (k-i)%tickEvery == tickEvery-1 {
			checkDeadline(L)
		}
		v := t.RawGetInt(k)
		if !canConcat(v) {
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		s := lua.LVAsString(v)
		vm.checkLen(L, len(b)+len(s)+len(sep))
		b = append(b, s...)
		if k < j {
			b = append(b, sep...)
		}
	}
	vm.made(L, len(b))
	L.Push(lua.LString(b))
	return 1
}

// openMath is gopher-lua's math library with random and randomseed replaced:
// gopher-lua seeds the process-wide generator, so one script's randomseed
// would decide another tenant's "random" numbers. Here random draws from a
// generator seeded by the runtime unless this run called randomseed, and that
// seed lasts for the run only.
func (vm *VM) openMath(L *lua.LState) *lua.LTable {
	lua.OpenMath(L)
	std := L.GetGlobal("math").(*lua.LTable)
	t := L.NewTable()
	std.ForEach(func(k, v lua.LValue) { t.RawSet(k, v) })
	t.RawSetString("random", L.NewFunction(vm.mathRandom))
	t.RawSetString("randomseed", L.NewFunction(vm.mathRandomseed))
	return t
}

func (vm *VM) float() float64 {
	if vm.rng != nil {
		return vm.rng.Float64()
	}
	return rand.Float64()
}

func (vm *VM) mathRandom(L *lua.LState) int {
	r := vm.float()
	switch L.GetTop() {
	case 0:
		L.Push(lua.LNumber(r))
	case 1:
		hi := L.CheckInt(1)
		if hi < 1 {
			L.ArgError(1, "interval is empty")
		}
		L.Push(lua.LNumber(int(r*float64(hi)) + 1))
	default:
		lo, hi := float64(L.CheckInt(1)), float64(L.CheckInt(2))
		if lo > hi {
			L.ArgError(2, "interval is empty")
		}
		L.Push(lua.LNumber(math.Floor(r*(hi-lo+1)) + lo))
	}
	return 1
}

func (vm *VM) mathRandomseed(L *lua.LState) int {
	seed := uint64(toInt(L.CheckNumber(1)))
	vm.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return 0
}

// openOS keeps the clock functions only: no files, processes or environment.
func (vm *VM) openOS(L *lua.LState) *lua.LTable {
	lua.OpenOs(L)
	std := L.GetGlobal("os").(*lua.LTable)
	t := L.NewTable()
	for _, name := range []string{"time", "clock", "difftime"} {
		t.RawSetString(name, std.RawGetString(name))
	}
	date := std.RawGetString("date").(*lua.LFunction).GFunction
	t.RawSetString("date", L.NewFunction(func(L *lua.LState) int {
		if len(L.OptString(1, "")) > 256 {
			L.ArgError(1, "format longer than 256 bytes")
		}
		return date(L)
	}))
	return t
}
