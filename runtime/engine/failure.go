package engine

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
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
		case dbg.What == "G" && strings.HasPrefix(dbg.Name, "__dialua"):
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
	L.Push(L.Get(1))
	return 1
}

func funcName(name string) string {
	if name == "" || name[0] == '(' || name[0] == '<' {
		return "function " + name
	}
	return "function '" + name + "'"
}

// errorMessage is the text of an error object, without the location prefix
// gopher-lua adds when that prefix is the true location. Error objects that
// are not strings or numbers are named by type: their __tostring is the
// script's code and is not run after the run failed.
func errorMessage(obj lua.LValue, loc string) string {
	var msg string
	switch o := obj.(type) {
	case lua.LString:
		msg = string(o)
	case lua.LNumber:
		msg = o.String()
	case *lua.LNilType:
		return "error raised with a nil value"
	default:
		return "error raised with a " + obj.Type().String() + " value (not a string)"
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

// boundTrace keeps the first maxTraceFrames lines of a traceback.
func boundTrace(trace string) string {
	lines := strings.SplitN(trace, "\n", maxTraceFrames+2)
	if len(lines) > maxTraceFrames+1 {
		lines = append(lines[:maxTraceFrames+1], "\t...")
	}
	return strings.Join(lines, "\n")
}
