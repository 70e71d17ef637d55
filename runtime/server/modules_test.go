package server

import (
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
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

func callParams(op, callID string) string {
	q := url.Values{"op": {op}}
	if callID != "" {
		q.Set("CallID", callID)
	}
	return "?" + q.Encode()
}

// testSessions runs the same checks against whatever store opts holds.
func testSessions(t *testing.T, opts engine.Options) {
	dir := scriptsDir(t, map[string]string{
		"a/s.lua":      sessionScript,
		"b/s.lua":      sessionScript,
		"a/nocall.lua": `local v, err = session.get("x") response:set_var("err", tostring(err))`,
	})
	s := start(t, dir, opts)
	s.get("/a/s" + callParams("set", "call-1")).verbs(t)
	s.get("/a/s" + callParams("incr", "call-1")).verbs(t)
	got := vars(s.get("/a/s" + callParams("get", "call-1")).verbs(t))
	want := map[string]string{"name": "Alice", "n": "42.5", "flag": "false", "flag_type": "boolean",
		"t": "1ytrue", "gone": "nil", "count": "6", "ok": "true"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("same call: %s = %q, want %q", k, got[k], v)
		}
	}
	// Another call of the same tenant, and the same CallID under another
	// tenant, see nothing.
	for _, path := range []string{"/a/s" + callParams("get", "call-2"), "/b/s" + callParams("get", "call-1")} {
		got := vars(s.get(path).verbs(t))
		if got["name"] != "nil" || got["count"] != "nil" {
			t.Errorf("%s sees another session: %v", path, got)
		}
	}
	s.get("/a/s" + callParams("del", "call-1")).verbs(t)
	if got := vars(s.get("/a/s" + callParams("get", "call-1")).verbs(t)); got["name"] != "nil" || got["n"] != "42.5" {
		t.Errorf("after delete: %v", got)
	}
	s.get("/a/s" + callParams("set", "call-1")).verbs(t)
	if got := vars(s.get("/a/s" + callParams("bad", "call-1")).verbs(t)); !strings.Contains(got["err"], "not a number") {
		t.Errorf("incr of a string: %v", got)
	}
	if got := vars(s.get("/a/nocall").verbs(t)); !strings.Contains(got["err"], "no CallID") {
		t.Errorf("without CallID: %v", got)
	}
}

func TestSessionsInMemory(t *testing.T) { testSessions(t, engine.Options{}) }

func TestSessionValuesAndTTL(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"a/set.lua": `assert(session.set("k", "v"))`,
		"a/get.lua": `response:set_var("k", tostring(session.get("k")))`,
		"a/fn.lua":  `session.set("k", print)`,
		"a/big.lua": `local ok, err = session.set("k", string.rep("x", 70000)) response:set_var("err", tostring(err))`,
		"tenants.yaml": `
tenants:
  a:
    session: {ttl: 300ms}
`,
	})
	s := start(t, dir, engine.Options{})
	s.get("/a/set?CallID=c").verbs(t)
	if got := vars(s.get("/a/get?CallID=c").verbs(t)); got["k"] != "v" {
		t.Fatalf("before expiry: %v", got)
	}
	time.Sleep(400 * time.Millisecond)
	if got := vars(s.get("/a/get?CallID=c").verbs(t)); got["k"] != "nil" {
		t.Errorf("after the tenant's 300ms TTL the session still holds %v", got)
	}
	s.get("/a/fn?CallID=c").wantEmptyError(t, 500)
	if got := vars(s.get("/a/big?CallID=c").verbs(t)); !strings.Contains(got["err"], "too large") {
		t.Errorf("oversized value: %v", got)
	}
}

