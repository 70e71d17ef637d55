package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

// An error's location is where the VM was, not what the message says.
func TestErrorLocationFromVM(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/forge.lua": "local x = 1\n" + `error("victim/ivr.lua:3: boom", 0)`,
		"a/table.lua": "\n\nerror({code = 1})",
		"a/deep.lua":  "local function f() return 1 + f() end\nf()",
		"a/index.lua": "local t = nil\nlocal y = t.field",
	}), engine.Options{})
	for path, want := range map[string][2]string{
		"/a/forge": {"a/forge.lua:2", "victim/ivr.lua:3: boom"},
		"/a/table": {"a/table.lua:3", "error object is a table value: {code=1}"},
		"/a/index": {"a/index.lua:2", ""},
		"/a/deep":  {"a/deep.lua:1", ""},
	} {
		se := e.Fail(t, path)
		if se.Location != want[0] {
			t.Errorf("%s: location %v, want %s", path, se.Location, want[0])
		}
		if msg := se.Message; want[1] != "" && msg != want[1] || strings.HasPrefix(msg, want[0]) {
			t.Errorf("%s: error %q", path, msg)
		}
		if tb := se.Traceback; !strings.Contains(tb, want[0]) {
			t.Errorf("%s: traceback %q lacks %s", path, tb, want[0])
		}
	}
}

// A caller's cancelled context stops the run, as its deadline would.
func TestRunHonoursCallerContext(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{"a/loop.lua": `while true do end`}),
		engine.Options{Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := e.Run(ctx, testkit.Request("/a/loop"), nil)
	if err == nil || time.Since(begin) > time.Second {
		t.Errorf("run ended after %v with %v", time.Since(begin), err)
	}
}

// TestMemoryWatchdog: a script that keeps allocating is stopped when the heap
// passes the limit, well before its deadline, and the engine carries on.
func TestMemoryWatchdog(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"t/hog.lua": `local t = {} for i = 1, 1e5 do t[i] = string.rep("x", 1e6) .. i end`,
		"t/ok.lua":  `response:hangup()`,
	}), engine.Options{Timeout: 20 * time.Second, MaxMemory: 96 << 20})
	begin := time.Now()
	se := e.Fail(t, "/t/hog")
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("the hog ran %v; the watchdog should stop it within a fraction of a second", d)
	}
	if se.Kind != engine.KindMemory {
		t.Fatalf("failure: %v", se)
	}
	testkit.SameVerbs(t, e.Verbs(t, "/t/ok"), []protocol.Verb{{Kind: protocol.Hangup}})
}

// When the heap passes its limit, the run holding the memory is stopped and
// a run of another tenant in flight at the same time is not.
func TestMemoryStopsOnlyTheHolder(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"hog/ivr.lua":  `local t = {} for i = 1, 1e5 do t[i] = string.rep("x", 1e6) .. i end`,
		"calm/ivr.lua": `local x, t0 = 0, os.clock() while os.clock() - t0 < 1.5 do x = x + 1 end response:hangup()`,
	}), engine.Options{Timeout: 20 * time.Second, MaxMemory: 96 << 20, MaxRunMemory: -1})
	calm := make(chan error, 1)
	go func() {
		_, err := e.Run(context.Background(), testkit.Request("/calm/ivr"), nil)
		calm <- err
	}()
	time.Sleep(50 * time.Millisecond)
	se := e.Fail(t, "/hog/ivr")
	if err := <-calm; err != nil {
		t.Errorf("the calm run in flight failed: %v; only the hog should be stopped", err)
	}
	if se.Tenant != "hog" || se.Kind != engine.KindMemory {
		t.Fatalf("failure: %v", se)
	}
}

// A run is stopped once it holds more than its own limit, whatever the
// heap; a run holding less carries on.
func TestRunMemoryLimit(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/tables.lua":  `local t = {} for i = 1, 1e7 do t[i] = {i} end`,
		"a/hash.lua":    `local t = {} for i = 1, 1e7 do t["k" .. i] = true end`,
		"a/strings.lua": `local t = {} for i = 1, 1e4 do t[i] = string.rep("y", 1e5) .. i end`,
		"a/small.lua":   `local t = {} for i = 1, 1e5 do t[i] = i end for i = 1, 2e5 do t[i % 100 + 1] = i end response:set_var("n", tostring(#t))`,
	}), engine.Options{Timeout: 20 * time.Second, MaxMemory: -1, MaxRunMemory: 16 << 20})
	for _, path := range []string{"/a/tables", "/a/hash", "/a/strings"} {
		_, err := e.Call(t, path)
		var se *engine.ScriptError
		if !errors.As(err, &se) || se.Kind != engine.KindMemory || !strings.Contains(se.Message, "16 MiB") {
			t.Errorf("%s: %v", path, err)
		}
	}
	if got := e.Vars(t, "/a/small")["n"]; got != "100000" {
		t.Errorf("small run: n = %q", got)
	}
}
