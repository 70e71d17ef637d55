package luar_test

import (
	"bytes"
	"context"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/luaapi/luar"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
)

// handWritten is the CRM as a hand-written module doing the same work as
// the bridge: crm:Lookup(phone) calls the same Go method with the run's
// context and returns the customer as a table (what hand-written bindings
// usually return), or nil and the error's message.
func handWritten(crm *CRM) luaapi.Module {
	return luaapi.Func("crm", func(L *lua.LState, run luaapi.Run) lua.LValue {
		methods := L.NewTable()
		methods.RawSetString("Lookup", L.NewFunction(func(L *lua.LState) int {
			c, err := crm.Lookup(run.Context(), L.CheckString(2))
			if err != nil {
				L.Push(lua.LNil)
				L.Push(lua.LString(err.Error()))
				return 2
			}
			t := L.CreateTable(0, 3)
			t.RawSetString("Name", lua.LString(c.Name))
			t.RawSetString("Phone", lua.LString(c.Phone))
			t.RawSetString("Tier", lua.LString(c.Tier))
			L.Push(t)
			return 1
		}))
		mt := L.NewTable()
		mt.RawSetString("__index", methods)
		mt.RawSetString("__metatable", lua.LString("locked"))
		ud := L.NewUserData()
		ud.Metatable = mt
		return ud
	})
}

// BenchmarkEngine is one engine.Run of a small script that looks the caller
// up and answers with their name and tier, with crm exposed through the
// bridge and as a hand-written module. The difference is what the bridge
// costs per request (one call and two field reads).
func BenchmarkEngine(b *testing.B) {
	const src = `
		local c, err = crm:Lookup(request.caller_id_num)
		response:set_var("name", c.Name)
		response:set_var("tier", c.Tier)
	`
	for _, bc := range []struct {
		name string
		mod  luaapi.Module
	}{
		{"bridge", luar.Value("crm", newCRM())},
		{"handwritten", handWritten(newCRM())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := writeScripts(b, map[string]string{"acme/ivr.lua": src})
			e, err := engine.New(engine.Options{ScriptsDir: dir, Modules: append(luaapi.Standard(luaapi.Deps{}), bc.mod)})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			req := &protocol.Request{Method: "GET", Path: "/acme/ivr", Tenant: "acme", Script: "ivr", Params: []protocol.Param{
				{Name: protocol.ParamCallID, Value: "5205dc5cc5a411e5ab9eb3691b90ea15"},
				{Name: protocol.ParamCallerIDNum, Value: "0040741234567"},
			}}
			want := []byte(`<SetVar name="tier">gold</SetVar>`)
			ctx := context.Background()
			var dst []byte
			if dst, err = e.Run(ctx, req, dst); err != nil || !bytes.Contains(dst, want) {
				b.Fatalf("warm-up: %v\n%s", err, dst)
			}
			b.ReportAllocs()
			for b.Loop() {
				dst, err = e.Run(ctx, req, dst[:0])
				if err != nil {
					b.Fatal(err)
				}
			}
			if !bytes.Contains(dst, want) {
				b.Fatalf("output lacks %q:\n%s", want, dst)
			}
		})
	}
}
