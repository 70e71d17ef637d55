package loader

import (
	"errors"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/sandbox"
)

// A file that ends inside a block names the block, as Lua 5.1 does.
func TestUnclosedBlockNamed(t *testing.T) {
	for src, want := range map[string]string{
		"local x = 1\nif x then\n  response:hangup()\n": "x.lua:4: 'end' expected (to close 'if' at line 2) at end of file",
		"for i = 1, 3 do\n  local s = 'end'\n":          "x.lua:3: 'end' expected (to close 'for' at line 1) at end of file",
		"local function f()\n  while true do\n  end\n":  "x.lua:4: 'end' expected (to close 'function' at line 1) at end of file",
		"repeat\n  local a = 1\n":                       "x.lua:3: 'until' expected (to close 'repeat' at line 1) at end of file",
		"do\n  -- end\n  local t = {[[end]]}\n":         "x.lua:4: 'end' expected (to close 'do' at line 1) at end of file",
	} {
		_, err := sandbox.Compile([]byte(src), "x.lua")
		if err == nil {
			t.Fatalf("%q compiled", src)
		}
		se := compileError(err, "x.lua", []byte(src))
		if got := se.Error(); got != want {
			t.Errorf("%q:\n got %s\nwant %s", src, got, want)
		}
	}
	// Other syntax errors keep their message.
	_, err := sandbox.Compile([]byte("local = 1\n"), "x.lua")
	var se *ScriptError
	if se = compileError(err, "x.lua", []byte("local = 1\n")); errors.Is(err, nil) || strings.Contains(se.Message, "expected (to close") {
		t.Errorf("plain error: %v", se)
	}
}
