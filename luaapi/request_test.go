package luaapi_test

import (
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

// dumpScript reports every field of the request object.
const dumpScript = `
local r = request
local function put(k, v) response:set_var(k, v == nil and "<nil>" or tostring(v)) end
put("method", r.method) put("path", r.path) put("tenant", r.tenant) put("script", r.script)
put("event", r.event)
put("call_id", r.call_id) put("caller_id_num", r.caller_id_num) put("caller_id_name", r.caller_id_name)
put("called_did", r.called_did) put("called_extension", r.called_extension) put("call_status", r.call_status)
put("call_flow", r.call_flow) put("caller_extension", r.caller_extension) put("called_number", r.called_number)
put("call_api_id", r.call_api_id) put("event_type", r.event_type)
put("team", r.params.team) put("code", r.params.subscription_code) put("absent", r.params.nope)
local n = 0 for k, v in pairs(r.params) do n = n + 1 end put("count", n)
`

// iterScript walks request.params before reading it, then tries to change it.
const iterScript = `
local seen = {}
for k, v in pairs(request.params) do seen[#seen + 1] = k .. "=" .. v end
table.sort(seen)
response:set_var("all", table.concat(seen, ","))
response:set_var("code", request.params.code)
local keys = 0 for k in next, request.params do keys = keys + 1 end
response:set_var("keys", keys)
request.params.code = "changed"
response:set_var("changed", request.params.code)`

// TestRequestObject: parameters, shortcuts, event classification, the
// method, a later value of a name winning (a form body's over the query's:
// how the server orders them is runtime/server's test), iteration, and a
// typo in a field name.
func TestRequestObject(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"t/dump.lua":      dumpScript,
		"t/sub/index.lua": `response:set_var("script", request.script)`,
		"t/typo.lua":      `local x = request.callid`,
		"t/iter.lua":      iterScript,
	}), engine.Options{})

	got := e.Vars(t, "/t/dump",
		"team", "billing", "subscription_code", "934924",
		"CallID", "5205dc5cc5a411e5ab9eb3691b90ea15", "CallerIDNum", "0003*306", "CallerIDName", "Alice & Bob",
		"CalledDID", "0040318000000", "CalledExtension", "0003*001", "CallStatus", "CALLING",
		"CallFlow", "OUT", "CallerExtension", "0003*306", "CalledNumber", "0003*001",
		"CallAPIID", "3584705175:5205dc5c")
	want := map[string]string{
		"method": "GET", "path": "/t/dump", "tenant": "t", "script": "dump", "event": "dial-out",
		"call_id": "5205dc5cc5a411e5ab9eb3691b90ea15", "caller_id_num": "0003*306", "caller_id_name": "Alice & Bob",
		"called_did": "0040318000000", "called_extension": "0003*001", "call_status": "CALLING",
		"call_flow": "OUT", "caller_extension": "0003*306", "called_number": "0003*001",
		"call_api_id": "3584705175:5205dc5c", "event_type": "<nil>",
		"team": "billing", "code": "934924", "absent": "<nil>", "count": "12",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("GET %s = %q, want %q", k, got[k], v)
		}
	}

	// POST: the query's parameters first, then the body's; the later value
	// of a name wins.
	req := testkit.Request("/t/dump", "team", "billing", "subscription_code", "fromquery",
		"subscription_code", "frombody", "CallStatus", "BUSY", "EventType", "")
	req.Method = "POST"
	vs, err := e.Do(t, req)
	if err != nil {
		t.Fatal(err)
	}
	got = testkit.Vars(vs)
	for k, v := range map[string]string{"method": "POST", "team": "billing", "code": "frombody", "event": "hangup", "event_type": "", "call_id": "<nil>", "count": "4"} {
		if got[k] != v {
			t.Errorf("POST %s = %q, want %q", k, got[k], v)
		}
	}

	// Iterating before reading: every parameter once, the later value for
	// a name given twice.
	req = testkit.Request("/t/iter", "code", "q", "team", "ops", "code", "b", "x", "")
	req.Method = "POST"
	vs, err = e.Do(t, req)
	if err != nil {
		t.Fatal(err)
	}
	got = testkit.Vars(vs)
	for k, v := range map[string]string{"all": "code=b,team=ops,x=", "code": "b", "keys": "3", "changed": "changed"} {
		if got[k] != v {
			t.Errorf("iter %s = %q, want %q", k, got[k], v)
		}
	}

	if got := e.Vars(t, "/t/sub/"); got["script"] != "sub" {
		t.Errorf("folder index script name = %q", got["script"])
	}
	if se := e.Fail(t, "/t/typo"); !strings.Contains(se.Message, `request has no field "callid"`) {
		t.Errorf("typo in a request field is not reported: %v", se)
	}
}
