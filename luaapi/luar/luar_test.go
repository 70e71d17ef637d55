package luar

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

func setup(t testing.TB, opts ...Option) (*vm, *CRM) {
	v := newVM(t)
	crm := newCRM()
	v.open(Value("crm", crm, opts...))
	return v, crm
}

func TestReads(t *testing.T) {
	v, _ := setup(t)
	out := v.mustExec(t, `
		local c, err = crm:Lookup("0040741234567")
		assert(err == nil)
		assert(c.Name == "Alice" and c.name == "Alice" and c.Email == "a@x.ro")
		assert(c.Region == "EU", "promoted through unexported embedded struct")
		assert(c.Addr.City == "Cluj" and c.Addr.Lines[1] == "Str. 1")
		assert(c.Boss.Name == "Ana" and c.Boss.Boss == nil)
		assert(c.Meta.tier == "gold" and c.Meta.nope == nil and #c.Meta == 1)
		assert(#c.Tags == 1 and c.Tags[1] == "vip" and c.Tags[2] == nil)
		assert(c.label == "r" and c.Renamed == nil and c.Hidden == nil)
		assert(c:Greeting() == "hello Alice" and c:Upper() == "ALICE")
		assert(crm.Counts[3] == 3 and #crm.Counts == 3)
		assert(crm.Values[1]:Greeting() == "hello V", "addressable element keeps pointer methods")
		assert(crm:Name("0040741234567") == "Alice")
		assert(crm:Sum(1, 2, 3.5) == 6.5 and crm:Sum() == 0)
		assert(crm:Count({a = 1, b = {1, 2}}) == 2)
		assert(crm:Same(c) == true, "a view passed back to Go is the Go value")
		assert(crm.OnEvent("x") == "ev:x")
		assert(c == crm.Contacts[1] and c ~= c.Boss)
		local n = 0
		for i, p in crm.Contacts() do n = n + 1; assert(p.Name == "Alice") end
		for k, p in crm.Index() do n = n + 1; assert(k == "0040741234567") end
		assert(n == 2)
		local none, err = crm:Lookup("0000")
		assert(none == nil and err == "not found")
		assert(getmetatable(c) == "luar")
		return tostring(c)
	`)
	if out[0].String() != "*luar.Contact" {
		t.Fatalf("tostring: %v", out[0])
	}
}

// Requirement 2: every write path gopher-luar offers is closed, on the
// exposed value and on everything reached from it.
func TestReadOnly(t *testing.T) {
	v, crm := setup(t)
	before := snapshot(crm)
	writes := map[string]string{
		"field":              `crm.Contacts = nil`,
		"result field":       `local c = crm:Lookup("0040741234567"); c.Name = "Mallory"`,
		"nested struct":      `crm.Contacts[1].Addr.City = "X"`,
		"nested pointer":     `crm.Contacts[1].Boss.Name = "X"`,
		"map entry":          `crm.Index["0040741234567"] = nil`,
		"new map entry":      `crm.Index["1"] = crm.Contacts[1]`,
		"nested map":         `crm.Contacts[1].Meta.tier = "free"`,
		"slice element":      `crm.Contacts[1] = crm.Contacts[1].Boss`,
		"slice grow":         `crm.Contacts[2] = crm.Contacts[1]`,
		"value slice elem":   `crm.Values[1].Name = "X"`,
		"array element":      `crm.Counts[1] = 9`,
		"nested slice":       `crm.Contacts[1].Tags[1] = "X"`,
		"method replaced":    `crm.Lookup = function() end`,
		"func field":         `crm.OnEvent = nil`,
		"iterated element":   `for i, p in crm.Contacts() do p.Name = "X" end`,
		"iterated map value": `for k, p in crm.Index() do p.Email = "X" end`,
	}
	for _, src := range writes {
		v.mustFail(t, src, "read-only")
	}
	// gopher-luar's other writers are simply absent from our metatable.
	others := map[string]string{
		`local s = crm.Contacts + crm.Contacts[1]`: "cannot perform add", // gopher-luar: append
		`local p = crm.Contacts[1] ^ {}`:           "cannot perform pow", // gopher-luar: *p = v
		`local x = -crm.Contacts[1]`:               "__unm undefined",    // gopher-luar: deref/close chan
		`rawset(crm, "x", 1)`:                      "table expected",
		`setmetatable(crm, {})`:                    "cannot change a protected metatable",
	}
	for src, want := range others {
		v.mustFail(t, src, want)
	}
	if after := snapshot(crm); after != before {
		t.Fatalf("Go values changed:\n%s\n%s", before, after)
	}
	if spare := crm.Contacts[:2][1]; spare != nil {
		t.Fatalf("backing array written past len: %+v", spare)
	}
}

