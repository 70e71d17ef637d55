package luaapi_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

// TestSandboxRemovesDangerousFunctions: every function that reaches files,
// processes, the environment, bytecode or other functions' globals is gone.
func TestSandboxRemovesDangerousFunctions(t *testing.T) {
	names := []string{
		"load", "loadstring", "loadfile", "dofile", "getfenv", "setfenv", "collectgarbage",
		"module", "newproxy", "_printregs", "io", "debug", "package", "channel", "coroutine",
		"os.execute", "os.exit", "os.getenv", "os.setenv", "os.remove", "os.rename", "os.tmpname",
		"os.setlocale", "string.dump", "_GOPHER_LUA_VERSION",
	}
	var src strings.Builder
	for _, n := range names {
		fmt.Fprintf(&src, "response:set_var(%q, type(%s))\n", strings.ReplaceAll(n, ".", "_"), n)
	}
	src.WriteString(`
for _, n in ipairs{"print", "pairs", "pcall", "string", "table", "math", "os", "require", "tostring"} do
  response:set_var("keep_" .. n, type(_G[n]))
end
response:set_var("os_time", type(os.time()))
response:set_var("os_date", type(os.date("%Y")))
response:set_var("os_clock", type(os.clock()))
`)
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{"t/probe.lua": src.String()}), engine.Options{})
	got := e.Vars(t, "/t/probe")
	for _, n := range names {
		if v := got[strings.ReplaceAll(n, ".", "_")]; v != "nil" {
			t.Errorf("%s is reachable (%s)", n, v)
		}
	}
	for _, n := range []string{"print", "pairs", "pcall", "require", "tostring"} {
		if got["keep_"+n] != "function" {
			t.Errorf("%s is missing: %s", n, got["keep_"+n])
		}
	}
	for _, n := range []string{"string", "table", "math", "os"} {
		if got["keep_"+n] != "table" {
			t.Errorf("library %s is missing", n)
		}
	}
	if got["os_time"] != "number" || got["os_date"] != "string" || got["os_clock"] != "number" {
		t.Errorf("safe os functions: %v", got)
	}
}

// TestTenantsCannotChangeWhatOthersSee runs a hostile script and then another
// tenant's script on the same single VM: every change the first one tries is
// either refused or gone.
func TestTenantsCannotChangeWhatOthersSee(t *testing.T) {
	hostile := `
local attempts = {
  function() string.upper = function() return "pwned" end end,
  function() rawset(string, "upper", function() return "pwned" end) end,
  function() getmetatable("").__index = {upper = function() return "pwned" end} end,
  function() getmetatable("").__index.upper = function() return "pwned" end end,
  function() setmetatable(string, {__index = function() return function() return "pwned" end end}) end,
  function() table.insert(string, "pwned") end,
  function() setmetatable(_G, nil) end,
  function() getmetatable(_G).__index.print = nil end,
  function() response.hangup = nil end,
  function() getmetatable(response).__index = {} end,
  function() setmetatable(request, {}) end,
  function() math.randomseed(1) end,
  function() os.date = nil end,
  function() tostring = nil end,
}
local refused = 0
for _, f in ipairs(attempts) do
  if not pcall(f) then refused = refused + 1 end
end
secret = "tenant a was here"
for i = 1, 100 do _G["g" .. i] = i end
_G[1] = "array part"
_G.print = nil
pairs = nil
response:set_var("refused", refused)
`
	victim := `
response:set_var("secret", tostring(secret))
response:set_var("upper", ("abc"):upper())
response:set_var("upper2", string.upper("abc"))
response:set_var("first", tostring(string[1]))
response:set_var("print", type(print))
response:set_var("pairs", type(pairs))
response:set_var("tostring", type(tostring))
response:set_var("date", type(os.date))
response:set_var("g50", tostring(g50))
response:set_var("a1", tostring(_G[1]))
local n = 0 for k in pairs(_G) do if rawget(_G, k) ~= nil then n = n + 1 end end
response:set_var("globals", n)
response:hangup()
`
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{"a/hostile.lua": hostile, "b/victim.lua": victim}), engine.Options{VMs: 1})
	got := e.Vars(t, "/a/hostile")
	// Only math.randomseed (which lasts for the run) and the assignment to
	// the run's own global tostring are allowed.
	if got["refused"] != "12" {
		t.Errorf("hostile script: %s of 14 attempts refused, want 12", got["refused"])
	}
	for i := 0; i < 3; i++ {
		v := e.Vars(t, "/b/victim")
		want := map[string]string{"secret": "nil", "upper": "ABC", "upper2": "ABC", "first": "nil",
			"print": "function", "pairs": "function", "tostring": "function", "date": "function",
			"g50": "nil", "a1": "nil", "globals": "1"} // only _G
		for k, w := range want {
			if v[k] != w {
				t.Errorf("victim run %d sees %s = %q, want %q", i, k, v[k], w)
			}
		}
	}
}

