// Package luar exposes Go values to hostile tenants' Lua scripts as
// dialua modules: read-only views by default, the run's context handed to
// Go functions, Go panics turned into Lua errors naming the script's line.
//
//	mods := append(luaapi.Standard(deps),
//		luar.Value("crm", client),                 // one value for every tenant
//		luar.PerTenant("billing", billingFor),     // a value per tenant
//	)
//	eng, err := engine.New(engine.Options{ScriptsDir: dir, Modules: mods})
//
// Why not plain layeh.com/gopher-luar: its metatables write straight into
// shared Go memory (struct fields, map entries, slice and array elements,
// whole pointees through ptr ^ v, slice + v appending into a shared backing
// array), let a script send on, receive from (blocking, deaf to the run's
// deadline) and close channels, let a script forge a method receiver out of
// a table, and surface Go panics without the script's line.
//
// This package keeps gopher-luar for what it does well, converting Lua
// tables into Go values for arguments (after checks), and for its field
// naming rules (luar struct tags, luar.GetConfig); every value a script
// sees is one of our views, so no script reaches a gopher-luar metatable.
// Lua functions passed to Go are wrapped here, not by gopher-luar.
//
// # What a script sees
//
// Booleans, numbers and strings are copied into Lua values. nil, and nil
// pointers, maps, slices and funcs, are nil. Structs, pointers, maps,
// slices and arrays are views (userdata) that read through to the Go
// value; everything read from a view, or returned by its methods, is a view
// with the same options. Fields and methods follow gopher-luar's names:
// Name and name; `luar:"-"` hides a field, `luar:"x"` renames it.
// Unexported fields and methods are never visible. Views support #, ==
// (same pointer, map or slice; equal comparable values), tostring
// (fmt.Stringer, otherwise the type's name), and iteration as in
// gopher-luar: for i, x in slice() do ... end, for k, v in map() do ... end.
// getmetatable(view) is the string "luar".
//
// Views are read-only unless Writable (whose accesses all take a lock the
// module's VMs share: see Writable): every assignment raises
// "<type> is read-only". gopher-luar's other writers (+ appends, ^ sets a
// pointee, unary - closes a channel) do not exist here. Channels, complex
// numbers, uintptr and unsafe.Pointer are never exposed: Value panics on
// one, and reading one from a view raises a Lua error.
//
// # Calling Go
//
// Functions and methods are called as f(args) and value:Method(args); a
// method only accepts one of our views of its own receiver type as self (a
// script cannot make one out of a table). A first parameter of type
// context.Context is not passed by the script: it receives the run's
// context (run.Context(): done at the run's deadline, carrying the values
// of the context the embedder passed to engine.Run), with the run's
// CallInfo (see CallFrom). That context is made once per run. A last
// result of type error follows dialua's convention: on a non-nil error the
// function returns nil for each other result, then the error's message.
// Arguments convert as in gopher-luar; tables passed to Go are limited to 32
// levels and 100,000 entries and may not hold functions or userdata.
//
// A Lua function passed for a func parameter becomes a Go func that runs
// it on the script's own Lua state, under the run's context: its deadline
// and the engine's memory and CPU checks go on inside it. Go's arguments
// reach it as read-only views (even for a Writable module); its results
// are converted with the same checks as arguments, and may not be (or
// hold) Lua functions, nor Lua tables or userdata as they are (a
// lua.LValue result gets only nil, booleans, numbers and strings); nil is
// the zero value, and a string is the error for an error result. A Lua
// error in it unwinds through the Go code that called it, as a panic
// (deferred calls run), and becomes the script's error (pcall catches
// it). Go may call it only while the Go call it was passed to runs, and
// only on that call's goroutine: otherwise it panics with a string and
// runs nothing.
//
// A Go panic (in a function, a method, a String method, a PerTenant
// function) becomes the Lua error "<script>:<line>: <name>: Go panic:
// <value, at most 200 bytes>", which pcall catches; the Go stack goes to
// the server log through run.Log().Logger() (tagged with tenant, script and
// CallID, within the run's log budget), never to the script.
//
// # What is not protected
//
// Methods are the embedder's API: an exported method that mutates (a
// setter, Reset) is callable even on a read-only view, so expose narrow
// types. An interface-typed field or result is exposed with its dynamic
// type's whole exported method set, not only the interface's methods. Go
// code that ignores its ctx, or takes none and blocks, holds the run past
// its deadline: gopher-lua checks the deadline between instructions only.
// Methods and functions of a Writable module's value run without the
// module's lock: Go code touching memory scripts write must take it (see
// WithLock). Error messages and panic values reach the script (the engine
// redacts the tenant's secrets from what it logs); keep secrets out of
// them. A parameter of a Go function, or a result, of a lua.LValue type
// passes the script's value (or Go's) as it is: Go must not keep it past
// the call.
package luar

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
)

