package luaapi

import (
	"context"
	"log/slog"

	lua "github.com/yuin/gopher-lua"
)

func init() {
	Register(Module{Name: "log", Open: openLog})
}

// maxLogFields bounds the fields of one log line.
const maxLogFields = 32

// openLog builds `log`: log.debug/info/warn/error(msg [, fields]) write to
// the server's structured log, tagged with tenant, script and CallID. fields
// is a table of extra attributes (string keys; string, number or boolean
// values). The tenant's env values are redacted from the message and fields.
func openLog(L *lua.LState, run *Run) lua.LValue {
	t := L.NewTable()
	for name, level := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	} {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			msg := L.CheckString(1)
			attrs := []any{}
			size := len(msg)
			if f, ok := L.Get(2).(*lua.LTable); ok {
				n := 0
				for k, v := f.Next(lua.LNil); k != lua.LNil; k, v = f.Next(k) {
					key, ok := k.(lua.LString)
					if !ok {
						L.ArgError(2, "field names must be strings")
					}
					if n++; n > maxLogFields {
						L.ArgError(2, "more than 32 fields")
					}
					name := run.Scrub(string(key), 64)
					var val any
					switch v := v.(type) {
					case lua.LNumber:
						val = float64(v)
					case lua.LBool:
						val = bool(v)
					default:
						str := run.Scrub(L.ToStringMeta(v).String(), 1024)
						size += len(str)
						val = str
					}
					size += len(name)
					attrs = append(attrs, name, val)
				}
			} else if L.Get(2) != lua.LNil {
				L.ArgError(2, "fields must be a table")
			}
			keep, ok := run.LogAllowed(size)
			if !ok {
				return 0
			}
			run.Logger().Log(context.Background(), level, run.Scrub(msg, min(keep, MaxLogLine)), attrs...)
			return 0
		}))
	}
	return t
}
