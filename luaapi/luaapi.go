// Package luaapi is what a script sees: the request object, the response
// builder and the modules (one file each). Modules register themselves in a
// registry at init; the engine opens every registered module once per VM and
// points it at the current run before each run.
//
// Values built here live as long as their VM, so they must hold no per-run
// state of their own: everything a run may change is in Run, which the engine
// resets before every run.
package luaapi

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/netguard"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/tenant"
)

// Services are what modules share across every VM of an engine.
type Services struct {
	Log        *slog.Logger
	Sessions   session.Store
	SessionTTL time.Duration // default TTL; a tenant's config may override it
	HTTP       *netguard.Client
	MaxString  int // largest string a module may build (json.encode, http bodies)

	// redactors holds each tenant configuration's redactor, keyed by the
	// *tenant.Config, which stays the same for a tenant until the tenants
	// file changes; nRedactors bounds it (see redactorFor).
	redactors  sync.Map
	nRedactors atomic.Int64
}

// Run is the state of the run a VM is executing. The engine owns it; modules
// read it when a script calls them.
type Run struct {
	Ctx      context.Context
	Request  *protocol.Request
	Response Response
	Tenant   *tenant.Config // the running tenant's configuration
	Svc      *Services      // set once per VM

	// Wait, when set (once per VM, by the engine), is called by a module
	// just before it blocks on the network (an http call, a session store
	// round trip); the function it returns is called when the wait is over.
	// The engine lends the run's CPU share to other runs meanwhile.
	Wait func() (resume func())

	logged     int            // bytes this run wrote to the log through print and log
	logFull    bool           // the log budget is used up (and the warning written)
	logger     *slog.Logger   // Logger's, made on first use
	logH       *scriptLog     // its handler
	red        *redactor      // the tenant's, found on first use
	jsonNull   *lua.LUserData // json.null, one per VM
	params     *lua.LTable    // request.params, made on first use
	paramsFull bool           // every parameter copied into params
	paramsMeta *lua.LTable    // per VM
}

// Reset prepares the run state for a new request.
func (r *Run) Reset(ctx context.Context, req *protocol.Request, cfg *tenant.Config, maxResponse int) {
	r.Ctx = ctx
	r.Request = req
	r.Tenant = cfg
	r.params = nil
	r.paramsFull = false
	r.logged = 0
	r.logFull = false
	r.logger, r.logH = nil, nil
	r.red = nil
	r.Response.reset(maxResponse)
}

// blocking marks the start of a network wait; call the result when it ends.
func (r *Run) blocking() (resume func()) {
	if r.Wait == nil {
		return func() {}
	}
	return r.Wait()
}

// Module is a global a script can use.
type Module struct {
	Name string
	// Open builds the module's value for one VM. It is called once per VM;
	// functions it returns find the current request through run.
	Open func(L *lua.LState, run *Run) lua.LValue
}

var registry = map[string]Module{}

// Register adds a module. It is meant for init functions; registering a name
// twice is a programming error and panics.
func Register(m Module) {
	if _, dup := registry[m.Name]; dup {
		panic("luaapi: module registered twice: " + m.Name)
	}
	registry[m.Name] = m
}

// Modules returns the registered modules sorted by name.
func Modules() []Module {
	out := make([]Module, 0, len(registry))
	for _, m := range registry {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lockedMeta returns a metatable for a per-VM userdata: reads go to index,
// writes fail, and getmetatable returns a string instead of the table.
func lockedMeta(L *lua.LState, index lua.LValue, what string) *lua.LTable {
	mt := L.NewTable()
	mt.RawSetString("__index", index)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("%s is read-only", what)
		return 0
	}))
	mt.RawSetString("__metatable", lua.LString("read-only"))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(what))
		return 1
	}))
	return mt
}

// null returns the VM's json.null: the value that stands for JSON null in
// decoded arrays, and encodes as null.
func (r *Run) null(L *lua.LState) lua.LValue {
	if r.jsonNull == nil {
		r.jsonNull = L.NewUserData()
		r.jsonNull.Metatable = lockedMeta(L, L.NewTable(), "json.null")
	}
	return r.jsonNull
}