func TestWritable(t *testing.T) {
	v, crm := setup(t, Writable())
	v.mustExec(t, `
		local c = crm:Lookup("0040741234567")
		c.Name = "Bob"
		c.Addr.City = "Iasi"
		c.Boss.Name = "Boss"
		c.Meta.tier = "free"
		c.Meta.gone = nil
		c.Tags[1] = "x"
		crm.Counts[2] = 20
		crm.Index["1"] = c.Boss
		crm.Contacts[1] = c.Boss
	`)
	a := crm.Index["0040741234567"]
	if a.Name != "Bob" || a.Addr.City != "Iasi" || a.Boss.Name != "Boss" || a.Meta["tier"] != "free" ||
		a.Tags[0] != "x" || crm.Counts[1] != 20 || crm.Index["1"] != a.Boss || crm.Contacts[0] != a.Boss {
		t.Fatalf("writes not applied: %+v %+v", a, crm)
	}
	// Still refused when writable: a Lua function in Go memory, unknown
	// fields, growing a slice, and writing into a copy.
	v.mustFail(t, `crm.OnEvent = function(s) return s end`, "cannot be stored in Go")
	v.mustFail(t, `crm.Nope = 1`, "has no field Nope")
	v.mustFail(t, `crm.Contacts[2] = crm.Contacts[1]`, "out of range")
	v.open(Value("copy", *crm.Contacts[0], Writable()))
	v.mustFail(t, `copy.Name = "x"`, "cannot set Name in a copy")
}

// Requirement 3.
func TestUnexportedHidden(t *testing.T) {
	v, _ := setup(t)
	v.mustExec(t, `
		local c = crm.Contacts[1]
		assert(c.secret == nil and c.whisper == nil and c.base == nil)
		assert(crm.token == nil and crm.rotate == nil and crm.stored == nil)
		assert(select("#", pcall(function() return c:whisper() end)) == 2)
	`)
}

// Requirement 4.
func TestContextAndCallInfo(t *testing.T) {
	v, _ := setup(t)
	out, err := v.exec("globex", "req-42", `return crm:WhoAmI()`, time.Second)
	if err != nil || out[0].String() != "globex/crm/req-42" {
		t.Fatalf("WhoAmI = %v, %v", out, err)
	}
	// The next run on the same LState gets its own context and identity.
	out, _ = v.exec("initech", "req-43", `return crm:WhoAmI()`, time.Second)
	if out[0].String() != "initech/crm/req-43" {
		t.Fatalf("second run WhoAmI = %v", out)
	}
	// The Go function honours the run's deadline.
	start := time.Now()
	out, err = v.exec("acme", "c", `return crm:Wait()`, 50*time.Millisecond)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Wait took %v", d)
	}
	if err == nil && (len(out) != 1 || !strings.Contains(out[0].String(), "deadline")) {
		t.Fatalf("Wait: %v %v", out, err)
	}
	v.mustFail(t, `crm:WhoAmI("extra")`, "0 arguments expected, got 1")
}

// Requirement 5.
func TestPanicBecomesLuaError(t *testing.T) {
	v, _ := setup(t)
	msg := v.mustFail(t, "local x = 1\n\nlocal y = crm:Boom(5)\n", "crm.lua:3: Boom: Go panic: runtime error: index out of range")
	if strings.Contains(msg, "goroutine") || strings.Contains(msg, ".go:") {
		t.Fatalf("Go stack leaked to the script: %q", msg)
	}
	// The server log has the stack, tagged with the run.
	logged := v.logs.String()
	for _, want := range []string{"level=ERROR", "tenant=acme", "script=crm", "call_id=call-1", "global=crm",
		"func=Boom", "index out of range", "goroutine", "luar_test.go"} {
		if !strings.Contains(logged, want) {
			t.Fatalf("server log lacks %q:\n%s", want, logged)
		}
	}
	// pcall sees it as an ordinary error, and the state keeps working.
	v.mustExec(t, `
		local ok, err = pcall(crm.Boom, crm, 1)
		assert(not ok and err:find("Boom: Go panic", 1, true), err)
		assert(crm:Name("0040741234567") == "Alice")
	`)
	// A Lua error inside a callback called from Go stays a Lua error.
	v.mustFail(t, "crm:Each(function(n) error('cb failed') end)", "cb failed")
}

// Channels are refused; nothing can block a run outside its deadline.
func TestChannelsRefused(t *testing.T) {
	v, crm := setup(t)
	v.mustFail(t, `local e = crm.Events`, "crm.lua:1: chan string values are not exposed")
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "not exposed") {
			t.Fatalf("Value(chan) did not panic: %v", r)
		}
	}()
	Value("events", crm.Events)
}

