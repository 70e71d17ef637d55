package luaapi

import (
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
)

// Response accumulates the XML of one run's verbs. It writes each verb's
// element as the script adds it, so building a response allocates nothing
// beyond the buffer it reuses from run to run.
type Response struct {
	buf   []byte
	max   int
	ended protocol.Kind // Jump or Hangup once one was added
}

func (r *Response) reset(max int) {
	r.buf = r.buf[:0]
	r.max = max
	r.ended = ""
}

// AppendDocument appends the complete response document to dst.
func (r *Response) AppendDocument(dst []byte) []byte {
	dst = append(dst, protocol.Header...)
	dst = append(dst, r.buf...)
	return append(dst, protocol.Footer...)
}

func (r *Response) add(L *lua.LState, v *protocol.Verb) {
	if r.ended != "" {
		L.RaiseError("response:%s after %s: the IVR never executes verbs after %s", methodName(v.Kind), r.ended, r.ended)
	}
	if err := v.Check(); err != nil {
		L.RaiseError("response:%s: %s", methodName(v.Kind), err.Error())
	}
	n := len(r.buf)
	r.buf = protocol.AppendVerb(r.buf, v)
	if r.max > 0 && len(r.buf) > r.max {
		r.buf = r.buf[:n]
		L.RaiseError("response too large: over %d bytes", r.max)
	}
	if v.Ends() {
		r.ended = v.Kind
	}
}

var methodNames = map[protocol.Kind]string{
	protocol.Hangup: "hangup", protocol.Pause: "pause", protocol.SetVar: "set_var",
	protocol.PlaySound: "play_sound", protocol.Jump: "jump",
	protocol.SetCaller: "set_caller", protocol.PlayTTS: "play_tts",
}

func methodName(k protocol.Kind) string { return methodNames[k] }

// responseModule is `response`, one per VM, whose methods write into the
// VM's Response (reset for every run). Every method returns the response, so
// calls chain.
type responseModule struct{ r *Response }

func (responseModule) Name() string { return "response" }

func (m responseModule) Open(L *lua.LState, _ Run) Instance {
	return Instance{Value: openResponse(L, m.r)}
}

func openResponse(L *lua.LState, resp *Response) lua.LValue {
	ud := L.NewUserData()
	methods := L.NewTable()
	// One argument reader and one verb per VM, reused by every call: a VM
	// runs one script at a time, and reusing them keeps verb calls free of
	// allocations.
	a := &args{}
	v := &protocol.Verb{}
	add := func(name string, fill func(a *args, v *protocol.Verb)) {
		kind := kindOf(name)
		methods.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			if L.Get(1) != ud {
				L.RaiseError("call response:%s(...) with a colon", name)
			}
			*a = args{L: L, method: name}
			*v = protocol.Verb{Kind: kind}
			fill(a, v)
			a.finish()
			resp.add(L, v)
			L.SetTop(1)
			return 1
		}))
	}
	add("hangup", func(a *args, v *protocol.Verb) { a.none() })
	add("pause", func(a *args, v *protocol.Verb) {
		v.Length = protocol.DefaultPauseLength
		if n, ok := a.positionalOr("length", 2); ok {
			v.Length = a.whole("length", n)
		}
	})
	add("set_var", func(a *args, v *protocol.Verb) {
		v.Name = a.requiredString("name", a.get("name", 2))
		v.Text = a.requiredString("value", a.get("value", 3))
	})
	add("play_sound", func(a *args, v *protocol.Verb) {
		a.optionsAt(3)
		v.Text = a.requiredString("sound", a.get(first, 2))
		v.Language = a.optString("language")
		v.View = a.optString("view")
		v.Folder = a.optString("folder")
		v.Where = a.optString("where")
		v.DigitVar = a.optString("digitvar")
		if l := a.opt("loop"); l != lua.LNil {
			v.Loop = a.whole("loop", l)
		}
		if v.DigitVar != "" && v.Where == "" {
			v.Where = "background"
		}
	})
	add("play_tts", func(a *args, v *protocol.Verb) {
		a.optionsAt(3)
		v.Text = a.requiredString("text", a.get(first, 2))
		v.Voice = a.requiredString("voice", a.opt("voice"))
		if vol := a.opt("volume"); vol != lua.LNil {
			v.Volume = a.whole("volume", vol)
		}
	})
	add("jump", func(a *args, v *protocol.Verb) {
		v.Context = a.requiredString("context", a.get("context", 2))
		v.Option = "start"
		if o := a.get("option", 3); o != lua.LNil {
			v.Option = a.requiredString("option", o)
		}
		if p := a.get("priority", 4); p != lua.LNil {
			v.Priority = a.whole("priority", p)
		}
	})
	add("set_caller", func(a *args, v *protocol.Verb) {
		v.Name = a.requiredString("name", a.get("name", 2))
		v.Number = a.requiredString("number", a.get("number", 3))
	})
	ud.Metatable = lockedMeta(L, methods, "response")
	return ud
}

func kindOf(method string) protocol.Kind {
	for k, m := range methodNames {
		if m == method {
			return k
		}
	}
	panic("luaapi: no verb for method " + method)
}

