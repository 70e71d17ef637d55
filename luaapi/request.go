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
			run.params = paramsTable(L, req)
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

// paramsTable holds every parameter by name; the later of repeated names
// wins, so a POST body value overrides the same name in the query.
func paramsTable(L *lua.LState, req *protocol.Request) *lua.LTable {
	t := L.CreateTable(0, len(req.Params))
	for _, p := range req.Params {
		t.RawSetString(p.Name, lua.LString(p.Value))
	}
	return t
}
