package server

import (
	"net/url"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

// TestRequestOverHTTP: what a script sees of a request comes from the HTTP
// request as sent: the query's parameters (escaped), a form body's after the
// query's and winning over them, the method, a POST without Content-Type,
// and a folder's index script. What the request object makes of a
// protocol.Request is luaapi's test (TestRequestObject).
func TestRequestOverHTTP(t *testing.T) {
	s := start(t, testkit.Scripts(t, map[string]string{
		"t/dump.lua": `
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
`,
		"t/sub/index.lua": `response:set_var("script", request.script)`,
		"t/iter.lua": `
local seen = {}
for k, v in pairs(request.params) do seen[#seen + 1] = k .. "=" .. v end
table.sort(seen)
response:set_var("all", table.concat(seen, ","))
response:set_var("code", request.params.code)
local keys = 0 for k in next, request.params do keys = keys + 1 end
response:set_var("keys", keys)
request.params.code = "changed"
response:set_var("changed", request.params.code)`,
	}), engine.Options{})

	q := url.Values{
		"team": {"billing"}, "subscription_code": {"934924"},
		"CallID": {"5205dc5cc5a411e5ab9eb3691b90ea15"}, "CallerIDNum": {"0003*306"}, "CallerIDName": {"Alice & Bob"},
		"CalledDID": {"0040318000000"}, "CalledExtension": {"0003*001"}, "CallStatus": {"CALLING"},
		"CallFlow": {"OUT"}, "CallerExtension": {"0003*306"}, "CalledNumber": {"0003*001"},
		"CallAPIID": {"3584705175:5205dc5c"},
	}
	got := testkit.Vars(s.get("/t/dump?" + q.Encode()).verbs(t))
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

	// POST: static parameters in the query, the rest in the form body; the
	// body's value wins for a name in both.
	got = testkit.Vars(s.post("/t/dump?team=billing&subscription_code=fromquery", url.Values{
		"subscription_code": {"frombody"}, "CallStatus": {"BUSY"}, "EventType": {""},
	}).verbs(t))
	for k, v := range map[string]string{"method": "POST", "team": "billing", "code": "frombody", "event": "hangup", "event_type": "", "call_id": "<nil>", "count": "4"} {
		if got[k] != v {
			t.Errorf("POST %s = %q, want %q", k, got[k], v)
		}
	}
	// POST with no Content-Type at all still reads the body as a form.
	st := rawRequest(t, s.base, "POST /t/dump?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\nConnection: close\r\n\r\nteam=ops")
	if st != 200 {
		t.Errorf("POST without Content-Type: status %d", st)
	}

	// Iterating before reading: every parameter once, the body's value for a
	// name in both query and body.
	got = testkit.Vars(s.post("/t/iter?code=q&team=ops", url.Values{"code": {"b"}, "x": {""}}).verbs(t))
	for k, v := range map[string]string{"all": "code=b,team=ops,x=", "code": "b", "keys": "3", "changed": "changed"} {
		if got[k] != v {
			t.Errorf("iter %s = %q, want %q", k, got[k], v)
		}
	}

	if got := testkit.Vars(s.get("/t/sub/").verbs(t)); got["script"] != "sub" {
		t.Errorf("folder index script name = %q", got["script"])
	}
}

func TestHTTPEdges(t *testing.T) {
	s := start(t, testkit.Scripts(t, map[string]string{"t/a.lua": `response:hangup()`}), engine.Options{})
	if r := s.get("/healthz"); r.status != 200 || r.body != "ok\n" {
		t.Errorf("healthz: %d %q", r.status, r.body)
	}
	if st := rawRequest(t, s.base, "DELETE /t/a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); st != 405 {
		t.Errorf("DELETE: %d, want 405", st)
	}
	if st := rawRequest(t, s.base, "POST /t/a HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"); st != 415 {
		t.Errorf("JSON POST: %d, want 415", st)
	}
	big := strings.Repeat("x", 20<<10)
	if st := rawRequest(t, s.base, "POST /t/a HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 20480\r\nConnection: close\r\n\r\n"+big); st != 413 {
		t.Errorf("oversized body: %d, want 413", st)
	}
	if st := rawRequest(t, s.base, "GET /t/a HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("y", 16<<10)+"\r\nConnection: close\r\n\r\n"); st != 431 {
		t.Errorf("oversized headers: %d, want 431", st)
	}
	testkit.SameVerbs(t, s.get("/t/a").verbs(t), []protocol.Verb{{Kind: protocol.Hangup}})
}
