package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
)

// A misspelt global is named in the error, as Lua 5.1 names it; where the
// line does not tell which value was nil, the message stays gopher-lua's.
func TestIndexErrorNamesTheGlobal(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"acme/typo.lua":   "local ok = true\nif ok then reponse:hangup() end\n",
		"acme/field.lua":  "response:set_var('x', reqest.params.code)\n",
		"acme/nested.lua": "local t = {}\nlocal x = t.a.b\n",
		"acme/two.lua":    "local x = (aa or {}).k or bb.k\n",
	})
	e := newEngine(t, engine.Options{ScriptsDir: dir})
	for script, want := range map[string]string{
		"typo":   "attempt to index global 'reponse' (a nil value) with key 'hangup'",
		"field":  "attempt to index global 'reqest' (a nil value) with key 'params'",
		"nested": "attempt to index a non-table object(nil) with key 'b'",
		"two":    "attempt to index global 'bb' (a nil value) with key 'k'",
	} {
		_, err := run(context.Background(), e, "acme", script)
		var se *engine.ScriptError
		if !errors.As(err, &se) || se.Message != want {
			t.Errorf("%s: %v, want %q", script, err, want)
		}
	}
}
