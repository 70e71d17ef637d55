package luar

import (
	"context"
	"fmt"
	"reflect"
	"unicode"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
	gluar "layeh.com/gopher-luar"

	"github.com/dialua/dialua/runtime/protocol"
)

// state is kept per LState (in its registry, which its coroutines share).
// It holds only things derived from Go types and two shared metatables:
// no script can reach or write any of it, and none of it belongs to a run,
// so keeping it across runs and tenants is harmless.
type state struct {
	mt      *lua.LTable                     // metatable of every view
	types   map[reflect.Type]*typeInfo      // fields and methods per type
	methods map[methodKey]*lua.LFunction    // one Lua function per method
	conv    map[reflect.Type]*lua.LFunction // gopher-luar converters
	sigs    map[reflect.Type]*sig           // per func type
	handle  *lua.LTable                     // metatable of PerTenant handles
}

type methodKey struct {
	recv  reflect.Type
	index int
}

const registryKey = "dialua.luar"

func stateOf(L *lua.LState) *state {
	reg := L.Get(lua.RegistryIndex).(*lua.LTable)
	if ud, ok := reg.RawGetString(registryKey).(*lua.LUserData); ok {
		return ud.Value.(*state)
	}
	st := &state{
		types:   map[reflect.Type]*typeInfo{},
		methods: map[methodKey]*lua.LFunction{},
		conv:    map[reflect.Type]*lua.LFunction{},
		sigs:    map[reflect.Type]*sig{},
	}
	st.mt = st.newMetatable(L)
	st.handle = st.newHandleMetatable(L)
	ud := L.NewUserData()
	ud.Value = st
	reg.RawSetString(registryKey, ud)
	return st
}

// typeInfo is what a view needs about its Go type.
type typeInfo struct {
	fields  map[string][]int // exported fields (incl. promoted) by Lua name
	methods map[string]int   // exported methods by Lua name -> index
}

func (st *state) info(L *lua.LState, t reflect.Type) *typeInfo {
	if ti := st.types[t]; ti != nil {
		return ti
	}
	// Naming follows gopher-luar (and its per-LState Config if the
	// embedder set one): Name and name; luar:"-" hides; luar:"x" renames.
	cfg := gluar.GetConfig(L)
	ti := &typeInfo{methods: map[string]int{}}
	if t.Kind() == reflect.Struct {
		ti.fields = map[string][]int{}
		for _, f := range reflect.VisibleFields(t) {
			// Unexported fields never reach scripts. Exported fields
			// promoted through an unexported embedded struct are
			// readable in Go too, so they stay (as gopher-luar does).
			if !f.IsExported() {
				continue
			}
			var names []string
			if cfg.FieldNames != nil {
				names = cfg.FieldNames(t, f)
			} else {
				names = defaultNames(f.Name, f.Tag.Get("luar"))
			}
			// VisibleFields already dropped shadowed fields.
			for _, n := range names {
				ti.fields[n] = f.Index
			}
		}
	}
	// reflect lists exported methods only: unexported ones stay hidden.
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		var names []string
		if cfg.MethodNames != nil {
			names = cfg.MethodNames(t, m)
		} else {
			names = defaultNames(m.Name, "")
		}
		for _, n := range names {
			ti.methods[n] = i
		}
	}
	st.types[t] = ti
	return ti
}

func defaultNames(name, tag string) []string {
	switch tag {
	case "-":
		return nil
	case "":
		r, n := utf8.DecodeRuneInString(name)
		lower := string(unicode.ToLower(r)) + name[n:]
		if lower == name {
			return []string{name}
		}
		return []string{name, lower}
	}
	return []string{tag}
}

var (
	lvType  = reflect.TypeFor[lua.LValue]()
	ctxType = reflect.TypeFor[context.Context]()
	errType = reflect.TypeFor[error]()
)

