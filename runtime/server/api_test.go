package server

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
)

// TestEveryVerbAndAttribute builds each verb with each attribute, in both the
// positional and the named-table calling forms, and parses the XML back.
func TestEveryVerbAndAttribute(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"t/named.lua": `
response:set_var("SubscriptionCode", "09897987")
response:pause{length = 15}
response:play_sound{"Choose-contact-method", language = "fr", loop = 2, view = "client",
                    folder = "menus", where = "background", digitvar = "contact"}
response:play_tts{"Your balance is ten dollars", voice = "Alice-8KHz", volume = 100}
response:set_caller{name = "callerName", number = "92992"}
response:jump{context = "StartSupport", option = "1", priority = 3}
`,
		"t/positional.lua": `
response:pause()
response:pause(7)
response:pause("8")
response:set_var("n", 42)
response:set_var("empty", "")
response:play_sound("beep")
response:play_sound("beep", {digitvar = "k"})
response:play_tts("hi", {voice = "v"})
response:set_caller("Name", 5551234)
response:jump("Ctx", "#", 2)
`,
		"t/chain.lua":    `response:play_sound{"a", where = "foreground"}:pause(1):hangup()`,
		"t/jumpdef.lua":  `response:jump{context = "Main"}`,
		"t/nothing.lua":  `local x = 1`,
		"t/escape.lua":   `response:play_tts{"Tom & Jerry <say> \"hi\" \0", voice = "a\"b"}`,
		"t/unicode.lua":  `response:play_tts{"Bună ziua, 你好 😀", voice = "Ioana"}`,
		"t/jumpstar.lua": `response:jump("Ctx", "*")`,
	})
	s := start(t, dir, engine.Options{})
	sameVerbs(t, s.get("/t/named").verbs(t), []protocol.Verb{
		{Kind: protocol.SetVar, Name: "SubscriptionCode", Text: "09897987"},
		{Kind: protocol.Pause, Length: 15},
		{Kind: protocol.PlaySound, Text: "Choose-contact-method", Language: "fr", Loop: 2, View: "client", Folder: "menus", Where: "background", DigitVar: "contact"},
		{Kind: protocol.PlayTTS, Text: "Your balance is ten dollars", Voice: "Alice-8KHz", Volume: 100},
		{Kind: protocol.SetCaller, Name: "callerName", Number: "92992"},
		{Kind: protocol.Jump, Context: "StartSupport", Option: "1", Priority: 3},
	})
	sameVerbs(t, s.get("/t/positional").verbs(t), []protocol.Verb{
		{Kind: protocol.Pause, Length: 10},
		{Kind: protocol.Pause, Length: 7},
		{Kind: protocol.Pause, Length: 8},
		{Kind: protocol.SetVar, Name: "n", Text: "42"},
		{Kind: protocol.SetVar, Name: "empty", Text: ""},
		{Kind: protocol.PlaySound, Text: "beep"},
		{Kind: protocol.PlaySound, Text: "beep", DigitVar: "k", Where: "background"},
		{Kind: protocol.PlayTTS, Text: "hi", Voice: "v"},
		{Kind: protocol.SetCaller, Name: "Name", Number: "5551234"},
		{Kind: protocol.Jump, Context: "Ctx", Option: "#", Priority: 2},
	})
	sameVerbs(t, s.get("/t/chain").verbs(t), []protocol.Verb{
		{Kind: protocol.PlaySound, Text: "a", Where: "foreground"},
		{Kind: protocol.Pause, Length: 1},
		{Kind: protocol.Hangup},
	})
	sameVerbs(t, s.get("/t/jumpdef").verbs(t), []protocol.Verb{{Kind: protocol.Jump, Context: "Main", Option: "start"}})
	sameVerbs(t, s.get("/t/jumpstar").verbs(t), []protocol.Verb{{Kind: protocol.Jump, Context: "Ctx", Option: "*"}})

	empty := s.get("/t/nothing")
	if len(empty.verbs(t)) != 0 || !strings.Contains(empty.body, "<Response></Response>") {
		t.Errorf("a script that adds nothing answered %q", empty.body)
	}
	esc := s.get("/t/escape")
	sameVerbs(t, esc.verbs(t), []protocol.Verb{{Kind: protocol.PlayTTS, Text: "Tom & Jerry <say> \"hi\" \uFFFD", Voice: "a\"b"}})
	sameVerbs(t, s.get("/t/unicode").verbs(t), []protocol.Verb{{Kind: protocol.PlayTTS, Text: "Bună ziua, 你好 😀", Voice: "Ioana"}})
}