func TestRandomSeedDoesNotCarryOver(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/seed.lua": `math.randomseed(42) response:set_var("r", math.random(1, 1e9))`,
		"b/draw.lua": `response:set_var("r", math.random(1, 1e9))`,
	}), engine.Options{VMs: 1})
	seeded := e.Vars(t, "/a/seed")["r"]
	if again := e.Vars(t, "/a/seed")["r"]; again != seeded {
		t.Fatalf("randomseed is not deterministic within a run: %s vs %s", seeded, again)
	}
	e.Call(t, "/a/seed")
	if other := e.Vars(t, "/b/draw")["r"]; other == seeded {
		t.Errorf("tenant b drew tenant a's seeded number %s", other)
	}
}

// TestResourceBombs: each script tries to exhaust time, memory or stack. Each
// must fail cleanly (500, empty response, logged) within a bounded time, and
// the server must answer the next request normally.
func TestResourceBombs(t *testing.T) {
	bombs := map[string]string{
		"loop":          `while true do end`,
		"loop_in_pcall": `while true do pcall(function() while true do end end) end`,
		"rep":           `local s = string.rep("x", 1e9)`,
		"rep_sep":       `local s = ("x"):rep(1e5, ("y"):rep(1e5))`,
		"doubling":      `local s = "x" for i = 1, 64 do s = s .. s end`,
		"pattern":       `string.find(string.rep("a", 5000), ".-.-.-.-.-.-.-.-b")`,
		"gsub_blowup":   `local s = string.rep("x", 1e6):gsub("x", string.rep("y", 64))`,
		"format_width":  `local s = string.format("%099999999d", 1)`,
		"concat_table":  `local t = {} for i = 1, 1e4 do t[i] = string.rep("x", 1e5) end local s = table.concat(t)`,
		"recursion":     `local function f(n) return 1 + f(n + 1) end f(1)`,
		"mutual":        `local a, b a = function() return b() + 1 end b = function() return a() + 1 end a()`,
		"metamethod":    `local t = setmetatable({}, {__index = function(t, k) return t[k .. "x"] end}) local _ = t.a`,
		"unpack":        `local t = {} local x = {unpack(t, 1, 1e8)}`,
		"table_growth":  `local t = {} local i = 0 while true do i = i + 1 t[i] = i end`,
		"output":        `for i = 1, 1e6 do response:set_var("v", string.rep("x", 100)) end`,
		"error_object":  `error(setmetatable({}, {__tostring = function() while true do end end}))`,
		"gsub_callback": `string.gsub(string.rep("a", 1e5), "a", function() while true do end end)`,
		"sort_cmp":      `local t = {} for i = 1, 100 do t[i] = i end table.sort(t, function(a, b) while true do end end)`,
		"rep_empty":     `local s = string.rep("", 1e18)  error("rep of an empty string returned")`,
		"rep_overflow":  `assert(pcall(string.rep, "abcd", 2^62))`,
		"rep_overflow2": `assert(pcall(string.rep, "ab", 2^62))`,
		"gsub_pieces":   `assert(pcall(string.gsub, string.rep("x", 4194288), "^.*$", string.rep("%0", 1048576)))`,
		"unpack_wrap":   `assert(pcall(unpack, {}, -2^62, 2^62))`,
		"sparse_array":  `local t = {} t[67108863] = true t[1048575] = true local u = {} for i = 1, 1e9 do u[i] = i end`,
		"sort_strings":  `local big = string.rep("a", 4*1024*1024 - 1) local t = {} for i = 1, 300 do t[i] = big:sub(1, #big - ((i * 7919) % 300)) end table.sort(t)`,
		"long_class":    `string.find(string.rep("a", 1e5), "[" .. string.rep("b", 4*1024*1024 - 8) .. "]")`,
		"json_fanout":   `local a = {1} for i = 1, 24 do a = {a, a} end local s, err = json.encode(a) error(err)`,
		"print_flood":   `local b = string.rep("x", 4*1024*1024) for i = 1, 1e9 do print(b) end`,
		"setmt_number":  `setmetatable(0, {__index = function() return "pwned" end})`,
	}
	files := map[string]string{"t/ok.lua": `response:hangup()`}
	for name, src := range bombs {
		files["t/"+name+".lua"] = src
	}
	e := testkit.NewEngine(t, testkit.Scripts(t, files), engine.Options{Timeout: 300 * time.Millisecond, VMs: 2})
	// What the server would log of the failures ("script failed": the
	// message, location and traceback) counts with the engine's own log.
	failures, reported := 0, 0
	for name := range bombs {
		t.Run(name, func(t *testing.T) {
			begin := time.Now()
			se := e.Fail(t, "/t/"+name)
			failures++
			reported += len(se.Message) + len(se.Location) + len(se.Traceback)
			if d := time.Since(begin); d > 5*time.Second {
				t.Errorf("took %v to fail; the deadline is 300ms", d)
			}
			testkit.SameVerbs(t, e.Verbs(t, "/t/ok"), []protocol.Verb{{Kind: protocol.Hangup}})
		})
	}
	if failures != len(bombs) {
		t.Errorf("%d failures, want %d", failures, len(bombs))
	}
	if size := e.Logs.Len() + reported; size > 2<<20 {
		t.Errorf("the bombs wrote %d bytes of log; print and error messages should be bounded", size)
	}
}

