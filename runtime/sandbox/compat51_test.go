package sandbox

import (
	"context"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Lua 5.1 behaviour a ported script relies on and gopher-lua lacks or gets
// wrong. The expected values are what the reference Lua 5.1 interpreter
// gives for the same chunks.
var lua51Compat = [][2]string{
	// table.foreach / table.foreachi: every pair, the first non-nil result
	// stops the walk and is returned.
	{`local s = 0 table.foreach({a = 1, b = 2, 3}, function(k, v) s = s + v end) return s`, "6"},
	{`return table.foreach({10, 20, 30}, function(k, v) if v == 20 then return "at " .. k end end)`, "at 2"},
	{`return table.foreach({}, function() return 1 end)`, ""},
	{`local s = "" table.foreachi({"a", "b", "c", x = "no"}, function(i, v) s = s .. i .. v end) return s`, "1a2b3c"},
	{`return table.foreachi({5, 6, 7}, function(i, v) if i == 2 then return v * 10 end end)`, "60"},
	{`local n = 0 table.foreach(string, function(k, v) if k == "upper" then n = n + 1 end end) return n`, "1"},
	// string.gfind is gmatch under its Lua 5.0 name.
	{`local s = "" for w in string.gfind("one two", "%a+") do s = s .. "<" .. w .. ">" end return s`, "<one><two>"},
	{`local s = "" for k, v in string.gfind("a=1, b=2", "(%w+)=(%w+)") do s = s .. k .. v end return s`, "a1b2"},
	// table.maxn: the largest positive numeric key, integer or not.
	{`return table.maxn({[1] = 1, [2.5] = 2})`, "2.5"},
	{`return table.maxn({1, 2, [2^40] = 3, [-5] = 4, x = 5})`, "1099511627776"},
	{`return table.maxn({[-1] = 1, x = 2})`, "0"},
	{`return table.maxn({})`, "0"},
	{`local t = {1, 2, 3} t[3] = nil return table.maxn(t)`, "2"},
	// Numeric for converts string bounds as arithmetic does.
	{`local s = 0 for i = "1", "3" do s = s + i end return s`, "6"},
	{`local s = "" for i = 10, "0x0", " -5 " do s = s .. i .. "," end return s`, "10,5,0,"},
	{`local lo, hi = "2", "4" local s = 0 for i = lo, hi, "1" do s = s + i end return s`, "9"},
	{`local n = 0 for i = 1, "2.5" do n = n + 1 end return n`, "2"},
	{`local t = {} for i = 1, #t + 2 do t[i] = i end return #t`, "2"},
	// Multiple assignment: every table, key and value first, then the
	// assignments.
	{`local a, b = 1, 2 a, b = b, a return a, b`, "2|1"},
	{`local a, b, c = 1, 2, 3 a, b, c = c, a, b return a, b, c`, "3|1|2"},
	{`local i, a = 1, {} i, a[i] = i + 1, 20 return i, a[1], a[2]`, "2|20|nil"},
	{`local i, a = 1, {} a[i], i = 20, i + 1 return i, a[1], a[2]`, "2|20|nil"},
	{`local t = {} local old = t t, t.x = {}, 1 return old.x, t.x`, "1|nil"},
	{`local a, b = 1, 2 a, b = b + 10, a + 10 return a, b`, "12|11"},
	{`local a, b = 1, 2 local function two() return "x", "y" end a, b = two() return a, b`, "x|y"},
	{`local a, b, c = 1, 2, 3 a, b, c = 9 return a, b, c`, "9|nil|nil"},
	{`local n = 0 local function f() n = n + 1 return n end local a, b = 0, 0 a, b = f(), f(), f() return a, b, n`, "1|2|3"},
	{`local a = 1 local b a, b = 5, (function() return a end)() return a, b`, "5|1"},
	{`local log = {} local function k(x) log[#log + 1] = x return x end
	  local t, a = {}, 0 t[k("key")], a = k("value"), 1 return table.concat(log, ","), t.key, a`, "key,value|value|1"},
	{`g1, g2 = 1, 2 g1, g2 = g2, g1 return g1, g2`, "2|1"},
	{`local a, b = 1, 2 local function f() a, b = b, a end f() return a, b`, "2|1"},
}

func TestLua51Compat(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	for _, c := range lua51Compat {
		got, err := run(t, vm, c[0], time.Second)
		if err != nil {
			t.Errorf("%s: %v", c[0], err)
			continue
		}
		if got != c[1] {
			t.Errorf("%s: got %q, want %q", c[0], got, c[1])
		}
	}
}

// A bound that is not a number, nor a string that reads as one, fails
// with Lua 5.1's message, naming the bound.
func TestForBoundErrors(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	for src, want := range map[string]string{
		`for i = "one", 3 do end`:      "test.lua:1: 'for' initial value must be a number",
		`for i = 1, {} do end`:         "test.lua:1: 'for' limit must be a number",
		`for i = 1, 3, nil_var do end`: "test.lua:1: 'for' step must be a number",
		`local x for i = 1, x do end`:  "test.lua:1: 'for' limit must be a number",
	} {
		_, err := run(t, vm, src, time.Second)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

// pairs(_G) yields the run's own globals and every library name it has not
// replaced, once each, and never the rewrites' helpers; what it yields
// cannot be used to write into what other runs see.
func TestPairsOverGlobals(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	src := `
mine = 1
print = "replaced"
local seen, n = {}, 0
for k, v in pairs(_G) do
  n = n + 1
  if seen[k] then return "twice: " .. k end
  seen[k] = v
end
local lib = 0
table.foreach(_G, function(k) if k == "string" then lib = lib + 1 end end)
local internal = 0
for k in pairs(_G) do if tostring(k):find("dialua", 1, true) then internal = internal + 1 end end
local raw = 0
for k in next, _G do raw = raw + 1 end
local ok = pcall(function() seen.string.upper = nil end)
return seen.mine, seen.print, type(seen.string), type(seen.pairs), type(seen._G), lib, internal, raw, ok, string.upper("x")`
	got, err := run(t, vm, src, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// raw: next walks the run's own table only (_G, mine, print).
	if want := "1|replaced|table|function|table|1|0|3|false|X"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A run clearing its own globals as it walks still sees each name once.
	got, err = run(t, vm, `
a, b, c = 1, 2, 3
local n = 0
local G = _G
for k in pairs(G) do n = n + 1 G[k] = nil end
return n > 20, a, string ~= nil`, time.Second)
	if err != nil || got != "true|nil|true" {
		t.Errorf("clearing while walking: %q, %v", got, err)
	}
}

// pairs over a library table walks what indexing it gives, and the
// proxy stays read-only.
func TestPairsOverLibraryTables(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	got, err := run(t, vm, `
local n = 0 for k, v in pairs(math) do if k == "floor" and v == math.floor then n = n + 1 end end
local k = next(string)
return n, type(k), pcall(rawset, math, "floor", 1), math.floor(1.5)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "1|string|false|") || !strings.HasSuffix(got, "|1") {
		t.Errorf("got %q", got)
	}
}

// table.foreach with a Go function as the callback runs no Lua
// instruction between calls, so it checks the deadline itself.
func TestForeachStopsAtTheDeadline(t *testing.T) {
	for _, src := range []string{`table.foreach(big, stop)`, `table.foreachi(big, stop)`} {
		vm := New(Limits{})
		L := vm.L
		big := L.CreateTable(1<<16, 0)
		for i := 1; i <= 1<<16; i++ {
			big.RawSetInt(i, lua.LNumber(i))
		}
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		vm.Set("big", big)
		vm.Set("stop", L.NewFunction(func(L *lua.LState) int {
			calls++
			cancel()
			return 0
		}))
		_, err := runCtx(vm, src, ctx)
		cancel()
		if err == nil || calls > 1 {
			t.Errorf("%s: %d calls, the last %d after the deadline; error %v", src, calls, calls-1, err)
		}
	}
}

func runCtx(vm *VM, src string, ctx context.Context) (lua.LValue, error) {
	proto, err := Compile([]byte(src), "test.lua")
	if err != nil {
		return nil, err
	}
	L := vm.L
	fn := L.NewFunctionFromProto(proto)
	fn.Env = vm.NewEnv()
	L.SetContext(ctx)
	defer L.RemoveContext()
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		return nil, err
	}
	defer L.Pop(1)
	return L.Get(-1), nil
}
