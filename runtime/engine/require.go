package engine

import (
	"errors"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/loader"
)

// require loads a module from the running tenant's lib/ folder: "util" is
// lib/util.lua and "billing.rates" is lib/billing/rates.lua. A module runs at
// most once per run, in the run's globals, and its return value (true if
// none) is what every require of it in that run returns. Modules are compiled
// once and hot-swapped like scripts, but never shared between runs: module
// state cannot leak from one call to the next. The exception is a data
// module (sandbox.DataMarker): built once per VM and file version, its
// value is shared frozen, so nothing can be written into it.
func (v *vm) require(L *lua.LState) int {
	name := L.CheckString(1)
	path := strings.ReplaceAll(name, ".", "/")
	tenant := v.call.Request().Tenant
	if !ValidScriptPath(tenant, path) {
		L.ArgError(1, "invalid module name "+quote(name)+": use names like \"util\" or \"billing.rates\"")
	}
	if val, ok := v.loaded[name]; ok {
		if val == nil {
			L.RaiseError("module %s requires itself (a require loop)", quote(name))
		}
		L.Push(val)
		return 1
	}
	sc, err := v.load(loader.Name{Tenant: tenant, Release: v.release, Script: path, Module: true})
	if err != nil {
		var se *ScriptError
		if errors.As(err, &se) {
			L.RaiseError("module %s does not compile: %s", quote(name), se.Error())
		}
		L.RaiseError("module %s not found: no %s/%s.lua in this tenant's folder", quote(name), loader.ModulesDir, path)
	}
	if v.loaded == nil {
		v.loaded = map[string]lua.LValue{}
	}
	if sc.Data() {
		if val := v.data.get(v, sc); val != nil {
			v.loaded[name] = val
			L.Push(val)
			return 1
		}
	}
	v.loaded[name] = nil
	fn := L.NewFunctionFromProto(sc.Proto)
	fn.Env = v.env
	L.Push(fn)
	L.Push(lua.LString(name))
	L.Call(1, 1)
	val := L.Get(-1)
	L.Pop(1)
	if val == lua.LNil {
		val = lua.LTrue
	}
	v.loaded[name] = val
	L.Push(val)
	return 1
}

func quote(s string) string { return "\"" + s + "\"" }

// Bounds on the data modules one VM keeps: how many, and how many values
// (table entries, keys and values) in all and in one module; a module over
// the last bound is run per request, as any other.
const (
	maxDataModules      = 64
	maxDataValues       = 1 << 16
	maxDataModuleValues = 1 << 14
)

// dataModules are a VM's frozen data modules, by compiled script (one per
// tenant's file version: a hot swap makes a new one). A nil value is a
// module that cannot be kept, remembered so that it is not built and thrown
// away again on every request.
type dataModules struct {
	m      map[*loader.Script]lua.LValue
	values int
}

// get returns the module's frozen value, building it on first use; nil when
// it cannot be kept (too large, or its code fails), and the caller runs it
// as an ordinary module, with the same outcome as before.
func (d *dataModules) get(v *vm, sc *loader.Script) lua.LValue {
	if val, ok := d.m[sc]; ok {
		return val
	}
	frozen, n := d.build(v, sc)
	if d.m == nil || len(d.m) >= maxDataModules || d.values+n > maxDataValues {
		d.m, d.values = map[*loader.Script]lua.LValue{}, 0
	}
	d.m[sc] = frozen
	d.values += n
	return frozen
}

// build runs the module's chunk and freezes its value, or gives nil.
func (d *dataModules) build(v *vm, sc *loader.Script) (lua.LValue, int) {
	L := v.sb.L
	fn := L.NewFunctionFromProto(sc.Proto)
	fn.Env = L.CreateTable(0, 0) // pure data reads no globals; an empty table to be sure
	if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}); err != nil {
		return nil, 1
	}
	built := L.Get(-1)
	L.Pop(1)
	if built == lua.LNil {
		built = lua.LTrue
	}
	frozen, n, err := v.sb.FreezeData(built, maxDataModuleValues)
	if err != nil {
		return nil, 1
	}
	return frozen, n
}
