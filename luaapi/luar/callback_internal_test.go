package luar

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// cbAPI calls the script's functions the ways Go code might.
type cbAPI struct{ kept func() string }

// Async calls f on another goroutine, as Go code must not.
func (c *cbAPI) Async(f func() string) (msg string) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { msg = fmt.Sprint(recover()) }()
		f()
	}()
	wg.Wait()
	return msg
}
func (c *cbAPI) Join(f func(sep string, parts ...string) string) string {
	return f("-", "a", "b", "c")
}
func (c *cbAPI) Try(f func(string) (int, error)) string {
	n, err := f("x")
	return fmt.Sprint(n, " ", err)
}
func (c *cbAPI) Keep(f func() string) string { c.kept = f; return f() }
func (c *cbAPI) Raw(f func() lua.LValue) string {
	return f().String()
}
func (c *cbAPI) Rec(f func(int) int) int { return f(3) }

func TestCallbackOnTheScriptsGoroutineOnly(t *testing.T) {
	v := newVM(t)
	api := &cbAPI{}
	v.open(Value("api", api))
	out := v.mustExec(t, `ran = false; return api:Async(function() ran = true return "x" end), ran`)
	if !strings.Contains(out[0].String(), "another goroutine") || out[1] != lua.LFalse {
		t.Fatalf("Async: %v", out)
	}
	// Kept and called in a later run: refused, nothing runs.
	v.mustExec(t, `api:Keep(function() return "first" end)`)
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "after the Go call") {
				t.Fatalf("kept callback: %v", r)
			}
		}()
		api.kept()
	}()
}

func TestCallbackConversions(t *testing.T) {
	v := newVM(t)
	v.open(Value("api", &cbAPI{}))
	v.mustExec(t, `
		local got = api:Join(function(sep, a, b, c) return a .. sep .. b .. sep .. c end)
		assert(got == "a-b-c", got)
		assert(api:Try(function(s) return 7 end) == "7 <nil>")
		assert(api:Try(function(s) return 0, "bad " .. s end) == "0 bad x")
		assert(api:Try(function(s) end) == "0 <nil>")
		assert(api:Raw(function() return "scalar" end) == "scalar")
		-- nested: a callback calling Go that calls a callback
		assert(api:Rec(function(n) return api:Rec(function(m) return m * 10 end) + n end) == 33)
	`)
	v.mustFail(t, `api:Try(function(s) return "x" end)`, "Try: bad result #1 from the script's function (int expected, got string)")
	v.mustFail(t, `api:Try(function(s) return 1, {} end)`, "error message (string) expected")
	// A lua.LValue result is a value Go keeps: no table, function or
	// userdata of the run's state.
	v.mustFail(t, `api:Raw(function() return {} end)`, "a Lua table cannot be stored in Go")
	v.mustFail(t, `api:Raw(function() return tostring end)`, "a Lua function cannot be stored in Go")
	// A Lua error in the callback is the script's error, pcall-able.
	v.mustExec(t, `local ok, err = pcall(api.Rec, api, function(n) error("cb " .. n) end)
		assert(not ok and err:find("cb 3", 1, true), err)`)
}

// Writable never stores a Lua table, function or userdata as it is, not
// even in a lua.LValue field.
type lvHolder struct {
	Any   lua.LValue
	List  []lua.LValue
	Plain []string
}

func TestWritableRefusesLuaValues(t *testing.T) {
	v := newVM(t)
	h := &lvHolder{}
	v.open(Value("h", h, Writable()))
	v.mustFail(t, `h.Any = {}`, "a Lua table cannot be stored in Go")
	v.mustFail(t, `h.Any = tostring`, "a Lua function cannot be stored in Go")
	v.mustFail(t, `h.Any = h`, "a Lua userdata cannot be stored in Go")
	v.mustFail(t, `h.List = {{}}`, "a Lua table cannot be stored in Go as []lua.LValue")
	v.mustExec(t, `h.Any = "s"; h.Plain = {"a", "b"}`)
	if h.Any != lua.LString("s") || len(h.Plain) != 2 || h.List != nil {
		t.Fatalf("%+v", h)
	}
}
