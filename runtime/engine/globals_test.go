package engine_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
)

// A VM keeps a run's globals table for the tenant's next run when the run
// never wrote to it. Every way of writing into _G must make the next run
// start from a clean table all the same: the tenant's own next script, and
// another tenant's.
func TestGlobalsNeverReachTheNextRun(t *testing.T) {
	writers := map[string]string{
		"assign":       `x = "leak"`,
		"field":        `_G.x = "leak"`,
		"index":        `_G[1] = "leak"`,
		"rawset":       `rawset(_G, "x", "leak")`,
		"insert":       `table.insert(_G, "leak")`,
		"sort":         `rawset(_G, 1, "b"); table.sort(_G)`,
		"replace _G":   `_G._G = "leak"`,
		"remove _G":    `_G._G = nil`,
		"set, unset":   `x = "leak"; x = nil`,
		"function":     `function x() return "leak" end`,
		"alias":        `local g = _G; g.x = "leak"`,
		"nested alias": `local t = {g = _G}; t.g.x = "leak"`,
	}
	files := map[string]string{
		"acme/read.lua": `
			local n = 0
			for k in next, _G do n = n + 1 end
			response:set_var("keys", n)
			response:set_var("self", tostring(_G._G == _G))
			response:set_var("x", tostring(x))
			response:set_var("one", tostring(_G[1]))`,
		"acme/quiet.lua": `local a = 1`,
	}
	i := 0
	names := map[string]string{}
	for name, src := range writers {
		i++
		script := fmt.Sprintf("w%d", i)
		names[name] = script
		files["acme/"+script+".lua"] = src
	}
	files["evil/read.lua"] = files["acme/read.lua"]
	e := newEngine(t, engine.Options{ScriptsDir: writeScripts(t, files), VMs: 1})
	want := map[string]string{"keys": "1", "self": "true", "x": "nil", "one": "nil"}
	for name, script := range names {
		// A quiet run first, so the VM holds a table kept for reuse.
		if _, err := run(context.Background(), e, "acme", "quiet"); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 4; round++ {
			if _, err := run(context.Background(), e, "acme", script); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			reader := []string{"acme", "evil"}[round%2]
			got, err := run(context.Background(), e, reader, "read")
			if err != nil {
				t.Errorf("%s: the next run: %v", name, err)
				continue
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s (round %d): the next run, of %s, sees %s = %q, want %q", name, round, reader, k, got[k], w)
				}
			}
		}
	}
}
