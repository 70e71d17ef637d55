package luaapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

const sessionScript = `
local op = request.params.op
local out = {}
if op == "set" then
  assert(session.set("name", "Alice"))
  assert(session.set("n", 42.5))
  assert(session.set("flag", false))
  assert(session.set("t", {a = 1, list = {"x", "y"}, nested = {deep = true}}))
  assert(session.set("gone", "soon"))
  assert(session.set("gone", nil))
elseif op == "incr" then
  response:set_var("incr", assert(session.incr("count")))
  response:set_var("incr5", assert(session.incr("count", 5)))
elseif op == "get" then
  local t = session.get("t")
  response:set_var("name", tostring(session.get("name")))
  response:set_var("n", tostring(session.get("n")))
  response:set_var("flag", tostring(session.get("flag")))
  response:set_var("flag_type", type(session.get("flag")))
  response:set_var("t", t and (t.a .. t.list[2] .. tostring(t.nested.deep)) or "nil")
  response:set_var("gone", tostring(session.get("gone")))
  response:set_var("count", tostring(session.get("count")))
elseif op == "del" then
  assert(session.delete("name"))
elseif op == "bad" then
  local v, err = session.incr("name")
  response:set_var("err", tostring(err))
end
local v, err = session.get("name")
response:set_var("ok", tostring(err == nil))
`

// callParams are the parameters of a request for op in the call callID
// (none when "").
func callParams(op, callID string) []string {
	if callID == "" {
		return []string{"op", op}
	}
	return []string{"op", op, "CallID", callID}
}

// testSessions runs the same checks against whatever store opts holds.
func testSessions(t *testing.T, opts engine.Options) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/s.lua":      sessionScript,
		"b/s.lua":      sessionScript,
		"a/nocall.lua": `local v, err = session.get("x") response:set_var("err", tostring(err))`,
	}), opts)
	e.Verbs(t, "/a/s", callParams("set", "call-1")...)
	e.Verbs(t, "/a/s", callParams("incr", "call-1")...)
	got := e.Vars(t, "/a/s", callParams("get", "call-1")...)
	want := map[string]string{"name": "Alice", "n": "42.5", "flag": "false", "flag_type": "boolean",
		"t": "1ytrue", "gone": "nil", "count": "6", "ok": "true"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("same call: %s = %q, want %q", k, got[k], v)
		}
	}
	// Another call of the same tenant, and the same CallID under another
	// tenant, see nothing.
	for _, c := range []struct{ path, call string }{{"/a/s", "call-2"}, {"/b/s", "call-1"}} {
		got := e.Vars(t, c.path, callParams("get", c.call)...)
		if got["name"] != "nil" || got["count"] != "nil" {
			t.Errorf("%s in %s sees another session: %v", c.path, c.call, got)
		}
	}
	e.Verbs(t, "/a/s", callParams("del", "call-1")...)
	if got := e.Vars(t, "/a/s", callParams("get", "call-1")...); got["name"] != "nil" || got["n"] != "42.5" {
		t.Errorf("after delete: %v", got)
	}
	e.Verbs(t, "/a/s", callParams("set", "call-1")...)
	if got := e.Vars(t, "/a/s", callParams("bad", "call-1")...); !strings.Contains(got["err"], "not a number") {
		t.Errorf("incr of a string: %v", got)
	}
	if got := e.Vars(t, "/a/nocall"); !strings.Contains(got["err"], "no CallID") {
		t.Errorf("without CallID: %v", got)
	}
}

func TestSessionsInMemory(t *testing.T) { testSessions(t, engine.Options{}) }

func TestSessionValuesAndTTL(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/set.lua": `assert(session.set("k", "v"))`,
		"a/get.lua": `response:set_var("k", tostring(session.get("k")))`,
		"a/fn.lua":  `session.set("k", print)`,
		"a/big.lua": `local ok, err = session.set("k", string.rep("x", 70000)) response:set_var("err", tostring(err))`,
		"tenants.yaml": `
tenants:
  a:
    session: {ttl: 300ms}
`,
	}), engine.Options{})
	e.Verbs(t, "/a/set", "CallID", "c")
	if got := e.Vars(t, "/a/get", "CallID", "c"); got["k"] != "v" {
		t.Fatalf("before expiry: %v", got)
	}
	time.Sleep(400 * time.Millisecond)
	if got := e.Vars(t, "/a/get", "CallID", "c"); got["k"] != "nil" {
		t.Errorf("after the tenant's 300ms TTL the session still holds %v", got)
	}
	if se := e.Fail(t, "/a/fn", "CallID", "c"); se.Kind != engine.KindRuntime {
		t.Errorf("session.set of a function: %v", se)
	}
	if got := e.Vars(t, "/a/big", "CallID", "c"); !strings.Contains(got["err"], "too large") {
		t.Errorf("oversized value: %v", got)
	}
}