// Option changes how a module exposes its value.
type Option func(*options)

type options struct {
	writable bool
	blocking bool
	mu       *sync.RWMutex // taken by every access through a view; nil: none
}

// Writable lets scripts set struct fields (reached through pointers),
// map entries and slice and array elements of the exposed value and of
// everything reached from it. Off by default, for a good reason: a Value's
// Go memory is shared by every run of every tenant, and a write lands there
// for all later runs. Even when writable, a Lua function, table or userdata
// is never stored in Go memory (not even in a lua.LValue field: a table is
// converted into a new Go value, for a Go type that holds no lua.LValue), a
// slice never grows, and a copy (a struct held by value in an interface or
// a map) cannot be written.
//
// Runs of many tenants use a module at once, so every access a script makes
// through a writable module's views (reads, writes, #, iteration, ==,
// tostring) takes one sync.RWMutex shared by every VM of every engine the
// module is in: a write holds it exclusively. That lock is the module's own
// unless WithLock gives yours. The bridge never calls Go code (a method, a
// function, String) while holding it, so your Go code that touches the
// same memory (methods of the exposed value included) must take the same
// lock itself: use WithLock, and do not hold it while calling a function a
// script passed.
func Writable() Option { return func(o *options) { o.writable = true } }

// WithLock makes every access a script makes through the module's views
// take mu (RLock to read, Lock to write), instead of the lock Writable
// makes, so Go code can share it: take mu.Lock while your Go code writes
// memory scripts read (a read-only module with WithLock takes mu.RLock for
// every read too), and mu.RLock while it reads memory a Writable module's
// scripts write. mu must not be held while calling a function a script
// passed (its reads through views would wait for it).
func WithLock(mu *sync.RWMutex) Option { return func(o *options) { o.mu = mu } }

// Blocking says the module's Go functions block on the network (a CRM's
// HTTP API, a database): each call is wrapped in run.Wait, so the engine
// lends the run's CPU share to other runs while it waits. Lua functions
// cannot be passed to a blocking module's functions (they would run Lua
// without the run's share).
func Blocking() Option { return func(o *options) { o.blocking = true } }

// CallInfo identifies the run whose script called a Go function.
type CallInfo struct {
	Tenant string // the request's tenant (first path segment)
	Script string // the script's path inside it, without .lua
	CallID string // the request's CallID parameter, "" when absent
}

type callKey struct{}

// CallFrom returns the identity of the run whose script called the Go
// function that received ctx (or any context derived from it).
func CallFrom(ctx context.Context) (CallInfo, bool) {
	ci, ok := ctx.Value(callKey{}).(*CallInfo)
	if !ok || ci == nil {
		return CallInfo{}, false
	}
	return *ci, true
}

// Value is a module whose global, name, is v, the same Go value for every
// run of every tenant of the engine (v must be safe for concurrent use: an
// engine runs many VMs at once). It panics if v cannot be exposed at all
// (a channel, a complex number, uintptr, unsafe.Pointer, or a Lua table,
// function or userdata, which belong to one Lua state: build those with
// luaapi.Func).
func Value(name string, v any, opts ...Option) luaapi.Module {
	if err := exposable(v); err != nil {
		panic(fmt.Sprintf("luar.Value(%q): %v", name, err))
	}
	return valueModule{name: name, v: v, opts: collect(opts)}
}

