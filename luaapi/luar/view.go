package luar

import (
	"fmt"
	"reflect"
	"runtime/debug"

	lua "github.com/yuin/gopher-lua"
)

// newMetatable builds the one metatable all views on an LState share. It
// has no per-run state and scripts cannot reach it (__metatable), so
// sharing it across runs and tenants is harmless.
func (st *state) newMetatable(L *lua.LState) *lua.LTable {
	mt := L.CreateTable(0, 8)
	set := func(name string, f func(*lua.LState, *view) int) {
		mt.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			v := checkView(L, 1)
			defer guard(L, name, v.ex)
			return f(L, v)
		}))
	}
	set("__index", st.index)
	set("__newindex", st.newIndex)
	set("__len", viewLen)
	set("__call", st.iterate)
	set("__tostring", viewString)
	set("__eq", viewEq)
	// getmetatable(view) returns this string, so no script gets the table.
	mt.RawSetString("__metatable", lua.LString("luar"))
	return mt
}

func checkView(L *lua.LState, n int) *view {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if v, ok := ud.Value.(*view); ok {
			return v
		}
	}
	L.ArgError(n, "Go value expected")
	return nil
}

// guard, deferred, turns a Go panic into a Lua error raised at the
// script's line (RaiseError skips Go frames when it names the position).
// Lua errors (*lua.ApiError: the run's deadline, a script callback's
// error) pass through untouched. The script never sees the Go stack: it
// goes to the server log, tagged with the run.
func guard(L *lua.LState, name string, ex *exposed) {
	r := recover()
	if r == nil {
		return
	}
	if _, ok := r.(*lua.ApiError); ok {
		panic(r)
	}
	msg := fmt.Sprint(r)
	if len(msg) > maxPanicText {
		msg = msg[:maxPanicText] + "..."
	}
	if ex.run.Request() != nil {
		stack := debug.Stack()
		if len(stack) > maxPanicStack {
			stack = stack[:maxPanicStack]
		}
		ex.run.Log().Logger().Error("Go panic in a function called by the script",
			"global", ex.name, "func", name, "panic", msg, "stack", string(stack))
	}
	L.RaiseError("%s: Go panic: %s", name, msg)
}

// How much of a panic the script sees, and how much of its stack the log
// gets.
const (
	maxPanicText  = 200
	maxPanicStack = 16 << 10
)

// receiver is the value whose method set a view offers: an addressable
// struct (a field of a struct reached through a pointer) gets its pointer
// methods, as in Go.
func receiver(rv reflect.Value) reflect.Value {
	if rv.Kind() != reflect.Pointer && rv.CanAddr() {
		return rv.Addr()
	}
	return rv
}

func (st *state) push(L *lua.LState, rv reflect.Value, ex *exposed) int {
	lv, err := st.toLua(L, rv, ex)
	if err != nil {
		L.RaiseError("%s", err)
	}
	L.Push(lv)
	return 1
}

// index reads map entries, slice/array elements (1-based), methods and
// struct fields, in gopher-luar's order. Whatever it returns is converted
// with the view's own options, so a read-only view only yields read-only
// views.
func (st *state) index(L *lua.LState, v *view) int {
	rv, key := v.rv, L.Get(2)
	if mu := v.ex.opts.mu; mu != nil {
		mu.RLock() // nothing below runs Lua or the embedder's Go code
		defer mu.RUnlock()
	}
	switch rv.Kind() {
	case reflect.Map:
		if isScalar(key) {
			if k, err := st.toGo(L, key, rv.Type().Key(), nil); err == nil {
				if e := rv.MapIndex(k); e.IsValid() {
					return st.push(L, e, v.ex)
				}
			}
		}
	case reflect.Slice, reflect.Array:
		if n, ok := key.(lua.LNumber); ok {
			if i := int(n); lua.LNumber(i) == n && i >= 1 && i <= rv.Len() {
				return st.push(L, rv.Index(i-1), v.ex)
			}
			L.Push(lua.LNil)
			return 1
		}
	}
	name, ok := key.(lua.LString)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	if fn := st.method(L, receiver(rv), string(name)); fn != nil {
		L.Push(fn)
		return 1
	}
	if f, ok := st.field(L, rv, string(name)); ok {
		return st.push(L, f, v.ex)
	}
	L.Push(lua.LNil)
	return 1
}

// field finds an exported struct field by Lua name. ok is false when there
// is none (or it is promoted through a nil embedded pointer).
func (st *state) field(L *lua.LState, rv reflect.Value, name string) (reflect.Value, bool) {
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	idx, ok := st.info(L, rv.Type()).fields[name]
	if !ok {
		return reflect.Value{}, false
	}
	f, err := rv.FieldByIndexErr(idx)
	return f, err == nil
}

// fieldType is the type of the exported field name of a struct (or of
// the struct a pointer type points to), from the type alone.
func (st *state) fieldType(L *lua.LState, t reflect.Type, name string) (reflect.Type, bool) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	idx, ok := st.info(L, t).fields[name]
	if !ok {
		return nil, false
	}
	return t.FieldByIndex(idx).Type, true
}

func isScalar(lv lua.LValue) bool {
	switch lv.(type) {
	case lua.LString, lua.LNumber, lua.LBool:
		return true
	}
	return false
}