func TestJSONModule(t *testing.T) {
	s := start(t, scriptsDir(t, map[string]string{"t/j.lua": `
local function put(k, v) response:set_var(k, tostring(v)) end
put("obj", json.encode({name = "Ann", n = 3, ok = true}))
put("arr", json.encode({1, "two", json.null, false}))
put("empty", json.encode({}))
put("str", json.encode("a\"b<c>"))
local v = assert(json.decode('{"a": [1, null, {"b": "c"}], "n": null, "x": 1.5}'))
put("a3b", v.a[3].b)
put("a2null", v.a[2] == json.null)
put("nabsent", v.n == nil)
put("x", v.x)
local cyc = {} cyc.self = cyc
local r, err = json.encode(cyc) put("cycle", err)
r, err = json.encode({f = print}) put("fn", err)
r, err = json.encode(0/0) put("nan", err)
r, err = json.decode('{"a": }') put("bad", err)
r, err = json.decode('') put("empty_in", err)
r, err = json.decode('[1] [2]') put("trailing", err)
put("top_null", json.decode("null") == nil)
`}), engine.Options{})
	got := vars(s.get("/t/j").verbs(t))
	want := map[string]string{
		"obj": `{"n":3,"name":"Ann","ok":true}`, "arr": `[1,"two",null,false]`, "empty": `{}`,
		"str": `"a\"b<c>"`, "a3b": "c", "a2null": "true", "nabsent": "true", "x": "1.5", "top_null": "true",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k, frag := range map[string]string{"cycle": "cycle", "fn": "cannot encode a function", "nan": "cannot encode NaN",
		"bad": "offset", "empty_in": "empty input", "trailing": "after the JSON value"} {
		if !strings.Contains(got[k], frag) || !strings.HasPrefix(got[k], "json.") {
			t.Errorf("%s error %q, want it to mention %q", k, got[k], frag)
		}
	}
}

func TestLogAndEnvModules(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"a/x.lua": `
log.info("checking subscription", {code = "934924", attempt = 2, ok = true})
log.warn("key is " .. env.API_KEY)
print("print also hides " .. env.API_KEY)
for i = 1, 5 do log.info(string.rep("a", 8180) .. env.API_KEY, {[env.API_KEY] = true}) end
response:set_var("key", env.API_KEY)
response:set_var("missing", tostring(env.NOPE))`,
		"b/x.lua": `response:set_var("key", tostring(env.API_KEY))`,
		"tenants.yaml": `
tenants:
  a:
    env: {API_KEY: "sk-live-123456", STAGE: "sk-live"}
  b: {}
`,
	})
	s := start(t, dir, engine.Options{})
	got := vars(s.get("/a/x?CallID=c42").verbs(t))
	if got["key"] != "sk-live-123456" || got["missing"] != "nil" {
		t.Errorf("tenant a env: %v", got)
	}
	if got := vars(s.get("/b/x").verbs(t)); got["key"] != "nil" {
		t.Errorf("tenant b reads tenant a's env: %v", got)
	}
	info := s.logs.records("checking subscription")
	fields := map[string]any{}
	if len(info) == 1 {
		fields, _ = info[0]["fields"].(map[string]any)
	}
	if len(info) != 1 || info[0]["tenant"] != "a" || info[0]["script"] != "x" || info[0]["call_id"] != "c42" ||
		fields["code"] != "934924" || fields["attempt"] != 2.0 || fields["ok"] != true || info[0]["level"] != "INFO" {
		t.Errorf("log.info record: %v", info)
	}
	s.logs.mu.Lock()
	all := s.logs.buf.String()
	s.logs.mu.Unlock()
	if strings.Contains(all, "sk-live") || strings.Contains(all, "123456") {
		t.Errorf("a secret reached the log:\n%s", all)
	}
	if len(s.logs.records("key is [redacted]")) != 1 {
		t.Errorf("log.warn not redacted as expected:\n%s", all)
	}
}

// TestTenantsFileLimitsAndReload: a tenant's timeout and concurrency limit
// apply, and an edit of the file applies within a couple of seconds.
func TestTenantsFileLimitsAndReload(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"a/loop.lua": `while true do end`,
		"a/busy.lua": `local t0 = os.clock() while os.clock() - t0 < 0.4 do end response:hangup()`,
		"a/env.lua":  `response:set_var("v", tostring(env.V))`,
		"tenants.yaml": `
defaults:
  timeout: 3s
tenants:
  a:
    timeout: 150ms
    max_concurrent: 1
    env: {V: "one"}
`,
	})
	s := start(t, dir, engine.Options{Timeout: 5 * time.Second})
	begin := time.Now()
	s.get("/a/loop").wantEmptyError(t, 500)
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("tenant timeout of 150ms not applied: the loop ran %v", d)
	}
	if rec := s.logs.records("script failed"); len(rec) == 0 || !strings.Contains(rec[0]["error"].(string), "150ms") {
		t.Errorf("timeout record: %v", rec)
	}

	// Raise the timeout for the busy script, then fire two at once: one runs,
	// the other gets 503 at once.
	writeFile(t, filepath.Join(dir, "tenants.yaml"), `
tenants:
  a:
    timeout: 2s
    max_concurrent: 1
    env: {V: "two"}
`)
	if d, ok := within(3*time.Second, func() bool { return vars(s.get("/a/env").verbs(t))["v"] == "two" }); !ok {
		t.Fatalf("tenants file edit not applied after %v", d)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 {
				time.Sleep(100 * time.Millisecond)
			}
			statuses[i] = s.get("/a/busy").status
		}()
	}
	wg.Wait()
	if statuses[0] != 200 || statuses[1] != 503 {
		t.Errorf("statuses %v, want [200 503] with max_concurrent 1", statuses)
	}

	// A broken edit is refused and logged; the last good version stays.
	writeFile(t, filepath.Join(dir, "tenants.yaml"), "tenants:\n  a:\n    timeout: soon\n")
	if _, ok := within(3*time.Second, func() bool {
		s.get("/a/env")
		return len(s.logs.records("tenants file does not parse; the previous version stays in force")) > 0
	}); !ok {
		t.Fatal("a broken tenants file was not reported")
	}
	if got := vars(s.get("/a/env").verbs(t)); got["v"] != "two" {
		t.Errorf("after a broken edit: %v", got)
	}
}

func TestBrokenTenantsFileStopsStartup(t *testing.T) {
	dir := scriptsDir(t, map[string]string{"tenants.yaml": "tenants: [1, 2]\n"})
	if _, err := engine.New(engine.Options{ScriptsDir: dir}); err == nil || !strings.Contains(err.Error(), "tenants.yaml") {
		t.Errorf("New with a broken tenants file: %v", err)
	}
}