// TestBuilderRejectsInvalidArguments: each mistake is a Lua error naming the
// script line, the IVR gets a 500 with an empty response, and the log says
// what was wrong.
func TestBuilderRejectsInvalidArguments(t *testing.T) {
	bad := [][2]string{
		{`response:pause("soon")`, "length must be a number"},
		{`response:pause(2.5)`, "whole number"},
		{`response:pause(0)`, "whole number of at least 1"},
		{`response:pause(99999)`, "Pause length must be 1..3600"},
		{`response:set_caller{name = "VIP"}`, "number is required"},
		{`response:set_caller{number = "1"}`, "name is required"},
		{`response:set_caller("", "1")`, "name must not be empty"},
		{`response:set_var("1abc", "x")`, "not a variable name"},
		{`response:set_var("ok")`, "value is required"},
		{`response:set_var("ok", {})`, "value must be a string, got table"},
		{`response:play_sound{"x", where = "left"}`, "where must be foreground or background"},
		{`response:play_sound{"x", view = "mine"}`, "view must be system or client"},
		{`response:play_sound{"x", lopp = 2}`, `unknown option "lopp"`},
		{`response:play_sound{where = "background"}`, "sound is required"},
		{`response:play_sound{"x", where = "foreground", digitvar = "d"}`, "digitvar needs where=background"},
		{`response:play_sound("x", 5)`, "must be an options table"},
		{`response:play_tts{"hello"}`, "voice is required"},
		{`response:play_tts{"hello", voice = "v", volume = -1}`, "whole number of at least 1"},
		{`response:jump{option = "1"}`, "context is required"},
		{`response:jump{context = "A", option = "12"}`, "Jump option must be"},
		{`response:jump{context = "A", priority = "x"}`, "priority must be a number"},
		{`response:hangup() response:pause(1)`, "response:pause after Hangup"},
		{`response:jump{context = "A"} response:hangup()`, "response:hangup after Jump"},
		{`response:hangup(1)`, "takes no arguments"},
		{`response.hangup()`, "with a colon"},
		{`response.pause = nil`, "response is read-only"},
	}
	files := map[string]string{}
	for i, c := range bad {
		files[fmt.Sprintf("t/b%d.lua", i)] = "local _ = 1\n" + c[0] + "\n"
	}
	s := start(t, scriptsDir(t, files), engine.Options{})
	for i, c := range bad {
		src, want := c[0], c[1]
		name := fmt.Sprintf("b%d", i)
		s.get("/t/"+name).wantEmptyError(t, 500)
		found := false
		for _, rec := range s.logs.records("script failed") {
			if rec["script"] == name {
				found = true
				if rec["location"] != "t/"+name+".lua:2" {
					t.Errorf("%s: location %v, want t/%s.lua:2", src, rec["location"], name)
				}
				if msg, _ := rec["error"].(string); !strings.Contains(msg, want) {
					t.Errorf("%s: error %q, want it to contain %q", src, msg, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no log record", src)
		}
	}
}

// TestRequestObject: parameters, shortcuts, event classification, GET vs
// POST, and a body overriding the query.
func TestRequestObject(t *testing.T) {
	s := start(t, scriptsDir(t, map[string]string{
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
		"t/typo.lua":      `local x = request.callid`,
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
	got := vars(s.get("/t/dump?" + q.Encode()).verbs(t))
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
	got = vars(s.post("/t/dump?team=billing&subscription_code=fromquery", url.Values{
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
	got = vars(s.post("/t/iter?code=q&team=ops", url.Values{"code": {"b"}, "x": {""}}).verbs(t))
	for k, v := range map[string]string{"all": "code=b,team=ops,x=", "code": "b", "keys": "3", "changed": "changed"} {
		if got[k] != v {
			t.Errorf("iter %s = %q, want %q", k, got[k], v)
		}
	}

	if got := vars(s.get("/t/sub/").verbs(t)); got["script"] != "sub" {
		t.Errorf("folder index script name = %q", got["script"])
	}
	s.get("/t/typo").wantEmptyError(t, 500)
	if recs := s.logs.records("script failed"); len(recs) == 0 || !strings.Contains(recs[len(recs)-1]["error"].(string), `request has no field "callid"`) {
		t.Errorf("typo in a request field is not reported: %v", recs)
	}
}

func TestHTTPEdges(t *testing.T) {
	s := start(t, scriptsDir(t, map[string]string{"t/a.lua": `response:hangup()`}), engine.Options{})
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
	sameVerbs(t, s.get("/t/a").verbs(t), []protocol.Verb{{Kind: protocol.Hangup}})
}
