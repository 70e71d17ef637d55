package luaapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

// TestEveryVerbAndAttribute builds each verb with each attribute, in both the
// positional and the named-table calling forms, and parses the XML back.
func TestEveryVerbAndAttribute(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"t/named.lua": `
response:set_var("SubscriptionCode", "09897987")
response:pause{length = 15}
response:play_sound{"Choose-contact-method", language = "fr", loop = 2, view = "client",
                    folder = "menus", where = "background", digitvar = "contact"}
response:play_tts{"Your balance is ten dollars", voice = "Alice-8KHz", volume = 100}
response:set_caller{name = "callerName", number = "92992"}
response:jump{context = "StartSupport", option = "1", priority = 3}
`,
		"t/positional.lua": `
response:pause()
response:pause(7)
response:pause("8")
response:set_var("n", 42)
response:set_var("empty", "")
response:play_sound("beep")
response:play_sound("beep", {digitvar = "k"})
response:play_tts("hi", {voice = "v"})
response:set_caller("Name", 5551234)
response:jump("Ctx", "#", 2)
`,
		"t/chain.lua":    `response:play_sound{"a", where = "foreground"}:pause(1):hangup()`,
		"t/jumpdef.lua":  `response:jump{context = "Main"}`,
		"t/nothing.lua":  `local x = 1`,
		"t/escape.lua":   `response:play_tts{"Tom & Jerry <say> \"hi\" \0", voice = "a\"b"}`,
		"t/unicode.lua":  `response:play_tts{"Bună ziua, 你好 😀", voice = "Ioana"}`,
		"t/jumpstar.lua": `response:jump("Ctx", "*")`,
	}), engine.Options{})
	testkit.SameVerbs(t, e.Verbs(t, "/t/named"), []protocol.Verb{
		{Kind: protocol.SetVar, Name: "SubscriptionCode", Text: "09897987"},
		{Kind: protocol.Pause, Length: 15},
		{Kind: protocol.PlaySound, Text: "Choose-contact-method", Language: "fr", Loop: 2, View: "client", Folder: "menus", Where: "background", DigitVar: "contact"},
		{Kind: protocol.PlayTTS, Text: "Your balance is ten dollars", Voice: "Alice-8KHz", Volume: 100},
		{Kind: protocol.SetCaller, Name: "callerName", Number: "92992"},
		{Kind: protocol.Jump, Context: "StartSupport", Option: "1", Priority: 3},
	})
	testkit.SameVerbs(t, e.Verbs(t, "/t/positional"), []protocol.Verb{
		{Kind: protocol.Pause, Length: 10},
		{Kind: protocol.Pause, Length: 7},
		{Kind: protocol.Pause, Length: 8},
		{Kind: protocol.SetVar, Name: "n", Text: "42"},
		{Kind: protocol.SetVar, Name: "empty", Text: ""},
		{Kind: protocol.PlaySound, Text: "beep"},
		{Kind: protocol.PlaySound, Text: "beep", DigitVar: "k", Where: "background"},
		{Kind: protocol.PlayTTS, Text: "hi", Voice: "v"},
		{Kind: protocol.SetCaller, Name: "Name", Number: "5551234"},
		{Kind: protocol.Jump, Context: "Ctx", Option: "#", Priority: 2},
	})
	testkit.SameVerbs(t, e.Verbs(t, "/t/chain"), []protocol.Verb{
		{Kind: protocol.PlaySound, Text: "a", Where: "foreground"},
		{Kind: protocol.Pause, Length: 1},
		{Kind: protocol.Hangup},
	})
	testkit.SameVerbs(t, e.Verbs(t, "/t/jumpdef"), []protocol.Verb{{Kind: protocol.Jump, Context: "Main", Option: "start"}})
	testkit.SameVerbs(t, e.Verbs(t, "/t/jumpstar"), []protocol.Verb{{Kind: protocol.Jump, Context: "Ctx", Option: "*"}})

	empty, err := e.Run(context.Background(), testkit.Request("/t/nothing"), nil)
	if err != nil || !strings.Contains(string(empty), "<Response></Response>") || len(e.Verbs(t, "/t/nothing")) != 0 {
		t.Errorf("a script that adds nothing answered %q (%v)", empty, err)
	}
	testkit.SameVerbs(t, e.Verbs(t, "/t/escape"), []protocol.Verb{{Kind: protocol.PlayTTS, Text: "Tom & Jerry <say> \"hi\" \uFFFD", Voice: "a\"b"}})
	testkit.SameVerbs(t, e.Verbs(t, "/t/unicode"), []protocol.Verb{{Kind: protocol.PlayTTS, Text: "Bună ziua, 你好 😀", Voice: "Ioana"}})
}

