package sandbox

import (
	"strings"
	"testing"
	"time"
)

// A failed .. names its operand as Lua 5.1 does, and says nothing rather
// than guess when the line has two candidates.
func TestConcatErrorNamesTheOperand(t *testing.T) {
	for src, want := range map[string]string{
		`local x = "a" .. nil_var`:                                   "test.lua:1: attempt to concatenate global 'nil_var' (a nil value)",
		`local n local x = "a" .. n .. "b"`:                          "test.lua:1: attempt to concatenate local 'n' (a nil value)",
		`local u local function f() return u .. "x" end f()`:         "test.lua:1: attempt to concatenate upvalue 'u' (a nil value)",
		`local t = {} local x = "id=" .. t.id`:                       "test.lua:1: attempt to concatenate field 'id' (a nil value)",
		`local t = {} local x = "a" .. t`:                            "test.lua:1: attempt to concatenate local 't' (a table value)",
		`local x = "a" .. nil`:                                       "test.lua:1: attempt to concatenate a nil value",
		`local function f() end local x = "a" .. f()`:                "test.lua:1: attempt to concatenate a nil value",
		"local s = 'a'\nlocal x = s ..\n  missing":                   "test.lua:2: attempt to concatenate global 'missing' (a nil value)",
		`local p, q local x, y = "a" .. p, "b" .. q`:                 "test.lua:1: attempt to concatenate a nil value",
		`local p local x, y = "a" .. p, "b" .. p`:                    "test.lua:1: attempt to concatenate local 'p' (a nil value)",
		`local t = {} local x = "[" .. t["not a\tname"] .. "]"`:      "test.lua:1: attempt to concatenate a nil value",
		"local function f()\n  local v\n  return 'x' .. v\nend\nf()": "test.lua:3: attempt to concatenate local 'v' (a nil value)",
		// Names are kept per function, with the functions before and
		// around it in place.
		"local M = {}\nfunction M.a() return 'a' .. 1 end\nlocal t = {f = function() end, g = function() return M.a() .. '' end}\n" +
			"function M:b(x)\n  local y\n  local g = function() return x .. y end\n  return g()\nend\nM:b('k')": "test.lua:6: attempt to concatenate upvalue 'y' (a nil value)",
		"local a, b = 1\na, b = 'x' .. b, 2": "test.lua:2: attempt to concatenate local 'b' (a nil value)",
	} {
		// A failed run's VM is thrown away, as the engine does.
		_, err := run(t, New(Limits{}), src, time.Second)
		if err == nil {
			t.Errorf("%s: no error", src)
			continue
		}
		if msg, _, _ := strings.Cut(err.Error(), "\n"); msg != want {
			t.Errorf("%s:\n got %q\nwant %q", src, msg, want)
		}
	}
}

// pcall sees the same message, as in Lua 5.1.
func TestConcatErrorUnderPcall(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	got, err := run(t, vm, `local name return select(2, pcall(function() return "hi " .. name end))`, time.Second)
	if err != nil || got != "test.lua:1: attempt to concatenate upvalue 'name' (a nil value)" {
		t.Errorf("%q, %v", got, err)
	}
}

// The rewrites' helpers are dialua's, not the script's: a script cannot
// name them, so it cannot change what .. does or see them.
func TestReservedNames(t *testing.T) {
	for _, src := range []string{
		`local __dialua_concat = print`,
		`__dialua_concat = nil`,
		`return __dialua_fornum`,
		`local function f(__dialua_x) end`,
	} {
		_, err := Compile([]byte(src), "test.lua")
		if err == nil || !strings.Contains(err.Error(), "names starting with __dialua are reserved") {
			t.Errorf("%s: %v", src, err)
		}
	}
	if _, err := Compile([]byte(`local t = {} t.__dialua = 1 return t.__dialua`), "test.lua"); err != nil {
		t.Errorf("a field may have any name: %v", err)
	}
}
