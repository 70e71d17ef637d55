package luaapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/testkit"
	"github.com/dialua/dialua/runtime/testkit/redistest"
)

const storeScript = `
local op = request.params.op
if op == "set" then
  assert(store.set("name", "Alice"))
  assert(store.set("n", 42.5, 3600))
  assert(store.set("flag", false))
  assert(store.set("t", {a = 1, list = {"x", "y"}}))
  assert(store.set("brief", "soon gone", 1))
  assert(store.set("gone", "x"))
  assert(store.set("gone", nil))
elseif op == "incr" then
  response:set_var("incr", assert(store.incr("count")))
  response:set_var("incr5", assert(store.incr("count", 5, 60)))
elseif op == "get" then
  local t = store.get("t")
  response:set_var("name", tostring(store.get("name")))
  response:set_var("n", tostring(store.get("n")))
  response:set_var("flag_type", type(store.get("flag")))
  response:set_var("t", t and (t.a .. t.list[2]) or "nil")
  response:set_var("brief", tostring(store.get("brief")))
  response:set_var("gone", tostring(store.get("gone")))
  response:set_var("count", tostring(store.get("count")))
  response:set_var("session", tostring(session.get("name")))
elseif op == "del" then
  assert(store.delete("name"))
elseif op == "bad" then
  local v, err = store.incr("name")
  response:set_var("err", tostring(err))
end`

// testStore runs the same checks against whatever store opts holds: values
// keep their type across requests without any CallID, keys are the
// tenant's alone, a key lives until its own TTL, and mistakes are Lua
// errors while store failures are nil, err.
func testStore(t *testing.T, opts engine.Options) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/s.lua": storeScript,
		"b/s.lua": storeScript,
		"a/bad.lua": `
local what = request.params.what
if what == "key" then store.get("")
elseif what == "longkey" then store.set(string.rep("k", 257), 1)
elseif what == "value" then store.set("k", print)
elseif what == "ttl" then store.set("k", 1, 0)
elseif what == "bigttl" then store.incr("k", 1, 31 * 24 * 3600)
elseif what == "ttltype" then store.incr("k", 1, "soon")
elseif what == "nan" then store.incr("k", 0/0)
end`,
	}), opts)
	e.Verbs(t, "/a/s", "op", "set")
	e.Verbs(t, "/a/s", "op", "incr", "CallID", "one-call")
	got := e.Vars(t, "/a/s", "op", "get", "CallID", "another-call")
	want := map[string]string{"name": "Alice", "n": "42.5", "flag_type": "boolean", "t": "1y",
		"brief": "soon gone", "gone": "nil", "count": "6", "session": "nil"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tenant a: %s = %q, want %q", k, got[k], v)
		}
	}
	// Tenant b has keys of the same names, its own, none of them set.
	got = e.Vars(t, "/b/s", "op", "get")
	if got["name"] != "nil" || got["count"] != "nil" || got["t"] != "nil" {
		t.Errorf("tenant b sees tenant a's keys: %v", got)
	}
	e.Verbs(t, "/b/s", "op", "incr")
	if got := e.Vars(t, "/a/s", "op", "get"); got["count"] != "6" {
		t.Errorf("tenant b's incr changed tenant a's count: %v", got)
	}
	e.Verbs(t, "/a/s", "op", "del")
	if got := e.Vars(t, "/a/s", "op", "get"); got["name"] != "nil" || got["n"] != "42.5" {
		t.Errorf("after delete: %v", got)
	}
	e.Verbs(t, "/a/s", "op", "set")
	if got := e.Vars(t, "/a/s", "op", "bad"); !strings.Contains(got["err"], "not a number") {
		t.Errorf("incr of a string: %v", got)
	}
	if d, ok := testkit.Within(3*time.Second, func() bool {
		return e.Vars(t, "/a/s", "op", "get")["brief"] == "nil"
	}); !ok {
		t.Errorf("a key with a 1 s TTL still there %v on", d)
	}
	if got := e.Vars(t, "/a/s", "op", "get"); got["name"] != "Alice" {
		t.Errorf("a key with the default TTL went with the short one: %v", got)
	}
	for what, msg := range map[string]string{
		"key": "1 to 256 bytes", "longkey": "1 to 256 bytes", "value": "not function",
		"ttl": "1 second to 30 days", "bigttl": "1 second to 30 days", "ttltype": "number of seconds",
		"nan": "finite",
	} {
		if se := e.Fail(t, "/a/bad", "what", what); !strings.Contains(se.Message, msg) {
			t.Errorf("%s: %q, want it to say %q", what, se.Message, msg)
		}
	}
}

func TestStoreInMemory(t *testing.T) { testStore(t, engine.Options{}) }

func TestStoreInRedis(t *testing.T) {
	testStore(t, engine.Options{Sessions: testkit.RedisSessions(t, redistest.Start(t), session.RedisOptions{})})
}

// TestStoreAcrossNodes: what one node's call stores, the next call on
// another node sharing the Redis sees; and while Redis is down, store
// calls return nil and a message the script can act on.
func TestStoreAcrossNodes(t *testing.T) {
	r := redistest.Start(t)
	dir := testkit.Scripts(t, map[string]string{
		"a/count.lua": `
local n, err = store.incr("calls:" .. request.caller_id_num)
response:set_var("r", n and tostring(n) or ("fallback: " .. err))`,
	})
	opts := engine.Options{Sessions: testkit.RedisSessions(t, r, session.RedisOptions{}), Timeout: 3 * time.Second}
	nodeA := testkit.NewEngine(t, dir, opts)
	opts.Sessions = testkit.RedisSessions(t, r, session.RedisOptions{})
	nodeB := testkit.NewEngine(t, dir, opts)
	for i, node := range []*testkit.Engine{nodeA, nodeB, nodeA} {
		got := node.Vars(t, "/a/count", "CallID", "call-"+string(rune('1'+i)), "CallerIDNum", "0003*306")
		if want := string(rune('1' + i)); got["r"] != want {
			t.Errorf("call %d: %v, want %s", i+1, got, want)
		}
	}
	r.Down()
	if got := nodeB.Vars(t, "/a/count", "CallerIDNum", "0003*306"); !strings.HasPrefix(got["r"], "fallback: session store unavailable") {
		t.Errorf("with Redis down: %v", got)
	}
}

// TestStoreWithoutBackend: an embedder's Standard modules without a
// session store answer every store call with nil and a message.
func TestStoreWithoutBackend(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/s.lua": `local v, err = store.get("k") response:set_var("r", tostring(v) .. " " .. tostring(err))`,
	}), engine.Options{Modules: []luaapi.Module{luaapi.Store(nil)}})
	if got := e.Vars(t, "/a/s"); got["r"] != "nil no store configured" {
		t.Errorf("without a store: %v", got)
	}
}
