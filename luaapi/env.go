package luaapi

import lua "github.com/yuin/gopher-lua"

func init() {
	Register(Module{Name: "env", Open: openEnv})
}

// openEnv builds `env`: read-only access to the running tenant's env values
// from the tenants file. env.NAME is the value, or nil when not set. Another
// tenant's values are never visible: the lookup goes through the run's own
// configuration.
func openEnv(L *lua.LState, run *Run) lua.LValue {
	ud := L.NewUserData()
	ud.Metatable = lockedMeta(L, L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(2)
		if v, ok := run.Tenant.Env[name]; ok {
			L.Push(lua.LString(v))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	}), "env")
	return ud
}
