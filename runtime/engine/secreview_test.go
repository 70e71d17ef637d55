package engine_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/loader"
)

// Regression tests from the security review of 2026-12-02.

// Poll mode: a module reached through a symlink inside the tenant's folder,
// switched to another file, is served from its new target.
func TestPollFollowsModuleSymlinkSwitch(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "acme", "lib", "v1"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "acme", "lib", "v2"), 0o755))
	must(os.WriteFile(filepath.Join(root, "acme", "lib", "v1", "m.lua"), []byte(`return {v="v1"}`), 0o644))
	must(os.WriteFile(filepath.Join(root, "acme", "lib", "v2", "m.lua"), []byte(`return {v="v2"}`), 0o644))
	must(os.Symlink("v1/m.lua", filepath.Join(root, "acme", "lib", "m.lua")))
	must(os.WriteFile(filepath.Join(root, "acme", "ivr.lua"), []byte(`response:set_var("m", require("m").v)`), 0o644))
	e := newEngine(t, engine.Options{ScriptsDir: root, Poll: true})
	if v, err := run(context.Background(), e, "acme", "ivr"); err != nil || v["m"] != "v1" {
		t.Fatal(v, err)
	}
	tmp := filepath.Join(root, "acme", "lib", "tmp")
	must(os.Symlink("v2/m.lua", tmp))
	must(os.Rename(tmp, filepath.Join(root, "acme", "lib", "m.lua")))
	end := time.Now().Add(3 * time.Second)
	for {
		v, err := run(context.Background(), e, "acme", "ivr")
		if err == nil && v["m"] == "v2" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("module still %v %v 3s after its symlink was switched (poll mode)", v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Poll mode: after a tenant symlink switch, a script never loaded before
// does not get a module cached from the old tree.
func TestPollSwitchNeverMixesNewScriptOldModule(t *testing.T) {
	root := t.TempDir()
	for _, rel := range []string{"rel-v1", "rel-v2"} {
		v := rel[4:]
		writeRelease(t, filepath.Join(root, rel), v)
		p := filepath.Join(root, rel, "b.lua")
		if err := os.WriteFile(p, []byte(`response:set_var("script", "`+v+`"); response:set_var("module", require("m").v)`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("rel-v1", filepath.Join(root, "acme")); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, engine.Options{ScriptsDir: root, Poll: true})
	if v, err := run(context.Background(), e, "acme", "ivr"); err != nil || v["module"] != "v1" {
		t.Fatal(v, err)
	}
	tmp := filepath.Join(root, "tmp-link")
	if err := os.Symlink("rel-v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "acme")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	for i := 0; i < 20; i++ {
		v, err := run(context.Background(), e, "acme", "b")
		if err != nil {
			t.Fatal(err)
		}
		if v["script"] != v["module"] {
			t.Fatalf("mixed answer %v, %d requests after the switch", v, i)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A module's value is frozen at every depth: a nested table is no place
// for one run to leave something for the next.
func TestNestedModuleTableIsFrozen(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"evil/w.lua": `version.info.number = "evil was here"; version.info.hook = function() return "evil code" end`,
		"acme/r.lua": `response:set_var("n", version.info.number); if version.info.hook then response:set_var("hook", version.info.hook()) end`,
	})
	mod := luaapi.Func("version", func(L *lua.LState, run luaapi.Run) lua.LValue {
		t := L.NewTable()
		info := L.NewTable()
		info.RawSetString("number", lua.LString("1.4"))
		t.RawSetString("info", info)
		return t
	})
	e := newEngine(t, engine.Options{ScriptsDir: dir, VMs: 1, Modules: append(luaapi.Standard(luaapi.Deps{}), mod)})
	if _, err := run(context.Background(), e, "evil", "w"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("evil's write into the module: %v, want a read-only error", err)
	}
	v, err := run(context.Background(), e, "acme", "r")
	if err != nil || v["n"] != "1.4" {
		t.Errorf("tenant acme, next run on the VM: %v %v", v, err)
	}
}

// Through a nested table, tenant evil cannot plant a metatable whose
// __index would run in acme's next run and leave acme's env for evil.
func TestNestedModuleTableCannotCarryEnv(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"tenants.yaml": "tenants:\n  acme:\n    env: {API_KEY: \"sk-live-acme-123456\"}\n",
		"evil/plant.lua": `
			version.info.number = nil
			setmetatable(version.info, {__index = function(t, k)
				if k == "number" then rawset(t, "loot", env.API_KEY); return "1.4" end
			end})`,
		"evil/collect.lua": `response:set_var("loot", tostring(rawget(version.info, "loot")))`,
		"acme/r.lua":       `response:set_var("n", version.info.number)`,
	})
	mod := luaapi.Func("version", func(L *lua.LState, run luaapi.Run) lua.LValue {
		t := L.NewTable()
		info := L.NewTable()
		info.RawSetString("number", lua.LString("1.4"))
		t.RawSetString("info", info)
		return t
	})
	e := newEngine(t, engine.Options{ScriptsDir: dir, VMs: 1, Modules: append(luaapi.Standard(luaapi.Deps{}), mod)})
	if _, err := run(context.Background(), e, "evil", "plant"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("evil's write into the module: %v, want a read-only error", err)
	}
	v, err := run(context.Background(), e, "acme", "r")
	t.Logf("acme sees %v %v", v, err)
	v, err = run(context.Background(), e, "evil", "collect")
	t.Logf("evil collects %v %v", v, err)
	if v["loot"] != "nil" {
		t.Errorf("evil read acme's env value: %q", v["loot"])
	}
}

// loader.FS over an on-disk fs.FS (os.DirFS, os.Root.FS) refuses a
// tenant's symlink into another tenant's folder, as Folder does.
func TestFSRefusesSymlinks(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"other/lib/secret.lua": `return {key = "other-tenant-secret"}`,
		"acme/ivr.lua":         `response:set_var("stolen", require("peek").key)`,
	})
	if err := os.Symlink("../../other/lib/secret.lua", filepath.Join(dir, "acme", "lib", "peek.lua")); err != nil {
		os.MkdirAll(filepath.Join(dir, "acme", "lib"), 0o755)
		if err := os.Symlink("../../other/lib/secret.lua", filepath.Join(dir, "acme", "lib", "peek.lua")); err != nil {
			t.Fatal(err)
		}
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for name, fsys := range map[string]interface{}{"os.DirFS": os.DirFS(dir), "os.Root.FS": r.FS()} {
		e := newEngine(t, engine.Options{Source: loader.NewFS(fsys.(fs.FS))})
		v, err := run(context.Background(), e, "acme", "ivr")
		if err == nil && v["stolen"] != "" {
			t.Errorf("%s: tenant acme required tenant other's file: %v", name, v)
		}
	}
	e := newEngine(t, engine.Options{ScriptsDir: dir})
	if v, err := run(context.Background(), e, "acme", "ivr"); err == nil {
		t.Errorf("Folder: tenant acme required tenant other's file: %v", v)
	}
}