// TestBuilderRejectsInvalidArguments: each mistake is a Lua error naming the
// script line, and the run fails (the server answers it 500 with an empty
// response, and logs the error: see runtime/server) saying what was wrong.
func TestBuilderRejectsInvalidArguments(t *testing.T) {
	bad := [][2]string{
		{`response:pause("soon")`, "length must be a number"},
		{`response:pause(2.5)`, "whole number"},
		{`response:pause(0)`, "whole number of at least 1"},
		{`response:pause(99999)`, "Pause length must be 1..3600"},
		{`response:set_caller{name = "VIP"}`, "number is required"},
		{`response:set_caller{number = "1"}`, "name is required"},
		{`response:set_caller("", "1")`, "name must not be empty"},
		{`response:set_var("1abc", "x")`, "not a variable name"},
		{`response:set_var("ok")`, "value is required"},
		{`response:set_var("ok", {})`, "value must be a string, got table"},
		{`response:play_sound{"x", where = "left"}`, "where must be foreground or background"},
		{`response:play_sound{"x", view = "mine"}`, "view must be system or client"},
		{`response:play_sound{"x", lopp = 2}`, `unknown option "lopp"`},
		{`response:play_sound{"x", "y"}`, `unknown option [2]`},
		{`response:play_sound{"x", nil, "z"}`, `unknown option [3]`},
		{`response:play_sound{"x", [7] = "y"}`, `unknown option [7]`},
		{`response:jump{context = "A", [1] = "B"}`, `unknown option [1]`},
		{`response:jump{"A", context = "A"}`, `unknown option [1]`},
		{`response:play_sound{where = "background"}`, "sound is required"},
		{`response:play_sound{"x", where = "foreground", digitvar = "d"}`, "digitvar needs where=background"},
		{`response:play_sound("x", 5)`, "must be an options table"},
		{`response:play_tts{"hello"}`, "voice is required"},
		{`response:play_tts{"hello", voice = "v", volume = -1}`, "whole number of at least 1"},
		{`response:jump{option = "1"}`, "context is required"},
		{`response:jump{context = "A", option = "12"}`, "Jump option must be"},
		{`response:jump{context = "A", priority = "x"}`, "priority must be a number"},
		{`response:hangup() response:pause(1)`, "response:pause after Hangup"},
		{`response:jump{context = "A"} response:hangup()`, "response:hangup after Jump"},
		{`response:hangup(1)`, "takes no arguments"},
		{`response.hangup()`, "with a colon"},
		{`response.pause = nil`, "response is read-only"},
	}
	files := map[string]string{}
	for i, c := range bad {
		files[fmt.Sprintf("t/b%d.lua", i)] = "local _ = 1\n" + c[0] + "\n"
	}
	e := testkit.NewEngine(t, testkit.Scripts(t, files), engine.Options{})
	for i, c := range bad {
		src, want := c[0], c[1]
		name := fmt.Sprintf("b%d", i)
		se := e.Fail(t, "/t/"+name)
		if se.Kind != engine.KindRuntime || se.Tenant != "t" || se.Script != name {
			t.Errorf("%s: %s error of %s/%s, want a runtime error of t/%s", src, se.Kind, se.Tenant, se.Script, name)
		}
		if se.Location != "t/"+name+".lua:2" {
			t.Errorf("%s: location %v, want t/%s.lua:2", src, se.Location, name)
		}
		if !strings.Contains(se.Message, want) {
			t.Errorf("%s: error %q, want it to contain %q", src, se.Message, want)
		}
	}
}
