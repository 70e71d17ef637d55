package luaapi

import (
	"math"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/session"
)

// Store is the module `store` over values: state of the tenant that
// outlives calls (a caller's failed attempts today, a flag for tomorrow),
// one value per key, each key with its own TTL.
//
//	store.get(key)                     -> value | nil, err   (nil alone: missing)
//	store.set(key, value [, ttl])      -> true | nil, err    (value nil deletes)
//	store.incr(key [, by [, ttl]])     -> number | nil, err  (missing counts as 0)
//	store.delete(key)                  -> true | nil, err
//
// ttl is in seconds, 1 to 30 days' worth, default a day; every write sets
// the key to expire ttl after it. Values keep their type as in session. Keys
// are the running tenant's: the same name in another tenant is another key,
// and no session reaches them. A failure of the store returns nil and a
// message; a programming mistake (a bad key, value or ttl) is a Lua error.
func Store(values *session.Values) Module {
	return Func("store", func(L *lua.LState, run Run) lua.LValue { return openStore(L, run, values) })
}

func openStore(L *lua.LState, run Run, values *session.Values) lua.LValue {
	null := null(L)
	wait := storeWait(run, values.InProcess())
	key := func(L *lua.LState) (string, bool) {
		k := L.CheckString(1)
		if k == "" || len(k) > session.MaxKeyBytes {
			L.ArgError(1, session.ErrKeyName.Error())
		}
		if values == nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("no store configured"))
			return "", false
		}
		return k, true
	}
	ttl := func(L *lua.LState, n int) time.Duration {
		v := L.Get(n)
		if v == lua.LNil {
			return session.DefaultValueTTL
		}
		secs, ok := v.(lua.LNumber)
		if !ok {
			L.ArgError(n, "ttl is a number of seconds")
		}
		f := float64(secs)
		if math.IsNaN(f) || f < 1 || f > session.MaxValueTTL.Seconds() {
			L.ArgError(n, session.ErrTTL.Error())
		}
		return time.Duration(f * float64(time.Second))
	}
	fail := func(L *lua.LState, err error) int {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	tenant := func() string { return run.Request().Tenant }
	t := L.NewTable()
	t.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		k, ok := key(L)
		if !ok {
			return 2
		}
		resume := wait()
		v, found, err := values.Get(run.Context(), tenant(), k)
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
		k, ok := key(L)
		if !ok {
			return 2
		}
		val := L.Get(2)
		var enc string
		switch val.(type) {
		case *lua.LNilType:
		case lua.LString, lua.LNumber, lua.LBool, *lua.LTable:
			var eerr error
			if enc, eerr = encodeValue(run.Context(), val, null); eerr != nil {
				L.ArgError(2, eerr.Error())
			}
		default:
			L.ArgError(2, "store values are strings, numbers, booleans or tables, not "+val.Type().String())
		}
		d := ttl(L, 3)
		var err error
		resume := wait()
		if val == lua.LNil {
			err = values.Delete(run.Context(), tenant(), k)
		} else {
			err = values.Set(run.Context(), tenant(), k, enc, d)
		}
		resume()
		if err != nil {
			return fail(L, err)
		}
		L.Push(lua.LTrue)
		return 1
	}))
	t.RawSetString("incr", L.NewFunction(func(L *lua.LState) int {
		k, ok := key(L)
		if !ok {
			return 2
		}
		delta := float64(L.OptNumber(2, 1))
		if math.IsNaN(delta) || math.IsInf(delta, 0) {
			L.ArgError(2, "store.incr adds a finite number")
		}
		d := ttl(L, 3)
		resume := wait()
		n, err := values.Incr(run.Context(), tenant(), k, delta, d)
		resume()
		if err != nil {
			return fail(L, err)
		}
		L.Push(lua.LNumber(n))
		return 1
	}))
	t.RawSetString("delete", L.NewFunction(func(L *lua.LState) int {
		k, ok := key(L)
		if !ok {
			return 2
		}
		resume := wait()
		err := values.Delete(run.Context(), tenant(), k)
		resume()
		if err != nil {
			return fail(L, err)
		}
		L.Push(lua.LTrue)
		return 1
	}))
	return t
}
