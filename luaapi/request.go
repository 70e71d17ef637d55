package luaapi

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/protocol"
)

func init() {
	Register(Module{Name: "request", Open: openRequest})
}

// requestFields maps the snake_case shortcuts to the default parameters they
// read.
var requestFields = map[string]string{
	"call_id":             protocol.ParamCallID,
	"caller_id_num":       protocol.ParamCallerIDNum,
	"caller_id_name":      protocol.ParamCallerIDName,
	"called_did":          protocol.ParamCalledDID,
	"called_extension":    protocol.ParamCalledExtension,
	"call_status":         protocol.ParamCallStatus,
	"call_flow":           protocol.ParamCallFlow,
	"caller_extension":    protocol.ParamCallerExtension,
	"called_number":       protocol.ParamCalledNumber,
	"call_api_id":         protocol.ParamCallAPIID,
	"event_type":          protocol.ParamEventType,
	"called_extension_id": protocol.ParamCalledExtensionID,
	"caller_extension_id": protocol.ParamCallerExtensionID,
}

// openRequest builds `request`: a read-only object whose fields are looked up
// in the current run when read, so a run pays only for the fields it uses.
func openRequest(L *lua.LState, run *Run) lua.LValue {
	run.paramsMeta = L.NewTable()
	run.paramsMeta.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		return paramIndex(L, run)
	}))
	run.paramsMeta.RawSetString("__metatable", lua.LString("read-only"))
	ud := L.NewUserData()
	ud.Metatable = lockedMeta(L, L.NewFunction(func(L *lua.LState) int {
		return requestIndex(L, run)
	}), "request")
	return ud
}

func requestIndex(L *lua.LState, run *Run) int {
	key := L.CheckString(2)
	req := run.Request
	switch key {
	case "params":
		if run.params == nil {
			run.params = L.NewTable()
			run.params.Metatable = run.paramsMeta
		}
		L.Push(run.params)
	case "method":
		L.Push(lua.LString(req.Method))
	case "path":
		L.Push(lua.LString(req.Path))
	case "tenant":
		L.Push(lua.LString(req.Tenant))
	case "script":
		L.Push(lua.LString(req.Script))
	case "event":
		L.Push(lua.LString(req.Event()))
	default:
		name, ok := requestFields[key]
		if !ok {
			L.RaiseError("request has no field %q (parameters are in request.params)", key)
		}
		if v, ok := req.Get(name); ok {
			L.Push(lua.LString(v))
		} else {
			L.Push(lua.LNil)
		}
	}
	return 1
}

// request.params is a plain table that reads through to the request: a field
// the table does not hold is looked up in the request's parameters, and the
// first pairs() or next() over it copies every parameter in. A script reading
// two parameters of twelve pays for two. The later of repeated names wins, so
// a POST body value overrides the same name in the query. Values are not
// stored on read: storing a new key in a gopher-lua table costs several
// allocations, more than looking the name up again.
func paramIndex(L *lua.LState, run *Run) int {
	key, ok := L.Get(2).(lua.LString)
	if !ok || run.paramsFull {
		return 0
	}
	v, found := run.Request.Get(string(key))
	if !found {
		return 0
	}
	L.Push(lua.LString(v))
	return 1
}

// BeforeIterate completes request.params before a script iterates it. The
// engine calls it from pairs() and next().
func (r *Run) BeforeIterate(t *lua.LTable) {
	if t != r.params || r.paramsFull {
		return
	}
	r.paramsFull = true
	ps := r.Request.Params
	seen := make(map[string]struct{}, len(ps))
	for i := len(ps) - 1; i >= 0; i-- {
		name := ps[i].Name
		if _, later := seen[name]; later {
			continue
		}
		seen[name] = struct{}{}
		if t.RawGetString(name) == lua.LNil {
			t.RawSetString(name, lua.LString(ps[i].Value))
		}
	}
}
