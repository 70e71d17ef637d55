package sandbox

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// Every operand of .. is one value, as in Lua 5.1, whatever expression
// ends the chain: a call, a method call, ..., a parenthesised call, a
// nested concatenation.
func TestConcatOperandIsOneValue(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	for src, want := range map[string]string{
		`local function f() return "b", "c" end return "a" .. f()`:                "ab",
		`local n = "0003*306" return "CallerIDNum=" .. n:gsub("%*", "%%2A")`:      "CallerIDNum=0003%2A306",
		`local function g(...) return "a" .. ... end return g("b", "c")`:          "ab",
		`local function f() return "b", "c" end return "a" .. (f())`:              "ab",
		`local function f() return "c", "d" end return "a" .. ("b" .. f())`:       "abc",
		`local function f() return "b", "c" end return f() .. "x"`:                "bx",
		`local function f() return "b", "c" end return "a" .. "-" .. f()`:         "a-b",
		`local function f() return "b", "c" end local t = {"a" .. f()} return #t`: "1",
		`local function f() return "b", "c" end return select("#", "a" .. f())`:   "1",
		`local function f() return 1, 2 end return "n" .. f()`:                    "n1",
		`local s = "x" return ("%s=%s"):format("k", "v") .. s:rep(2)`:             "k=vxx",
		`local function f() return "b", "c" end return "a" .. f() .. "z"`:         "abz",
	} {
		got, err := runConcatChunk(vm, src, 0)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			vm.Close()
			vm = New(Limits{})
			continue
		}
		if lua.LVAsString(got) != want {
			t.Errorf("%s: %q, want %q", src, got.String(), want)
		}
	}
}
