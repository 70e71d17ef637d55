package luar_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/luaapi/luar"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
)

// Directory is a Go CRM an embedder exposes to scripts.
type Directory struct{ names map[string]string }

// Name finds a caller's name; ctx is the run's, with its deadline and the
// embedder's context values.
func (d *Directory) Name(ctx context.Context, phone string) (string, error) {
	if n, ok := d.names[phone]; ok {
		return n, nil
	}
	return "", errors.New("unknown caller")
}

// Plan is what one tenant's billing shows its scripts.
type Plan struct{ Name string }

// Example embeds the engine with dialua's standard modules and three of
// its own: a hand-written one (luaapi.Func), a Go value shared by every
// tenant (luar.Value) and a value chosen per tenant (luar.PerTenant). It
// is the code docs/embedding.md shows.
func Example() {
	// Once, at start-up: gopher-lua's array limit is process-wide.
	sandbox.LimitArrays()

	dir, _ := os.MkdirTemp("", "scripts")
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "acme"), 0o755)
	os.WriteFile(filepath.Join(dir, "acme", "ivr.lua"), []byte(`
		local name, err = crm:Name(request.caller_id_num)
		response:set_var("name", name or err)
		response:set_var("plan", tostring(plan.Name))
		response:set_var("version", version.number)
	`), 0o644)

	version := luaapi.Func("version", func(L *lua.LState, run luaapi.Run) lua.LValue {
		t := L.NewTable() // made once per VM; the engine makes it read-only
		t.RawSetString("number", lua.LString("1.4"))
		return t
	})
	crm := &Directory{names: map[string]string{"0040741234567": "Alice"}}
	plans := map[string]*Plan{"acme": {Name: "gold"}}
	modules := append(luaapi.Standard(luaapi.Deps{}),
		version,
		luar.Value("crm", crm),
		luar.PerTenant("plan", func(tenant string) (any, error) {
			if p, ok := plans[tenant]; ok {
				return p, nil
			}
			return nil, nil // the tenant's plan.Name reads as nil
		}),
	)
	eng, err := engine.New(engine.Options{ScriptsDir: dir, Modules: modules})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer eng.Close()

	req := &protocol.Request{Method: "GET", Tenant: "acme", Script: "ivr", Params: []protocol.Param{
		{Name: protocol.ParamCallerIDNum, Value: "0040741234567"},
		{Name: protocol.ParamCallID, Value: "c-1"},
	}}
	out, err := eng.Run(context.Background(), req, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	doc, _ := protocol.Decode(out)
	fmt.Println(doc)

	// A second engine in the same process: its own scripts, limits and
	// modules (no crm, no plan here), its own VMs and scheduler.
	other, err := engine.New(engine.Options{ScriptsDir: dir, Modules: []luaapi.Module{version}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close()
	_, err = other.Run(context.Background(), req, nil)
	fmt.Println(err)
	// Output:
	// <SetVar name="name">Alice</SetVar> <SetVar name="plan">gold</SetVar> <SetVar name="version">1.4</SetVar>
	// acme/ivr.lua:2: attempt to index global 'crm' (a nil value) with key 'Name'
}
