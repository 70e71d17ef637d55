package luar

import (
	"context"
	"errors"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
	gluar "layeh.com/gopher-luar"

	"github.com/dialua/dialua/runtime/protocol"
)

// Per-call cost on a bare LState: a script loop of b.N calls, on a state
// with the run's context set (as the engine runs scripts), so each ns/op
// includes one Lua loop iteration (see BenchmarkLoop for that alone).
// bench_engine_test.go measures whole engine runs instead.

type BContact struct{ Name, Phone, Email, City string }

type benchCRM struct{ index map[string]*BContact }

func (c *benchCRM) Lookup(ctx context.Context, phone string) (*BContact, error) {
	if p, ok := c.index[phone]; ok {
		return p, nil
	}
	return nil, errors.New("not found")
}

// Find does Lookup's work without ctx and error, for plain gopher-luar
// (which cannot supply a context).
func (c *benchCRM) Find(phone string) *BContact { return c.index[phone] }

func (c *benchCRM) Name(phone string) string {
	if p, ok := c.index[phone]; ok {
		return p.Name
	}
	return ""
}

func newBenchCRM() *benchCRM {
	return &benchCRM{index: map[string]*BContact{
		"0040741234567": {Name: "Alice", Phone: "0040741234567", Email: "a@x.ro", City: "Cluj"},
	}}
}

// handWritten exposes the same CRM with plain LGFunctions: a userdata with
// a metatable whose __index is a methods table. Lookup returns a table of
// the fields (what hand-written bindings usually do).
func handWritten(L *lua.LState, c *benchCRM) lua.LValue {
	check := func(L *lua.LState) *benchCRM {
		ud, ok := L.Get(1).(*lua.LUserData)
		if ok {
			if c, ok := ud.Value.(*benchCRM); ok {
				return c
			}
		}
		L.ArgError(1, "crm expected")
		return nil
	}
	methods := L.NewTable()
	methods.RawSetString("Lookup", L.NewFunction(func(L *lua.LState) int {
		c := check(L)
		p, ok := c.index[L.CheckString(2)]
		if !ok {
			L.Push(lua.LNil)
			L.Push(lua.LString("not found"))
			return 2
		}
		t := L.CreateTable(0, 4)
		t.RawSetString("Name", lua.LString(p.Name))
		t.RawSetString("Phone", lua.LString(p.Phone))
		t.RawSetString("Email", lua.LString(p.Email))
		t.RawSetString("City", lua.LString(p.City))
		L.Push(t)
		return 1
	}))
	methods.RawSetString("Name", L.NewFunction(func(L *lua.LState) int {
		c := check(L)
		if p, ok := c.index[L.CheckString(2)]; ok {
			L.Push(lua.LString(p.Name))
		} else {
			L.Push(lua.LString(""))
		}
		return 1
	}))
	mt := L.NewTable()
	mt.RawSetString("__index", methods)
	mt.RawSetString("__metatable", lua.LString("locked"))
	ud := L.NewUserData()
	ud.Value = c
	ud.Metatable = mt
	return ud
}

func benchLoop(b *testing.B, expose func(v *vm) lua.LValue, body string) {
	v := newVM(b)
	v.globals.RawSetString("crm", expose(v))
	src := `local crm, p, n = crm, "0040741234567", N
		for i = 1, n do ` + body + ` end`
	chunk, err := parse.Parse(strings.NewReader(src), "bench.lua")
	if err != nil {
		b.Fatal(err)
	}
	proto, err := lua.Compile(chunk, "bench.lua")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v.call.Begin(ctx, &protocol.Request{Tenant: "acme", Script: "bench"}, nil, 1<<16)
	defer v.call.End()
	L := v.L
	// Warm the caches (metatables, method functions) outside the timing.
	for _, n := range []int{1, b.N} {
		v.globals.RawSetString("N", lua.LNumber(n))
		env := L.CreateTable(0, 4)
		env.Metatable = v.envMeta
		fn := L.NewFunctionFromProto(proto)
		fn.Env = env
		L.SetContext(ctx)
		if n != 1 {
			b.ReportAllocs()
			b.ResetTimer()
		}
		L.Push(fn)
		if err := L.PCall(0, 0, nil); err != nil {
			b.Fatal(err)
		}
		L.RemoveContext()
	}
}

var (
	bridge = func(v *vm) lua.LValue { return v.call.Open(v.L, Value("crm", newBenchCRM())) }
	gopher = func(v *vm) lua.LValue { return gluar.New(v.L, newBenchCRM()) }
	hand   = func(v *vm) lua.LValue { return handWritten(v.L, newBenchCRM()) }
)

func BenchmarkLoop(b *testing.B) { benchLoop(b, hand, ``) }

func BenchmarkLookup(b *testing.B) {
	b.Run("bridge", func(b *testing.B) { benchLoop(b, bridge, `local c = crm:Lookup(p)`) })
	b.Run("bridge-noctx", func(b *testing.B) { benchLoop(b, bridge, `local c = crm:Find(p)`) })
	b.Run("gopherluar", func(b *testing.B) { benchLoop(b, gopher, `local c = crm:Find(p)`) })
	b.Run("handwritten", func(b *testing.B) { benchLoop(b, hand, `local c = crm:Lookup(p)`) })
}

// The same, then reading two fields: views read lazily, the hand-written
// table was filled up front.
func BenchmarkLookupFields(b *testing.B) {
	const read = ` local x, y = c.Name, c.City`
	b.Run("bridge", func(b *testing.B) { benchLoop(b, bridge, `local c = crm:Lookup(p)`+read) })
	b.Run("gopherluar", func(b *testing.B) { benchLoop(b, gopher, `local c = crm:Find(p)`+read) })
	b.Run("handwritten", func(b *testing.B) { benchLoop(b, hand, `local c = crm:Lookup(p)`+read) })
}

func BenchmarkName(b *testing.B) {
	b.Run("bridge", func(b *testing.B) { benchLoop(b, bridge, `local s = crm:Name(p)`) })
	b.Run("gopherluar", func(b *testing.B) { benchLoop(b, gopher, `local s = crm:Name(p)`) })
	b.Run("handwritten", func(b *testing.B) { benchLoop(b, hand, `local s = crm:Name(p)`) })
}
