package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
)

// dataModule is a lib/ file marked as data: built once per VM, shared
// frozen.
const dataModule = `-- dialua: data
return {
  name = "gold",
  list = {"a", "b", "c"},
  nested = {deep = {n = 7}},
  [10] = -2.5,
}
`

// A data module reads as the table it is, by every reader, and nothing a
// run does to it reaches the next run: every write is an error, at every
// depth, and the VM keeps one frozen copy (one identity across runs).
func TestDataModuleIsSharedFrozen(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"acme/lib/plans.lua": dataModule,
		"acme/lib/plain.lua": "return {count = 0}\n",
		"acme/read.lua": `local p = require("plans")
local keys = 0
for k in pairs(p) do keys = keys + 1 end
local ip = {}
for i, v in ipairs(p.list) do ip[#ip + 1] = i .. v end
response:set_var("name", p.name)
response:set_var("len", #p.list .. "/" .. table.getn(p.list))
response:set_var("ipairs", table.concat(ip, ","))
response:set_var("concat", table.concat(p.list, "+"))
response:set_var("unpack", select("#", unpack(p.list)))
response:set_var("deep", p.nested.deep.n)
response:set_var("neg", p[10])
response:set_var("keys", keys)
response:set_var("json", json.encode(p.nested))
response:set_var("id", tostring(p))
response:set_var("same", tostring(require("plans") == p))`,
		"acme/write.lua":      `require("plans").name = "hacked"`,
		"acme/deep.lua":       `require("plans").nested.deep.n = 8`,
		"acme/new.lua":        `require("plans").extra = 1`,
		"acme/rawset.lua":     `rawset(require("plans").list, 4, "d")`,
		"acme/insert.lua":     `table.insert(require("plans").list, "d")`,
		"acme/meta.lua":       `setmetatable(require("plans"), {})`,
		"acme/plain.lua":      `local m = require("plain"); m.count = m.count + 1; response:set_var("count", m.count)`,
		"other/lib/plans.lua": strings.Replace(dataModule, `"gold"`, `"other"`, 1),
		"other/read.lua":      `response:set_var("name", require("plans").name)`,
	})
	e := newEngine(t, engine.Options{ScriptsDir: dir, VMs: 1})
	ctx := context.Background()
	first, err := run(ctx, e, "acme", "read")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": "gold", "len": "3/3", "ipairs": "1a,2b,3c", "concat": "a+b+c", "unpack": "3",
		"deep": "7", "neg": "-2.5", "keys": "4", "json": `{"deep":{"n":7}}`, "same": "true"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %q, want %q", k, first[k], v)
		}
	}
	// Between two good runs the VM keeps its one frozen copy. (A failed
	// run's VM is thrown away, frozen modules with it.)
	if v, err := run(ctx, e, "acme", "read"); err != nil || v["id"] != first["id"] {
		t.Errorf("one VM built the module twice (%s, then %s; %v)", first["id"], v["id"], err)
	}
	for _, script := range []string{"write", "deep", "new", "rawset", "insert", "meta", "remove", "sort"} {
		if _, err := run(ctx, e, "acme", script); err == nil {
			t.Errorf("%s: writing into a data module succeeded", script)
		}
	}
	again, err := run(ctx, e, "acme", "read")
	if err != nil {
		t.Fatal(err)
	}
	if again["name"] != "gold" || again["deep"] != "7" || again["len"] != "3/3" {
		t.Errorf("after the writes: %v", again)
	}
	// Another tenant's file of the same name is its own.
	if v, err := run(ctx, e, "other", "read"); err != nil || v["name"] != "other" {
		t.Errorf("other tenant: %v %v", v, err)
	}
	// An unmarked module runs per request, writable, as before.
	for i := 0; i < 2; i++ {
		if v, err := run(ctx, e, "acme", "plain"); err != nil || v["count"] != "1" {
			t.Errorf("plain module, run %d: %v %v", i, v, err)
		}
	}
}

// A marked module whose code is not pure data (a call, a global, a
// function) runs per request like any other, marker or not; a saved change
// to a data module is served on the next request.
func TestDataModuleMarkerNeedsPureData(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"acme/lib/calls.lua": "-- dialua: data\nreturn {at = tostring(request.call_id)}\n",
		"acme/lib/plans.lua": dataModule,
		"acme/calls.lua":     `local m = require("calls"); m.at = m.at .. "!"; response:set_var("at", m.at)`,
		"acme/read.lua":      `response:set_var("name", require("plans").name)`,
	})
	e := newEngine(t, engine.Options{ScriptsDir: dir, VMs: 1})
	ctx := context.Background()
	for _, id := range []string{"c1", "c2"} {
		if v, err := run(ctx, e, "acme", "calls", "CallID", id); err != nil || v["at"] != id+"!" {
			t.Errorf("impure marked module, call %s: %v %v", id, v, err)
		}
	}
	if v, _ := run(ctx, e, "acme", "read"); v["name"] != "gold" {
		t.Fatalf("before the save: %v", v)
	}
	p := filepath.Join(dir, "acme", "lib", "plans.lua")
	if err := os.WriteFile(p, []byte(strings.Replace(dataModule, `"gold"`, `"silver"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := run(ctx, e, "acme", "read")
		if v["name"] == "silver" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the saved data module was not served within 5s: %v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A marked module too large to keep is run per request, as if unmarked,
// on every request (the VM remembers it cannot keep it).
func TestDataModuleTooLargeRunsPerRequest(t *testing.T) {
	var b strings.Builder
	b.WriteString("-- dialua: data\nreturn {")
	for i := 0; i < 20000; i++ {
		b.WriteString("1,")
	}
	b.WriteString("}\n")
	dir := writeScripts(t, map[string]string{
		"acme/lib/big.lua": b.String(),
		"acme/read.lua":    `local m = require("big"); m[1] = m[1] + 1; response:set_var("n", #m .. ":" .. m[1])`,
	})
	e := newEngine(t, engine.Options{ScriptsDir: dir, VMs: 1})
	for i := 0; i < 2; i++ {
		if v, err := run(context.Background(), e, "acme", "read"); err != nil || v["n"] != "20000:2" {
			t.Errorf("run %d: %v %v", i, v, err)
		}
	}
}
