package luaapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// JSON is the module `json`: encode(value) -> string | nil, err and
// decode(string) -> value | nil, err, plus json.null, the value that stands
// for JSON null inside arrays (and that encodes as null).
func JSON(maxString int) Module {
	return Func("json", func(L *lua.LState, run Run) lua.LValue { return openJSON(L, run, maxString) })
}

func openJSON(L *lua.LState, run Run, maxString int) lua.LValue {
	null := null(L)
	t := L.NewTable()
	t.RawSetString("null", null)
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		b, err := encodeJSON(run.Context(), L.CheckAny(1), null, maxString)
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("json.encode: " + err.Error()))
			return 2
		}
		L.Push(lua.LString(b))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		v, err := decodeJSON(L, L.CheckString(1), null)
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("json.decode: " + err.Error()))
			return 2
		}
		L.Push(v)
		return 1
	}))
	return t
}

func encodeJSON(ctx context.Context, v lua.LValue, null lua.LValue, max int) ([]byte, error) {
	x, err := toGo(v, null, map[*lua.LTable]bool{}, 0, &budget{ctx: ctx, maxBytes: max})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	if max > 0 && b.Len() > max {
		return nil, fmt.Errorf("result larger than %d bytes", max)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func decodeJSON(L *lua.LState, s string, null lua.LValue) (lua.LValue, error) {
	// The decoder itself cannot be stopped half way (about 40 ms for the
	// largest string a script may build), so a run past its deadline
	// starts none; building the tables then checks the deadline as it goes.
	ctx := L.Context()
	if ctx != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Every value but the first follows a , [ or { (or a :, which needs a {);
	// counting them bounds the tables the result would need before a single
	// one is built.
	if n := strings.Count(s, ",") + strings.Count(s, "[") + strings.Count(s, "{"); n > maxNodes {
		return nil, fmt.Errorf("more than %d values", maxNodes)
	}
	dec := json.NewDecoder(strings.NewReader(s))
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, jsonErr(err, s)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the JSON value at offset %d", dec.InputOffset())
	}
	return fromGo(L, x, null, &budget{ctx: ctx})
}

// jsonErr says where decoding failed in terms a script author can use.
func jsonErr(err error, s string) error {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Errorf("%s at offset %d", se.Error(), se.Offset)
	}
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("empty input")
	}
	return err
}
