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
// state cannot leak from one call to the next.
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
