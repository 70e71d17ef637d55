package engine

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/sandbox"
)

// maxTraceFrames bounds the traceback logged for a failed run.
const maxTraceFrames = 12

// failure is what the run's error handler saw while the failed run's
// frames were still on the stack.
type runFailure struct {
	loc   string // file:line of the innermost Lua frame
	trace string
	proto *lua.FunctionProto // that frame's function, and its line
	line  int
}

// onError is the error handler of every run. gopher-lua calls it before it
// unwinds the failed run, and when one is given it builds no traceback of
// its own (its own writes a line per tail call, without bound). The
// location comes from the VM's frames, never from the message text, which
// the script controls: error("other/x.lua:3: boom", 0) must not be logged as
// a failure in another tenant's file.
func (v *vm) onError(L *lua.LState) int {
	v.failure = runFailure{}
	var b strings.Builder
	b.WriteString("stack traceback:")
	frames, prev := 0, ""
	// GetStack steps over tail calls oddly and repeats the bottom frame past
	// the end, so the walk is bounded in levels as well as in lines.
	for level := 1; level <= 4*maxTraceFrames && frames < maxTraceFrames; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sln", dbg, lua.LNil); err != nil {
			break
		}
		var line string
		switch {
		case dbg.What == "G" && sandbox.IsInternal(dbg.Name):
			continue // the sandbox's own helpers (the .. operator)
		case dbg.What == "G":
			line = "[G]: in " + funcName(dbg.Name)
		default:
			where := dbg.Source + ":" + strconv.Itoa(dbg.CurrentLine)
			if v.failure.loc == "" && dbg.CurrentLine > 0 {
				v.failure.loc = where
				if fn, err := L.GetInfo("f", dbg, lua.LNil); err == nil {
					if lf, ok := fn.(*lua.LFunction); ok && lf.Proto != nil {
						v.failure.proto, v.failure.line = lf.Proto, dbg.CurrentLine
					}
				}
			}
			switch {
			case dbg.What == "main":
				line = where + ": in main chunk"
			case dbg.Name != "":
				line = where + ": in " + funcName(dbg.Name)
			default:
				line = where + ": in function <" + dbg.Source + ":" + strconv.Itoa(dbg.LineDefined) + ">"
			}
		}
		if line == prev {
			continue
		}
		prev = line
		b.WriteString("\n\t")
		b.WriteString(line)
		frames++
	}
	v.failure.trace = b.String()
	if text, ok := describeObject(L, L.Get(1)); ok {
		L.Push(lua.LString(text))
	} else {
		L.Push(L.Get(1))
	}
	return 1
}

// describeObject is the message for an error object that is not a string
// or a number (error({code = 1}), error(nil)): the object's __tostring when
// it has one that gives a string, else its type and, for a table, a few of
// its fields. A __tostring is the script's code: it runs here because the
// handler runs before the run unwinds, still under the run's deadline and
// its instruction and memory checks; if it fails, or the deadline has
// passed, the fields are shown instead.
func describeObject(L *lua.LState, obj lua.LValue) (string, bool) {
	switch obj.(type) {
	case lua.LString, lua.LNumber:
		return "", false
	}
	if mm := L.GetMetaField(obj, "__tostring"); mm != lua.LNil {
		top := L.GetTop()
		L.Push(mm)
		L.Push(obj)
		err := L.PCall(1, 1, nil)
		r := L.Get(-1)
		L.SetTop(top)
		if s, ok := r.(lua.LString); ok && err == nil {
			return string(s), true
		}
	}
	return objectText(obj), true
}

// Bounds of the rendering of a table error object.
const (
	maxShownFields = 8
	maxShownString = 40
)

// objectText names an error object by type, showing a boolean's value and
// up to maxShownFields of a table's fields, read raw (no metamethods run):
// "error object is a table value: {code=1, msg=\"busy\", ...}".
func objectText(obj lua.LValue) string {
	text := "error object is a " + obj.Type().String() + " value"
	switch o := obj.(type) {
	case lua.LBool:
		return text + ": " + o.String()
	case *lua.LTable:
		return text + ": " + tableText(o)
	}
	return text
}

func tableText(t *lua.LTable) string {
	var b strings.Builder
	b.WriteByte('{')
	k, v := t.Next(lua.LNil)
	next := 1 // the next array index, shown without its key
	for shown := 0; k != lua.LNil; shown++ {
		if shown == maxShownFields {
			b.WriteString(", ...")
			break
		}
		if shown > 0 {
			b.WriteString(", ")
		}
		if n, ok := k.(lua.LNumber); ok && n == lua.LNumber(next) {
			next++
		} else {
			b.WriteString(keyText(k))
			b.WriteByte('=')
		}
		b.WriteString(valueText(v))
		k, v = t.Next(k)
	}
	b.WriteByte('}')
	return b.String()
}

func keyText(k lua.LValue) string {
	if s, ok := k.(lua.LString); ok && isName(string(s)) {
		return string(s)
	}
	return "[" + valueText(k) + "]"
}

func valueText(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		s := string(x)
		if len(s) > maxShownString {
			return strconv.Quote(s[:maxShownString]) + "..."
		}
		return strconv.Quote(s)
	case lua.LNumber, lua.LBool:
		return x.String()
	case *lua.LTable:
		return "{...}"
	}
	return v.Type().String()
}

// isName reports whether s is a short Lua identifier.
func isName(s string) bool {
	if s == "" || len(s) > maxShownString {
		return false
	}
	for i, c := range s {
		if c != '_' && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func funcName(name string) string {
	if name == "" || name[0] == '(' || name[0] == '<' {
		return "function " + name
	}
	return "function '" + name + "'"
}

// errorMessage is the text of an error object, without the location prefix
// gopher-lua adds when that prefix is the true location. The error handler
// has already turned other objects into text (describeObject); when it
// could not run, they are named by type and fields, as their __tostring
// cannot run after the run failed.
func errorMessage(obj lua.LValue, loc string) string {
	var msg string
	switch o := obj.(type) {
	case lua.LString:
		msg = string(o)
	case lua.LNumber:
		msg = o.String()
	default:
		return objectText(obj)
	}
	if loc != "" && strings.HasPrefix(msg, loc+":") {
		msg = strings.TrimSpace(msg[len(loc)+1:])
	}
	return msg
}

// traceLocation finds the innermost Lua frame's file:line in a traceback
// gopher-lua built ("\tchunk:line: in ..." lines, [G] frames skipped).
func traceLocation(trace string) string {
	for _, line := range strings.Split(trace, "\n") {
		line = strings.TrimSpace(line)
		i := strings.Index(line, ".lua:")
		if i < 0 || strings.HasPrefix(line, "[G]") {
			continue
		}
		j := i + len(".lua:")
		k := j
		for k < len(line) && line[k] >= '0' && line[k] <= '9' {
			k++
		}
		if k > j {
			return line[:k]
		}
	}
	return ""
}

// boundTrace keeps the first maxTraceFrames lines of a traceback, leaving
// out the sandbox's helpers as onError does.
func boundTrace(trace string) string {
	var lines []string
	for line := range strings.Lines(trace) {
		line = strings.TrimSuffix(line, "\n")
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "[G]: in function '"); ok && sandbox.IsInternal(name) {
			continue
		}
		if len(lines) == maxTraceFrames+1 {
			lines = append(lines, "\t...")
			break
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}