// PerTenant is a module whose global, name, shows a value chosen for the
// running tenant: fn(tenant) is called when a run first touches the global
// (reads a field, calls a method), at most once per run, never when the VM
// is built, and its result is visible to that run only. fn is called from
// many VMs at once, so it must be safe for concurrent use; cache in it
// what is costly to make. A panic in fn is a Lua error, as in any Go call.
//
// The value must be a struct, pointer, map, slice, array or func. The
// global itself is always a handle (Lua has no lazy globals), so
// `billing == nil` is false even for a tenant without a value; for such a
// tenant (fn returned nil, or an error, or a value of another kind) every
// field of the handle reads as nil, tostring gives "nil", and calling it,
// assigning to it or taking its length raises "<name> is nil for this
// tenant". Test `if billing.Charge then ... end`. fn's error is written to
// the server log for the run, never shown to the script.
func PerTenant(name string, fn func(tenant string) (any, error), opts ...Option) luaapi.Module {
	if fn == nil {
		panic(fmt.Sprintf("luar.PerTenant(%q): nil function", name))
	}
	return tenantModule{name: name, fn: fn, opts: collect(opts)}
}

// collect applies opts. A Writable module without WithLock gets its own
// lock, made here, once per module: every VM the module is opened in
// shares it.
func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.writable && o.mu == nil {
		o.mu = new(sync.RWMutex)
	}
	return o
}

// exposable refuses values Value cannot hand to scripts.
func exposable(v any) error {
	switch v.(type) {
	case nil, lua.LString, lua.LNumber, lua.LBool:
		return nil
	case lua.LValue:
		return fmt.Errorf("%T is a Lua value of one Lua state; build it per VM with luaapi.Func", v)
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Chan, reflect.Complex64, reflect.Complex128, reflect.Uintptr, reflect.UnsafePointer:
		return fmt.Errorf("%T values are not exposed to scripts", v)
	}
	return nil
}

type valueModule struct {
	name string
	v    any
	opts options
}

func (m valueModule) Name() string { return m.name }

func (m valueModule) Open(L *lua.LState, run luaapi.Run) luaapi.Instance {
	ex := &exposed{name: m.name, run: run, opts: m.opts}
	var lv lua.LValue = lua.LNil
	if m.v != nil {
		var err error
		if lv, err = stateOf(L).toLua(L, reflect.ValueOf(m.v), ex); err != nil {
			panic("luar.Value: " + err.Error()) // exposable let it through
		}
	}
	return luaapi.Instance{Value: lv, End: ex.end}
}

// exposed is what every view reached from one module, in one VM, shares:
// the module's options, the VM's run, and the current run's context.
type exposed struct {
	name string
	run  luaapi.Run
	opts options

	// The context Go functions receive, made on the first call of a run
	// that takes one and dropped by end.
	ctx       reflect.Value // of type context.Context
	ctxParent context.Context

	ro *exposed // the read-only twin of a writable module, for callback arguments
}

// end is the module's Instance.End: nothing of the run stays.
func (ex *exposed) end() {
	ex.ctx, ex.ctxParent = reflect.Value{}, nil
	if ex.ro != nil {
		ex.ro.end()
	}
}

// readOnly returns ex without Writable (same name, run, Blocking and lock):
// what Go passes to a script's function is shown read-only.
func (ex *exposed) readOnly() *exposed {
	if !ex.opts.writable {
		return ex
	}
	if ex.ro == nil {
		o := ex.opts
		o.writable = false
		ex.ro = &exposed{name: ex.name, run: ex.run, opts: o}
	}
	return ex.ro
}

// view is the Value of every userdata this package hands to scripts.
type view struct {
	rv reflect.Value // struct, pointer, map, slice or array; never nil
	ex *exposed
}
