package luaapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

func TestJSONModule(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{"t/j.lua": `
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
	got := e.Vars(t, "/t/j")
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

// TestSparseTableEncodingKeepsTheDeadline: json.encode of a table that
// shares one table of a million empty slots a hundred thousand times is
// refused in milliseconds, as is session.set of it (they used to scan 10^11
// slots, checking the deadline every 2*10^9, some ten seconds apart).
func TestSparseTableEncodingKeepsTheDeadline(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/enc.lua": `local s = {} s[1048575] = 1 s[1048575] = nil
local t = {} for i = 1, 1e5 do t[i] = s end
local _, err = json.encode(t)
response:set_var("err", tostring(err))
local ok, err2 = session.set("k", t)
response:set_var("serr", tostring(err2))`,
		"a/ok.lua": `response:hangup()`,
	}), engine.Options{Timeout: 3 * time.Second})
	begin := time.Now()
	got := e.Vars(t, "/a/enc")
	// The run's deadline is 3 s, where a scan that ignores it would end:
	// 2 s leaves room for a loaded machine and still tells the two apart.
	if d := time.Since(begin); d > max(2, raceSlowdown)*time.Second {
		t.Errorf("answered after %v; the conversions should be refused in milliseconds", d)
	}
	if !strings.Contains(got["err"], "too costly") || got["serr"] == "nil" {
		t.Errorf("json.encode err %q, session.set err %q", got["err"], got["serr"])
	}
	e.Verbs(t, "/a/ok")
}