// newIndex refuses every write unless the view is Writable. Writable views
// set fields, map entries and elements in place; Lua functions, tables
// and userdata are never stored into Go memory as they are (they would
// outlive the run). The value is converted first (that may run gopher-luar
// on L), then written holding the module's lock, so no other run reads or
// writes that memory meanwhile.
func (st *state) newIndex(L *lua.LState, v *view) int {
	rv, key, val := v.rv, L.Get(2), L.Get(3)
	if !v.ex.opts.writable {
		L.RaiseError("%s is read-only", rv.Type())
	}
	convert := func(what string, lv lua.LValue, t reflect.Type) reflect.Value {
		e, err := st.toKept(L, lv, t)
		if err != nil {
			L.RaiseError("bad %s: %s", what, err)
		}
		return e
	}
	switch rv.Kind() {
	case reflect.Map:
		k := convert("key", key, rv.Type().Key())
		var e reflect.Value // the zero Value deletes the entry
		if val != lua.LNil {
			e = convert("value", val, rv.Type().Elem())
		}
		v.ex.locked(func() { rv.SetMapIndex(k, e) })
		return 0
	case reflect.Slice, reflect.Array:
		// A view's slice is detached (its header is its own) and an
		// array's length is its type's: no shared memory read here.
		n, ok := key.(lua.LNumber)
		i := int(n)
		if !ok || lua.LNumber(i) != n || i < 1 || i > rv.Len() {
			L.RaiseError("index %s out of range", key)
		}
		if !rv.Index(i - 1).CanSet() {
			L.RaiseError("cannot set %s in a copy of %s", key, rv.Type())
		}
		e := convert("value", val, rv.Type().Elem())
		v.ex.locked(func() { rv.Index(i - 1).Set(e) })
		return 0
	}
	name := lua.LVAsString(key)
	ft, ok := st.fieldType(L, rv.Type(), name)
	if !ok {
		L.RaiseError("%s has no field %s", rv.Type(), key)
	}
	e := convert("value", val, ft)
	var msg string
	v.ex.locked(func() {
		// Found again under the lock: the way to it may cross embedded
		// pointers, which are fields a script can set.
		dst, ok := st.field(L, rv, name)
		switch {
		case !ok:
			msg = fmt.Sprintf("%s has no field %s", rv.Type(), key)
		case !dst.CanSet():
			msg = fmt.Sprintf("cannot set %s in a copy of %s", key, rv.Type())
		default:
			dst.Set(e)
		}
	})
	if msg != "" {
		L.RaiseError("%s", msg)
	}
	return 0
}

// locked runs f holding the module's lock exclusively (f must not raise).
func (ex *exposed) locked(f func()) {
	if mu := ex.opts.mu; mu != nil {
		mu.Lock()
		defer mu.Unlock()
	}
	f()
}

func viewLen(L *lua.LState, v *view) int {
	if mu := v.ex.opts.mu; mu != nil {
		mu.RLock()
		defer mu.RUnlock()
	}
	switch v.rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		L.Push(lua.LNumber(v.rv.Len()))
		return 1
	}
	L.RaiseError("attempt to get length of %s", v.rv.Type())
	return 0
}

// iterate is __call, as in gopher-luar: for i, x in slice() do / for k, v in
// map() do. The iterator reads through the view, so it is read-only too.
func (st *state) iterate(L *lua.LState, v *view) int {
	rv, ex := v.rv, v.ex
	var next lua.LGFunction
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		i := 0
		next = func(L *lua.LState) int {
			defer guard(L, "iterator", ex)
			if mu := ex.opts.mu; mu != nil {
				mu.RLock()
				defer mu.RUnlock()
			}
			if i >= rv.Len() {
				return 0
			}
			i++
			L.Push(lua.LNumber(i))
			return 1 + st.push(L, rv.Index(i-1), ex)
		}
	case reflect.Map:
		it := rv.MapRange()
		next = func(L *lua.LState) int {
			defer guard(L, "iterator", ex)
			if mu := ex.opts.mu; mu != nil {
				mu.RLock() // between steps, other runs may write the map
				defer mu.RUnlock()
			}
			if !it.Next() {
				return 0
			}
			return st.push(L, it.Key(), ex) + st.push(L, it.Value(), ex)
		}
	default:
		L.RaiseError("attempt to call %s", rv.Type())
	}
	L.Push(L.NewFunction(next))
	return 1
}

// viewString calls String on a snapshot, not holding the module's lock: a
// String method is the embedder's code (it may take the lock itself).
func viewString(L *lua.LState, v *view) int {
	if s, ok := goValue(v).Interface().(fmt.Stringer); ok {
		L.Push(lua.LString(s.String())) // guarded: String may panic
	} else {
		L.Push(lua.LString(v.rv.Type().String()))
	}
	return 1
}

// viewEq: views are equal when they show the same Go value (same pointer,
// map or slice; equal comparable structs and arrays).
func viewEq(L *lua.LState, a *view) int {
	b := checkView(L, 2)
	eq := false
	if a.rv.Type() == b.rv.Type() {
		switch a.rv.Kind() {
		case reflect.Pointer, reflect.Map:
			eq = a.rv.Pointer() == b.rv.Pointer()
		case reflect.Slice:
			eq = a.rv.Pointer() == b.rv.Pointer() && a.rv.Len() == b.rv.Len()
		default: // structs and arrays, each copied under its lock
			x, y := goValue(a), goValue(b)
			eq = x.Comparable() && x.Equal(y)
		}
	}
	L.Push(lua.LBool(eq))
	return 1
}