// gopher-luar converts a table into a receiver; we accept only our views.
func TestReceiverForgery(t *testing.T) {
	v, _ := setup(t)
	v.mustFail(t, `crm.Name({Index = {}}, "x")`, "call it as value:Name(...)")
	v.mustFail(t, `local c = crm.Contacts[1]; c.Greeting(crm)`, "call it as value:Greeting(...)")
	v.mustFail(t, `crm.Name(nil, "x")`, "call it as value:Name(...)")
}

func TestCallbacksOnlyDuringCall(t *testing.T) {
	v, crm := setup(t)
	v.mustExec(t, `
		local names = crm:Each(function(n) return n .. "!" end)
		assert(names[1] == "Alice!")
	`)
	// Go kept the callback; calling it now (the run is over) must not run
	// the script's function on the LState.
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "after the Go call") {
			t.Fatalf("stored callback: %v", r)
		}
	}()
	crm.stored("late")
}

func TestHostileArguments(t *testing.T) {
	v, _ := setup(t)
	// Deep nesting would make gopher-luar recurse once per level (a Go
	// stack overflow is fatal); we refuse before converting.
	v.mustFail(t, `local t = {} for i = 1, 100000 do t = {t} end crm:Count({x = t})`, "nested deeper than 32")
	v.mustFail(t, `crm:Count({f = tostring})`, "cannot hold a function")
	v.mustFail(t, `crm:Count({c = crm})`, "cannot hold a userdata")
	v.mustFail(t, `crm:Count(5)`, "bad argument #1 to Count")
	v.mustFail(t, `crm:Name({})`, "bad argument #1 to Name")
	// A table converts (gopher-luar) to a new *Contact, not one of ours.
	v.mustExec(t, `assert(crm:Same({Name = "x"}) == false)`)
	v.mustFail(t, `crm:Count({[{}] = 1})`, "bad argument #1 to Count") // unhashable key
	v.mustExec(t, `assert(crm.Index[{}] == nil and crm.Contacts[1.5] == nil and crm.Contacts.x == nil)`)
}

// Requirement 6: nothing survives from one run to the next. The view is
// exposed once, in globals every run shares, as an embedder would.
func TestNothingSurvivesRuns(t *testing.T) {
	v, crm := setup(t)
	before := snapshot(crm)
	v.mustExec(t, `
		local c = crm:Lookup("0040741234567")
		leak = c                         -- into this run's env
		_G.leak2 = c.Tags                -- _G is this run's env too
		pcall(function() c.Name = "Mallory" end)
		pcall(function() crm.Contacts[1].Addr.City = "X" end)
		pcall(function() crm.Index.evil = c end)
		local names = crm:Each(function(n) return n end)  -- a Go slice view
		pcall(function() names[1] = "X" end)
		local mt = getmetatable(crm)
		assert(mt == "luar")
	`)
	v.mustExec(t, `
		assert(leak == nil and leak2 == nil)
		local c = crm:Lookup("0040741234567")
		assert(c.Name == "Alice" and crm.Contacts[1].Addr.City == "Cluj")
		assert(crm.Index.evil == nil)
		assert(getmetatable(c) == "luar")
		assert(crm:WhoAmI() == "acme/crm/call-1")
	`)
	if after := snapshot(crm); after != before {
		t.Fatalf("Go values changed:\n%s\n%s", before, after)
	}
	// The per-LState caches (ours and gopher-luar's) hold only metatables
	// and Lua functions made from Go types; none is reachable from a
	// script (getmetatable gives a string), so a script cannot write them.
	reg := v.L.Get(lua.RegistryIndex).(*lua.LTable)
	if reg.RawGetString(registryKey) == lua.LNil {
		t.Fatal("state not in registry")
	}
}

func TestExposeFuncAndScalars(t *testing.T) {
	v := newVM(t)
	v.open(Value("greet", func(ctx context.Context, who string) string {
		ci, _ := CallFrom(ctx)
		return "hi " + who + " from " + ci.Tenant
	}))
	v.open(Value("n", 42))
	v.open(Value("s", lua.LString("x")))
	v.open(Value("none", nil))
	v.open(Value("nilptr", (*Contact)(nil)))
	v.mustExec(t, `assert(greet("bob") == "hi bob from acme") assert(n == 42 and s == "x" and none == nil and nilptr == nil)`)
	// A Lua table belongs to one Lua state; a Value is opened in many.
	for _, bad := range []any{v.L.NewTable(), v.L.NewFunction(func(*lua.LState) int { return 0 }), complex(1, 2)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Value(%T) did not panic", bad)
				}
			}()
			Value("bad", bad)
		}()
	}
}
