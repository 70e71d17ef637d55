package engine_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/testkit"
)

// What an operator reads in the log for a script that fails: requested
// over HTTP from a real server, the 500's "script failed" record has the
// script's own file:line where the error was raised (from the VM) and a
// message that says what went wrong, never dialua's internal names.
func TestFailedRunsLogTheCulprit(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{
		"a/concat.lua": "local a = 1\nlocal x = 'a' .. nil_var\n",
		"a/local.lua":  "local n\nresponse:set_var('x', 'n=' .. n)\n",
		"a/field.lua":  "local p = {}\n\nlocal url = 'http://x/?id=' .. p.id\n",
		// In a loop, the .. helper is a local of the function (hoistConcat).
		"a/loopcat.lua":   "local function f(t)\n  local s = ''\n  for i = 1, 3 do\n    s = s .. i .. t[i]\n  end\nend\nf({'a', 'b'})\n",
		"a/table.lua":     "local function fail()\n  error({code = 1, msg = 'busy'})\nend\nfail()\n",
		"a/many.lua":      "error({1, 2, 3, 4, 5, 6, 7, 8, 9, big = string.rep('x', 100)})\n",
		"a/tostring.lua":  "local E = {__tostring = function(e) return 'E' .. e.code end}\n\nerror(setmetatable({code = 7}, E))\n",
		"a/badts.lua":     "error(setmetatable({code = 7}, {__tostring = function() error('inner') end}))\n",
		"a/notstring.lua": "error(setmetatable({}, {__tostring = function() return {} end}))\n",
		"a/nil.lua":       "local x = 1\nerror(nil)\n",
		"a/number.lua":    "error(42)\n",
		"a/bool.lua":      "\nerror(false)\n",
		// Too deep for the error handler to run: the VM's own traceback,
		// which names the helper behind .., is what is left.
		"a/overflow.lua": "local t = setmetatable({}, {__concat = function(a, b) return a .. b end})\nlocal x = 'a' .. t\n",
	})
	logs := testkit.NewLogs()
	lb, err := server.StartLoopback(engine.Options{ScriptsDir: dir, Timeout: 2 * time.Second}, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lb.Close)
	for script, want := range map[string][2]string{
		"concat":    {"a/concat.lua:2", "attempt to concatenate global 'nil_var' (a nil value)"},
		"local":     {"a/local.lua:2", "attempt to concatenate local 'n' (a nil value)"},
		"field":     {"a/field.lua:3", "attempt to concatenate field 'id' (a nil value)"},
		"loopcat":   {"a/loopcat.lua:4", "attempt to concatenate a nil value"},
		"table":     {"a/table.lua:2", `error object is a table value: {code=1, msg="busy"}`},
		"many":      {"a/many.lua:1", "error object is a table value: {1, 2, 3, 4, 5, 6, 7, 8, ...}"},
		"tostring":  {"a/tostring.lua:3", "E7"},
		"badts":     {"a/badts.lua:1", "error object is a table value: {code=7}"},
		"notstring": {"a/notstring.lua:1", "error object is a table value: {}"},
		"nil":       {"a/nil.lua:2", "error object is a nil value"},
		"number":    {"a/number.lua:1", "42"},
		"bool":      {"a/bool.lua:2", "error object is a boolean value: false"},
		"overflow":  {"a/overflow.lua:1", "stack overflow"},
	} {
		logs.Reset()
		resp, err := http.Get(lb.URL + "/a/" + script)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: status %d", script, resp.StatusCode)
		}
		var rec map[string]any
		if _, ok := testkit.Within(2*time.Second, func() bool {
			recs := logs.Records("script failed")
			if len(recs) > 0 {
				rec = recs[0]
			}
			return rec != nil
		}); !ok {
			t.Fatalf("%s: no 'script failed' record in\n%s", script, logs)
		}
		if rec["location"] != want[0] || rec["error"] != want[1] {
			t.Errorf("%s: logged %v: %v, want %s: %s", script, rec["location"], rec["error"], want[0], want[1])
		}
		tb, _ := rec["traceback"].(string)
		if !strings.Contains(tb, want[0]) || strings.Contains(logs.String(), "__dialua") {
			t.Errorf("%s: traceback %q (log %s)", script, tb, logs)
		}
	}
}

// A __tostring that never returns cannot hold the run past its deadline:
// it runs under it, and the run is reported as out of time.
func TestErrorObjectToStringKeepsTheDeadline(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/loop.lua": "error(setmetatable({}, {__tostring = function() while true do end end}))\n",
	}), engine.Options{Timeout: 200 * time.Millisecond})
	begin := time.Now()
	se := e.Fail(t, "/a/loop")
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("the run took %v with a deadline of 200ms", d)
	}
	if se.Kind != engine.KindTimeout || se.Location != "a/loop.lua:1" {
		t.Errorf("failure: %v (%s)", se, se.Kind)
	}
}
