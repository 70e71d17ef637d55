package luar

import (
	"fmt"
	"reflect"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
)

type tenantModule struct {
	name string
	fn   func(tenant string) (any, error)
	opts options
}

func (m tenantModule) Name() string { return m.name }

func (m tenantModule) Open(L *lua.LState, run luaapi.Run) luaapi.Instance {
	ex := &exposed{name: m.name, run: run, opts: m.opts}
	h := &handle{ex: ex, fn: m.fn}
	ud := &lua.LUserData{Value: h, Metatable: stateOf(L).handle}
	return luaapi.Instance{Value: ud, End: h.end}
}

// handle is a PerTenant global: one per VM, standing for the value the
// running tenant gets. That value is looked up on the run's first use and
// forgotten by end, so no run sees another's.
type handle struct {
	ex       *exposed
	fn       func(tenant string) (any, error)
	resolved bool       // fn was called in this run
	cur      lua.LValue // its value: a view, a function, or nil
}

func (h *handle) end() {
	h.ex.end()
	h.resolved, h.cur = false, nil
}

// value returns the current run's value, asking fn on first use.
func (h *handle) value(L *lua.LState) lua.LValue {
	if h.resolved {
		return h.cur
	}
	req := h.ex.run.Request()
	if req == nil {
		L.RaiseError("%s: no run is current", h.ex.name)
	}
	h.resolved, h.cur = true, lua.LNil // a panicking fn is not asked again
	v, err := h.lookup(L, req.Tenant)
	if err == nil && v != nil {
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Struct, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Array, reflect.Func:
			if _, isLua := v.(lua.LValue); isLua {
				err = fmt.Errorf("%T is a Lua value; PerTenant takes Go values", v)
			} else {
				h.cur, err = stateOf(L).toLua(L, rv, h.ex)
			}
		default:
			err = fmt.Errorf("%T is not a struct, pointer, map, slice, array or func", v)
		}
	}
	if err != nil {
		h.cur = lua.LNil
		h.ex.run.Log().Logger().Warn("luar.PerTenant: no value for this tenant; the global reads as nil",
			"global", h.ex.name, "error", err.Error())
	}
	return h.cur
}

func (h *handle) lookup(L *lua.LState, tenant string) (any, error) {
	defer guard(L, h.ex.name, h.ex)
	if h.ex.opts.blocking {
		defer h.ex.run.Wait()()
	}
	return h.fn(tenant)
}

// newHandleMetatable builds the metatable all PerTenant handles on an
// LState share: each metamethod finds the run's value, then does what a
// view's (or a function's) own would.
func (st *state) newHandleMetatable(L *lua.LState) *lua.LTable {
	mt := L.CreateTable(0, 8)
	set := func(name string, onView func(*lua.LState, *view) int, other func(*lua.LState, *handle, lua.LValue) int) {
		mt.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			ud, _ := L.Get(1).(*lua.LUserData)
			h, _ := ud.Value.(*handle) // only handles have this metatable
			cur := h.value(L)
			if u, ok := cur.(*lua.LUserData); ok {
				v := u.Value.(*view)
				defer guard(L, name, v.ex)
				return onView(L, v)
			}
			return other(L, h, cur)
		}))
	}
	isNil := func(L *lua.LState, h *handle, _ lua.LValue) int {
		L.RaiseError("%s is nil for this tenant", h.ex.name)
		return 0
	}
	set("__index", st.index, func(L *lua.LState, _ *handle, _ lua.LValue) int {
		L.Push(lua.LNil)
		return 1
	})
	set("__newindex", st.newIndex, func(L *lua.LState, h *handle, cur lua.LValue) int {
		if cur == lua.LNil {
			return isNil(L, h, cur)
		}
		L.RaiseError("%s is read-only", h.ex.name)
		return 0
	})
	set("__len", viewLen, isNil)
	set("__call", st.iterate, func(L *lua.LState, h *handle, cur lua.LValue) int {
		fn, ok := cur.(*lua.LFunction)
		if !ok {
			return isNil(L, h, cur)
		}
		L.Replace(1, fn) // fn(args...), without the handle
		L.Call(L.GetTop()-1, lua.MultRet)
		return L.GetTop()
	})
	set("__tostring", viewString, func(L *lua.LState, _ *handle, cur lua.LValue) int {
		L.Push(lua.LString(cur.Type().String()))
		return 1
	})
	mt.RawSetString("__metatable", lua.LString("luar"))
	return mt
}

// selfView returns the view lv is: one of our views, or a PerTenant
// handle whose current value is one; nil otherwise.
func (st *state) selfView(L *lua.LState, lv lua.LValue) *view {
	ud, ok := lv.(*lua.LUserData)
	if !ok {
		return nil
	}
	switch x := ud.Value.(type) {
	case *view:
		return x
	case *handle:
		if u, ok := x.value(L).(*lua.LUserData); ok {
			return u.Value.(*view)
		}
	}
	return nil
}