func TestRequireStaysInTheTenant(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/lib/util.lua":       `local M = {} M.count = 0 function M.bump() M.count = M.count + 1 return M.count end return M`,
		"a/lib/deep/rates.lua": `return {gold = 3}`,
		"a/lib/loop1.lua":      `return require("loop2")`,
		"a/lib/loop2.lua":      `return require("loop1")`,
		"a/lib/broken.lua":     `return {`,
		"a/use.lua": `
local u = require("util")
local again = require("util")
response:set_var("same", tostring(u == again))
response:set_var("count", u.bump())
response:set_var("rate", require("deep.rates").gold)
`,
		"a/loop.lua":       `require("loop1")`,
		"a/broken.lua":     `require("broken")`,
		"a/other.lua":      `require("secret")`,
		"a/escape.lua":     `require("../b/lib/secret")`,
		"a/escape2.lua":    `require("..b.lib.secret")`,
		"b/lib/secret.lua": `return "b's secret"`,
	}), engine.Options{VMs: 1})
	for i := 0; i < 2; i++ {
		got := e.Vars(t, "/a/use")
		// A module runs once per run: its state starts over on every request.
		if got["same"] != "true" || got["count"] != "1" || got["rate"] != "3" {
			t.Errorf("run %d: %v", i, got)
		}
	}
	for _, c := range []struct{ path, msg string }{
		{"/a/loop", "requires itself"},
		{"/a/broken", `module "broken" does not compile`},
		{"/a/other", `module "secret" not found`},
		{"/a/escape", "invalid module name"},
		{"/a/escape2", "invalid module name"},
	} {
		if m := e.Fail(t, c.path).Message; !strings.Contains(m, c.msg) {
			t.Errorf("%s: error %q, want %q", c.path, m, c.msg)
		}
	}
}

// Unbounded tail recursion ends at the call-depth limit at once, inside
// pcall too, instead of running past its deadline building a traceback of
// one line per tail call; tail calls still return every value.
func TestTailCallBomb(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{
		"a/bomb.lua":   `local function f() return f() end f()`,
		"a/pbomb.lua":  `local function f() return f() end pcall(f) response:hangup()`,
		"a/values.lua": "local function f(n) if n == 0 then return 1, 2, 3 end return f(n - 1) end\n" + `local a, b, c = f(50) response:set_var("v", a .. b .. c)`,
	})
	e := testkit.NewEngine(t, dir, engine.Options{Timeout: time.Second})
	var failures []*engine.ScriptError
	for _, path := range []string{"/a/bomb", "/a/pbomb"} {
		begin := time.Now()
		_, err := e.Call(t, path)
		if d := time.Since(begin); d > 300*time.Millisecond {
			t.Errorf("%s answered after %v", path, d)
		}
		var se *engine.ScriptError
		if errors.As(err, &se) {
			failures = append(failures, se)
		}
		if path == "/a/bomb" && se == nil {
			t.Errorf("%s: %v, want a script error", path, err)
		} else if path == "/a/pbomb" && err != nil {
			t.Errorf("%s: %v; the overflow inside pcall is caught", path, err)
		}
	}
	if len(failures) != 1 || !strings.Contains(failures[0].Message, "stack overflow") {
		t.Fatalf("failures: %v", failures)
	}
	if tb := failures[0].Traceback; len(tb) > 4096 || strings.Count(tb, "\n") > 20 {
		t.Errorf("traceback of %d bytes, %d lines", len(tb), strings.Count(tb, "\n"))
	}
	if got := e.Vars(t, "/a/values")["v"]; got != "123" {
		t.Errorf("tail-called results %q, want 123", got)
	}
}
