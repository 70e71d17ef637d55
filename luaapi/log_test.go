package luaapi

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/tenant"
)

// textRun is a run whose log is slog's text handler writing to buf, with
// the log module open in L.
func textRun(t *testing.T, buf *bytes.Buffer, env map[string]string) (*Call, *lua.LState) {
	t.Helper()
	run := NewCall(slog.New(slog.NewTextHandler(buf, nil)), nil, nil)
	req := &protocol.Request{Tenant: "acme", Script: "flood",
		Params: []protocol.Param{{Name: protocol.ParamCallID, Value: strings.Repeat("\x01", 300)}}}
	run.Begin(context.Background(), req, &tenant.Config{Env: env}, 1<<10)
	L := lua.NewState()
	t.Cleanup(L.Close)
	L.SetGlobal("log", run.Open(L, Log()))
	// print as an embedder's module would write, and as Call.Print does it.
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		msg := L.CheckString(1)
		lg := run.Log()
		if keep, ok := lg.Allowed(len(msg)); ok {
			lg.Logger().Info("script print", "msg", lg.Scrub(msg, keep))
		}
		run.Print(msg)
		return 0
	}))
	return run, L
}

// TestTextLogBudget: with the text handler too, a flooding run writes at
// most MaxLogRun bytes, the warning included.
func TestTextLogBudget(t *testing.T) {
	for name, src := range map[string]string{
		"fields": `local f = {} for i = 1, 32 do f[string.rep("=", 70) .. i] = string.rep("\1", 2000) end
			for i = 1, 100 do log.info(string.rep(" ", 9000), f) end`,
		"print": `for i = 1, 100 do print(string.rep("\0", 9000)) end`,
		"small": `for i = 1, 10000 do log.debug("") log.info("a", {b = 1.5e300, c = -0.000001}) print("") end`,
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			_, L := textRun(t, &buf, nil)
			if err := L.DoString(src); err != nil {
				t.Fatal(err)
			}
			if buf.Len() > MaxLogRun || buf.Len() < MaxLogRun/2 {
				t.Errorf("wrote %d bytes, budget %d", buf.Len(), MaxLogRun)
			}
			if n := strings.Count(buf.String(), "log budget used up"); n != 1 {
				t.Errorf("%d warnings", n)
			}
		})
	}
}

// TestTextLogReservedKeys: in the text format a script's fields are
// written as fields.KEY, so tenant= and level= appear once, dialua's.
func TestTextLogReservedKeys(t *testing.T) {
	var buf bytes.Buffer
	_, L := textRun(t, &buf, nil)
	if err := L.DoString(`log.warn("m", {tenant = "other", level = "INFO", call_id = "x", msg = "y", time = "z"}) print("p")`); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		for _, k := range []string{"time=", "level=", "msg=", "tenant=", "call_id="} {
			if n := strings.Count(" "+line, " "+k); n != 1 {
				t.Errorf("%s %d times in %s", k, n, line)
			}
		}
		if !strings.Contains(line, " tenant=acme ") {
			t.Errorf("tenant replaced: %s", line)
		}
	}
	if !strings.Contains(buf.String(), "fields.tenant=other") {
		t.Errorf("the script's field is missing: %s", buf.String())
	}
}