// toLua converts a Go value for a script: scalars by value, everything
// else as a view sharing ex (so read-only-ness is inherited).
func (st *state) toLua(L *lua.LState, rv reflect.Value, ex *exposed) (lua.LValue, error) {
	switch rv.Kind() {
	case reflect.Invalid:
		return lua.LNil, nil
	case reflect.Bool:
		return lua.LBool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return lua.LNumber(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return lua.LNumber(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return lua.LNumber(rv.Float()), nil
	case reflect.String:
		return lua.LString(rv.String()), nil
	case reflect.Interface:
		if rv.IsNil() {
			return lua.LNil, nil
		}
		return st.toLua(L, rv.Elem(), ex)
	case reflect.Func:
		if rv.IsNil() {
			return lua.LNil, nil
		}
		if !rv.CanInterface() {
			return nil, fmt.Errorf("cannot expose unexported %s", rv.Type())
		}
		return st.funcValue(L, detach(rv), ex), nil
	case reflect.Pointer:
		if rv.IsNil() {
			return lua.LNil, nil
		}
		// Values that already are Lua values (a *lua.LTable the Go code
		// built for the script, say) pass as they are.
		if rv.Type().Implements(lvType) && rv.CanInterface() {
			return rv.Interface().(lua.LValue), nil
		}
	case reflect.Map, reflect.Slice:
		if rv.IsNil() {
			return lua.LNil, nil
		}
	case reflect.Struct, reflect.Array:
	default: // Chan, Complex, Uintptr, UnsafePointer
		// Channels: receive and send block with no regard for the run's
		// deadline, close panics the Go side; nothing to offer safely.
		return nil, fmt.Errorf("%s values are not exposed to scripts", rv.Type())
	}
	if !rv.CanInterface() {
		return nil, fmt.Errorf("cannot expose unexported %s", rv.Type())
	}
	return &lua.LUserData{Value: &view{rv: detach(rv), ex: ex}, Metatable: st.mt}, nil
}

// detach copies a pointer, map, slice or func read from Go memory (a field,
// an element) out of it: the view then reads the pointee, map or backing
// array it pointed to when read, and never the field itself again, which a
// script may overwrite meanwhile. Every read of shared memory a view makes
// is then one of its metamethods, under the module's lock.
func detach(rv reflect.Value) reflect.Value {
	if rv.CanAddr() {
		switch rv.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func:
			return reflect.ValueOf(rv.Interface())
		}
	}
	return rv
}

// goValue returns v's value for Go, copied under the module's lock when it
// is a struct or array in shared memory (a Go call copies it, and a
// writable view's writes may race that copy). Other views are detached.
func goValue(v *view) reflect.Value {
	mu := v.ex.opts.mu
	if mu == nil || !v.rv.CanAddr() {
		return v.rv
	}
	mu.RLock()
	defer mu.RUnlock()
	c := reflect.New(v.rv.Type()).Elem()
	c.Set(v.rv)
	return c
}

// ctxValue returns the context for a Go function called during the
// current run: run.Context() with the run's CallInfo. It is made on the
// first call of a run and kept until the module's End, so later calls do
// not allocate for it. ok is false when no run is current.
func (ex *exposed) ctxValue() (v reflect.Value, ok bool) {
	ctx, req := ex.run.Context(), ex.run.Request()
	if ctx == nil || req == nil {
		return reflect.Value{}, false
	}
	// End drops the cache after every run; comparing the parent as well
	// keeps a host that reuses a VM without End from handing a run the
	// previous run's context.
	if ex.ctx.IsValid() && reflect.TypeOf(ctx).Comparable() && ex.ctxParent == ctx {
		return ex.ctx, true
	}
	var w context.Context = &runCtx{Context: ctx, info: CallInfo{
		Tenant: req.Tenant, Script: req.Script, CallID: req.Value(protocol.ParamCallID)}}
	ex.ctx, ex.ctxParent = reflect.ValueOf(&w).Elem(), ctx
	return ex.ctx, true
}

// runCtx is the run's context plus its CallInfo. It passes AfterFunc
// through: the engine's run context registers contexts derived from it
// (context.WithTimeout in Go code) instead of letting each start a
// goroutine that could outlive the run and see the next one's state;
// context.WithValue would hide that method.
type runCtx struct {
	context.Context
	info CallInfo
}

func (c *runCtx) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return &c.info
	}
	return c.Context.Value(key)
}

func (c *runCtx) AfterFunc(f func()) (stop func() bool) {
	if a, ok := c.Context.(interface{ AfterFunc(func()) func() bool }); ok {
		return a.AfterFunc(f)
	}
	return context.AfterFunc(c.Context, f)
}
