package luaapi

import (
	"context"
	"errors"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/session"
)

// Session is the module `session` over store: state for the current call, keyed by the
// tenant and the request's CallID, shared by every request of the call
// (dial-in, each action, hangup) on every node using the same store.
//
//	session.get(key)          -> value | nil, err
//	session.set(key, value)   -> true | nil, err   (value nil deletes)
//	session.incr(key [, n])   -> number | nil, err (missing counts as 0)
//	session.delete(key)       -> true | nil, err
//
// Values keep their type: string, number, boolean or table (stored as
// JSON). A failure of the store (Redis unreachable) returns nil and a
// message, so a script can fall back; a programming mistake (a function as
// a value, a key that is not a string) is a Lua error.
func Session(store session.Store, ttl time.Duration) Module {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return Func("session", func(L *lua.LState, run Run) lua.LValue { return openSession(L, run, store, ttl) })
}

func openSession(L *lua.LState, run Run, store session.Store, defaultTTL time.Duration) lua.LValue {
	null := null(L)
	wait := storeWait(run, session.InProcess(store))
	key := func(L *lua.LState) (session.Key, string, bool) {
		field := L.CheckString(1)
		if field == "" || len(field) > session.MaxFieldBytes {
			L.ArgError(1, "session keys are 1 to 256 bytes")
		}
		callID := run.Request().Value(protocol.ParamCallID)
		if callID == "" || len(callID) > 128 {
			L.Push(lua.LNil)
			L.Push(lua.LString("no CallID in this request: sessions are per call"))
			return session.Key{}, "", false
		}
		if store == nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("no session store configured"))
			return session.Key{}, "", false
		}
		return session.Key{Tenant: run.Request().Tenant, CallID: callID}, field, true
	}
	fail := func(L *lua.LState, err error) int {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	ttl := func() time.Duration {
		if t := run.Tenant().Session.TTL; t > 0 {
			return time.Duration(t)
		}
		return defaultTTL
	}
	t := L.NewTable()
	t.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		k, field, ok := key(L)
		if !ok {
			return 2
		}
		resume := wait()
		v, found, err := store.Get(run.Context(), k, field)
		resume()
		if err != nil {
			return fail(L, err)
		}
		if !found {
			L.Push(lua.LNil)
			return 1
		}
		lv, err := decodeValue(L, v, null)
		if err != nil {
			return fail(L, err)
		}
		L.Push(lv)
		return 1
	}))
	t.RawSetString("set", L.NewFunction(func(L *lua.LState) int {
		k, field, ok := key(L)
		if !ok {
			return 2
		}
		var enc string
		if L.Get(2) != lua.LNil {
			var eerr error
			if enc, eerr = encodeValue(run.Context(), L.Get(2), null); eerr != nil {
				L.ArgError(2, eerr.Error())
			}
		}
		var err error
		resume := wait()
		if L.Get(2) == lua.LNil {
			err = store.Delete(run.Context(), k, field)
		} else {
			err = store.Set(run.Context(), k, field, enc, ttl())
		}
		resume()
		if err != nil {
			return fail(L, err)
		}
		L.Push(lua.LTrue)
		return 1
	}))
	t.RawSetString("incr", L.NewFunction(func(L *lua.LState) int {
		k, field, ok := key(L)
		if !ok {
			return 2
		}
		delta := float64(L.OptNumber(2, 1))
		resume := wait()
		n, err := store.Incr(run.Context(), k, field, delta, ttl())
		resume()
		if err != nil {
			return fail(L, err)
		}
		L.Push(lua.LNumber(n))
		return 1
	}))
	t.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		k, field, ok := key(L)
		if !ok {
			return 2
		}
		resume := wait()
		err := store.Delete(run.Context(), k, field)
		resume()
		if err != nil {
			return fail(L, err)
		}
		L.Push(lua.LTrue)
		return 1
	}))
	return t
}

// encodeValue turns a Lua value into the store's typed string form.
func encodeValue(ctx context.Context, v lua.LValue, null lua.LValue) (string, error) {
	switch v := v.(type) {
	case lua.LString:
		return "s:" + string(v), nil
	case lua.LNumber:
		return session.EncodeNumber(float64(v)), nil
	case lua.LBool:
		if v {
			return "b:1", nil
		}
		return "b:0", nil
	case *lua.LTable:
		b, err := encodeJSON(ctx, v, null, session.MaxValueBytes)
		if err != nil {
			return "", err
		}
		return "t:" + string(b), nil
	}
	return "", errors.New("session values are strings, numbers, booleans or tables, not " + v.Type().String())
}

func decodeValue(L *lua.LState, v string, null lua.LValue) (lua.LValue, error) {
	if len(v) < 2 || v[1] != ':' {
		return nil, errors.New("session value in an unknown format")
	}
	switch v[0] {
	case 's':
		return lua.LString(v[2:]), nil
	case 'n':
		n, err := session.DecodeNumber(v)
		return lua.LNumber(n), err
	case 'b':
		return lua.LBool(v[2:] == "1"), nil
	case 't':
		return decodeJSON(L, v[2:], null)
	}
	return nil, errors.New("session value in an unknown format")
}
