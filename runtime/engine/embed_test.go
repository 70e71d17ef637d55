package engine_test

import (
	"context"
	"errors"
	"github.com/dialua/dialua/runtime/testkit"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/loader"
	"github.com/dialua/dialua/runtime/protocol"
)

func newEngine(t *testing.T, opts engine.Options) *engine.Engine {
	t.Helper()
	e, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func writeScripts(t *testing.T, files map[string]string) string { return testkit.Scripts(t, files) }

// run runs tenant/script and returns the SetVar values of the answer.
func run(ctx context.Context, e *engine.Engine, tenant, script string, params ...string) (map[string]string, error) {
	req := &protocol.Request{Method: "GET", Tenant: tenant, Script: script, Path: "/" + tenant + "/" + script}
	for i := 0; i+1 < len(params); i += 2 {
		req.Params = append(req.Params, protocol.Param{Name: params[i], Value: params[i+1]})
	}
	out, err := e.Run(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	resp, err := protocol.Decode(out)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, v := range resp.Verbs {
		if v.Kind == protocol.SetVar {
			vars[v.Name] = v.Text
		}
	}
	return vars, nil
}

// Two engines in one process, with different scripts (one from a folder,
// one from an fs.FS), different limits and different modules, serve side
// by side without seeing each other's scripts, limits or modules.
func TestTwoEnginesSideBySide(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"acme/ivr.lua":  `response:set_var("engine", "A"); response:set_var("has_session", tostring(session ~= nil))`,
		"acme/loop.lua": `while true do end`,
	})
	a := newEngine(t, engine.Options{ScriptsDir: dir, Timeout: 100 * time.Millisecond})
	fsys := fstest.MapFS{
		"acme/ivr.lua":   {Data: []byte(`response:set_var("engine", "B"); response:set_var("has_session", tostring(session ~= nil)); response:set_var("crm", crm.name)`)},
		"acme/loop.lua":  {Data: []byte(`local n = 0 for i = 1, 2e6 do n = n + i end response:set_var("sum", string.format("%.0f", n))`)},
		"other/ivr.lua":  {Data: []byte(`response:set_var("engine", "B-other")`)},
		"acme/lib/x.lua": {Data: []byte(`return 1`)},
	}
	crm := luaapi.Func("crm", func(L *lua.LState, run luaapi.Run) lua.LValue {
		t := L.NewTable()
		t.RawSetString("name", lua.LString("B's crm"))
		return t
	})
	b := newEngine(t, engine.Options{Source: loader.NewFS(fsys), Timeout: 5 * time.Second,
		Modules: []luaapi.Module{luaapi.JSON(0), crm}})

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			v, err := run(context.Background(), a, "acme", "ivr")
			if err != nil || v["engine"] != "A" || v["has_session"] != "true" {
				errs <- errors.New("A: " + strings.TrimSpace(strings.Join([]string{v["engine"], v["has_session"]}, " ")) + " " + errString(err))
			}
		}()
		go func() {
			defer wg.Done()
			tenant := "acme"
			if i%2 == 1 {
				tenant = "other"
			}
			v, err := run(context.Background(), b, tenant, "ivr")
			want := map[string]string{"acme": "B", "other": "B-other"}[tenant]
			if err != nil || v["engine"] != want || (tenant == "acme" && (v["has_session"] != "false" || v["crm"] != "B's crm")) {
				errs <- errors.New("B: " + v["engine"] + " " + v["has_session"] + " " + v["crm"] + " " + errString(err))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A's deadline is A's: its loop stops at 100ms; B's longer job, which
	// takes more than A's deadline would allow on a slow machine, finishes.
	start := time.Now()
	_, err := run(context.Background(), a, "acme", "loop")
	var se *engine.ScriptError
	if !errors.As(err, &se) || se.Kind != engine.KindTimeout || time.Since(start) > time.Second {
		t.Errorf("A's loop: %v after %v", err, time.Since(start))
	}
	if v, err := run(context.Background(), b, "acme", "loop"); err != nil || v["sum"] != "2000001000000" {
		t.Errorf("B's job: %v %v", v, err)
	}
	// Neither sees the other's scripts.
	if _, err := run(context.Background(), a, "other", "ivr"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("A serving B's tenant: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type ctxKey struct{}

// A module sees the run through luaapi.Run: the request, the tenant, and a
// context carrying the values of the caller's context and the run's
// deadline.
func TestModuleSeesTheRun(t *testing.T) {
	dir := writeScripts(t, map[string]string{"acme/ivr.lua": `response:set_var("who", whoami())`})
	who := luaapi.Func("whoami", func(L *lua.LState, run luaapi.Run) lua.LValue {
		return L.NewFunction(func(L *lua.LState) int {
			ctx := run.Context()
			dl, ok := ctx.Deadline()
			v, _ := ctx.Value(ctxKey{}).(string)
			L.Push(lua.LString(v + "|" + run.Request().Tenant + "|" + run.Request().Value("CallID") + "|" +
				map[bool]string{true: "deadline", false: "none"}[ok && time.Until(dl) > 0]))
			return 1
		})
	})
	e := newEngine(t, engine.Options{ScriptsDir: dir, Modules: append(luaapi.Standard(luaapi.Deps{}), who)})
	ctx := context.WithValue(context.Background(), ctxKey{}, "crm-42")
	v, err := run(ctx, e, "acme", "ivr", "CallID", "c1")
	if err != nil || v["who"] != "crm-42|acme|c1|deadline" {
		t.Fatalf("whoami: %v %v", v, err)
	}
	// The value is the caller's of this run only.
	v, err = run(context.Background(), e, "acme", "ivr", "CallID", "c2")
	if err != nil || v["who"] != "|acme|c2|deadline" {
		t.Fatalf("second run: %v %v", v, err)
	}
}

// A module list the engine cannot open is refused at New, with the reason.
func TestModuleNamesChecked(t *testing.T) {
	dir := writeScripts(t, map[string]string{"acme/ivr.lua": `return`})
	nothing := func(L *lua.LState, run luaapi.Run) lua.LValue { return lua.LTrue }
	for name, mods := range map[string][]luaapi.Module{
		`two modules named "x"`:            {luaapi.Func("x", nothing), luaapi.Func("x", nothing)},
		`"string" is taken by a built-in`:  {luaapi.Func("string", nothing)},
		`"request" is taken by a built-in`: {luaapi.Func("request", nothing)},
		`"9lives" is not a Lua identifier`: {luaapi.Func("9lives", nothing)},
		`"end" is not a Lua identifier`:    {luaapi.Func("end", nothing)},
		`two modules named "json"`:         append(luaapi.Standard(luaapi.Deps{}), luaapi.JSON(0)),
	} {
		_, err := engine.New(engine.Options{ScriptsDir: dir, Modules: mods})
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), "module name ", ""), strings.ReplaceAll(name, " by a built-in", "")) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// The engine sets no process-wide gopher-lua limit itself: it refuses to
// start until the program has.
func TestEngineNeedsArrayLimit(t *testing.T) {
	old := lua.MaxArrayIndex
	lua.MaxArrayIndex = 1 << 26
	defer func() { lua.MaxArrayIndex = old }()
	_, err := engine.New(engine.Options{ScriptsDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "LimitArrays") {
		t.Fatalf("got %v", err)
	}
	if lua.MaxArrayIndex != 1<<26 {
		t.Fatal("engine.New changed gopher-lua's array limit")
	}
}

// Tenants that deploy the same file share its compiled form, and each
// tenant's errors still name its own file.
func TestSharedTemplateErrorsNameOwnFile(t *testing.T) {
	src := "local t = nil\nresponse:set_var('x', t.field)\n"
	dir := writeScripts(t, map[string]string{"a/e.lua": src, "b/e.lua": src})
	e := newEngine(t, engine.Options{ScriptsDir: dir})
	for _, tenant := range []string{"a", "b", "a"} {
		_, err := run(context.Background(), e, tenant, "e")
		var se *engine.ScriptError
		if !errors.As(err, &se) || se.Location != tenant+"/e.lua:2" || se.Tenant != tenant {
			t.Errorf("%s: %#v", tenant, err)
		}
	}
}

// A module whose value could carry something from one run to the next is
// refused at New: a userdata whose metatable scripts could reach, a table
// with a metatable, a Lua closure with upvalues.
func TestUnfreezableModulesRefused(t *testing.T) {
	dir := writeScripts(t, map[string]string{"acme/ivr.lua": `return`})
	for name, open := range map[string]func(L *lua.LState, run luaapi.Run) lua.LValue{
		"locked metatable": func(L *lua.LState, run luaapi.Run) lua.LValue {
			ud := L.NewUserData()
			ud.Metatable = L.NewTable()
			return ud
		},
		"a table with a metatable": func(L *lua.LState, run luaapi.Run) lua.LValue {
			t := L.NewTable()
			inner := L.NewTable()
			inner.Metatable = L.NewTable()
			t.RawSetString("x", inner)
			return t
		},
		"upvalues": func(L *lua.LState, run luaapi.Run) lua.LValue {
			if err := L.DoString(`local n = 0; shared = function() n = n + 1; return n end`); err != nil {
				panic(err)
			}
			return L.GetGlobal("shared")
		},
	} {
		_, err := engine.New(engine.Options{ScriptsDir: dir, Modules: []luaapi.Module{luaapi.Func("bad", open)}})
		if err == nil || !strings.Contains(err.Error(), "module bad") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
