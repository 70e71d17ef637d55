package luaapi

import (
	"context"
	"log/slog"

	lua "github.com/yuin/gopher-lua"
)

func init() {
	Register(Module{Name: "log", Open: openLog})
}

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
			keep, ok := run.LogAllowed(len(msg))
			if !ok {
				return 0
			}
			msg = run.Redact(Truncate(msg, keep))
			attrs := []any{}
			if f, ok := L.Get(2).(*lua.LTable); ok {
				for k, v := f.Next(lua.LNil); k != lua.LNil; k, v = f.Next(k) {
					key, ok := k.(lua.LString)
					if !ok {
						L.ArgError(2, "field names must be strings")
					}
					switch v := v.(type) {
					case lua.LString:
						attrs = append(attrs, string(key), run.Redact(Truncate(string(v), 1024)))
					case lua.LNumber:
						attrs = append(attrs, string(key), float64(v))
					case lua.LBool:
						attrs = append(attrs, string(key), bool(v))
					default:
						attrs = append(attrs, string(key), run.Redact(L.ToStringMeta(v).String()))
					}
				}
			} else if L.Get(2) != lua.LNil {
				L.ArgError(2, "fields must be a table")
			}
			run.Logger().Log(context.Background(), level, msg, attrs...)
			return 0
		}))
	}
	return t
}