// args reads a verb method's arguments, which come either positionally
// (response:jump("Ctx", "1")) or as one table (response:jump{context = "Ctx"}),
// and rejects option names the verb does not have, so a typo is an error
// rather than a silently missing attribute.
type args struct {
	L      *lua.LState
	method string
	tbl    *lua.LTable // the named-argument or options table, if any
	used   [8]string   // keys read from tbl; no verb has more
	nused  int
	form   int // 0: not looked at yet, 1: positional, 2: one named table
}

// first names the table's array slot 1: the sound or the text in
// response:play_sound{"beep", ...}.
const first = "[1]"

func (a *args) use(key string) {
	if a.nused < len(a.used) {
		a.used[a.nused] = key
		a.nused++
	}
}

func (a *args) wasUsed(key string) bool {
	for _, k := range a.used[:a.nused] {
		if k == key {
			return true
		}
	}
	return false
}

// named reports whether the arguments came as one table.
func (a *args) named() bool {
	if a.form == 0 {
		a.form = 1
		if t, ok := a.L.Get(2).(*lua.LTable); ok && a.L.GetTop() == 2 {
			a.tbl = sandbox.Contents(t)
			a.form = 2
		}
	}
	return a.form == 2
}

// optionsAt takes the options table from position pos when the first argument
// was not itself a table: response:play_sound("beep", {loop = 2}).
func (a *args) optionsAt(pos int) {
	if a.named() {
		return
	}
	switch o := a.L.Get(pos).(type) {
	case *lua.LTable:
		a.tbl = sandbox.Contents(o)
	case *lua.LNilType:
	default:
		a.L.RaiseError("response:%s: argument #%d must be an options table, got %s", a.method, pos-1, o.Type())
	}
}

// get returns the named field key (first means the table's array slot 1)
// or the positional argument pos.
func (a *args) get(key string, pos int) lua.LValue {
	if a.named() {
		a.use(key)
		if key == first {
			return a.tbl.RawGetInt(1)
		}
		return a.tbl.RawGetString(key)
	}
	return a.L.Get(pos)
}

// opt returns an option that exists only in the options table.
func (a *args) opt(key string) lua.LValue {
	if a.tbl == nil {
		return lua.LNil
	}
	a.use(key)
	return a.tbl.RawGetString(key)
}

func (a *args) optString(key string) string {
	v := a.opt(key)
	if v == lua.LNil {
		return ""
	}
	return a.str(key, v)
}

func (a *args) positionalOr(key string, pos int) (lua.LValue, bool) {
	v := a.get(key, pos)
	return v, v != lua.LNil
}

func (a *args) none() {
	if a.L.GetTop() > 1 {
		a.L.RaiseError("response:%s takes no arguments", a.method)
	}
}

// finish rejects table keys the verb does not know.
func (a *args) finish() {
	if a.tbl == nil {
		return
	}
	// The array part is checked by index and the walk starts after it:
	// Next boxes every array index it yields, an allocation per verb.
	n := a.tbl.Len()
	for i := 1; i <= n; i++ {
		if a.tbl.RawGetInt(i) != lua.LNil && (i != 1 || !a.wasUsed(first)) {
			a.L.RaiseError("response:%s: unknown option [%d]", a.method, i)
		}
	}
	start := lua.LValue(lua.LNil)
	switch {
	case n == 1:
		start = one
	case n > 1:
		start = lua.LNumber(n)
	}
	// Index 1, when set, is always in the array part (gopher-lua appends
	// it there), so only names are left to allow here.
	for k, _ := a.tbl.Next(start); k != lua.LNil; k, _ = a.tbl.Next(k) {
		key, ok := k.(lua.LString)
		if !ok || !a.wasUsed(string(key)) {
			a.L.RaiseError("response:%s: unknown option %s", a.method, quoteKey(k))
		}
	}
}

// one is the index 1, boxed once.
var one lua.LValue = lua.LNumber(1)

func quoteKey(k lua.LValue) string {
	if s, ok := k.(lua.LString); ok {
		return strconv.Quote(string(s))
	}
	return "[" + k.String() + "]"
}

func (a *args) str(name string, v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	a.L.RaiseError("response:%s: %s must be a string, got %s", a.method, name, v.Type())
	return ""
}

func (a *args) requiredString(name string, v lua.LValue) string {
	if v == lua.LNil {
		a.L.RaiseError("response:%s: %s is required", a.method, name)
	}
	s := a.str(name, v)
	if strings.TrimSpace(s) == "" && name != "value" {
		a.L.RaiseError("response:%s: %s must not be empty", a.method, name)
	}
	return s
}

// whole reads a whole number given as a number or a numeric string.
func (a *args) whole(name string, v lua.LValue) int {
	var f float64
	switch v := v.(type) {
	case lua.LNumber:
		f = float64(v)
	case lua.LString:
		n, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64)
		if err != nil {
			a.L.RaiseError("response:%s: %s must be a number, got %q", a.method, name, string(v))
		}
		f = n
	default:
		a.L.RaiseError("response:%s: %s must be a number, got %s", a.method, name, v.Type())
	}
	if f != math.Trunc(f) || math.IsInf(f, 0) || f < 1 || f > 1e6 {
		a.L.RaiseError("response:%s: %s must be a whole number of at least 1, got %s", a.method, name, lua.LNumber(f).String())
	}
	return int(f)
}
