package luaapi

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/protocol"
)

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

// eventValues are the events as Lua values, boxed once: nearly every run
// reads request.event, and boxing a string allocates.
var eventValues = map[protocol.Event]lua.LValue{
	protocol.EventDialIn:      lua.LString(protocol.EventDialIn),
	protocol.EventDialOut:     lua.LString(protocol.EventDialOut),
	protocol.EventHangup:      lua.LString(protocol.EventHangup),
	protocol.EventInteractive: lua.LString(protocol.EventInteractive),
}

// requestModule is `request`: a read-only object whose fields are looked up
// in the current run when read, so a run pays only for the fields it uses.
type requestModule struct{}

func (requestModule) Name() string { return "request" }

// requestState is the module's per-VM state: request.params of the run in
// progress, made on first use.
type requestState struct {
	run        Run
	meta       *lua.LTable // request.params's metatable, one per VM
	params     *lua.LTable
	paramsFull bool // every parameter copied into params
}

func (requestModule) Open(L *lua.LState, run Run) Instance {
	st := &requestState{run: run, meta: L.NewTable()}
	st.meta.RawSetString("__index", L.NewFunction(st.paramIndex))
	st.meta.RawSetString("__metatable", lua.LString("read-only"))
	ud := L.NewUserData()
	ud.Metatable = lockedMeta(L, L.NewFunction(st.index), "request")
	return Instance{Value: ud, End: st.end, BeforeIterate: st.beforeIterate}
}

func (st *requestState) end() {
	st.params, st.paramsFull = nil, false
}

func (st *requestState) index(L *lua.LState) int {
	key := L.CheckString(2)
	req := st.run.Request()
	switch key {
	case "params":
		if st.params == nil {
			// Sized for nothing: most runs only read through it.
			st.params = L.CreateTable(0, 0)
			st.params.Metatable = st.meta
		}
		L.Push(st.params)
	case "method":
		L.Push(lua.LString(req.Method))
	case "path":
		L.Push(lua.LString(req.Path))
	case "tenant":
		L.Push(lua.LString(req.Tenant))
	case "script":
		L.Push(lua.LString(req.Script))
	case "event":
		ev := req.Event()
		if v, ok := eventValues[ev]; ok {
			L.Push(v)
		} else {
			L.Push(lua.LString(ev))
		}
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
func (st *requestState) paramIndex(L *lua.LState) int {
	key, ok := L.Get(2).(lua.LString)
	if !ok || st.paramsFull {
		return 0
	}
	v, found := st.run.Request().Get(string(key))
	if !found {
		return 0
	}
	L.Push(lua.LString(v))
	return 1
}

// beforeIterate completes request.params before a script iterates it.
func (st *requestState) beforeIterate(t *lua.LTable) {
	if t != st.params || st.paramsFull {
		return
	}
	st.paramsFull = true
	ps := st.run.Request().Params
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
