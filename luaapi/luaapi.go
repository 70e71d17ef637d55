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
	"strings"
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

// Logger returns the server log tagged with the run's tenant, script and
// CallID.
func (r *Run) Logger() *slog.Logger {
	return r.Svc.Log.With("tenant", r.Request.Tenant, "script", r.Request.Script,
		"call_id", Truncate(r.Request.Value(protocol.ParamCallID), 128))
}

// Redact replaces every value of the tenant's env in s with [redacted], so a
// secret a script passes to print or log does not end up in the server log.
// Values shorter than 4 bytes are left alone: they would redact ordinary
// words.
func (r *Run) Redact(s string) string {
	if r.Tenant == nil || len(r.Tenant.Env) == 0 {
		return s
	}
	// Longest first, so a secret that contains another one is replaced
	// whole rather than leaving its tail behind.
	secrets := make([]string, 0, len(r.Tenant.Env))
	for _, v := range r.Tenant.Env {
		if len(v) >= 4 {
			secrets = append(secrets, v)
		}
	}
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// Scrub makes a script-supplied string safe for the log: secrets redacted
// first (so a cut cannot leave half a secret), then cut to n bytes.
func (r *Run) Scrub(s string, n int) string { return Truncate(r.Redact(s), n) }

// null returns the VM's json.null: the value that stands for JSON null in
// decoded arrays, and encodes as null.
func (r *Run) null(L *lua.LState) lua.LValue {
	if r.jsonNull == nil {
		r.jsonNull = L.NewUserData()
		r.jsonNull.Metatable = lockedMeta(L, L.NewTable(), "json.null")
	}
	return r.jsonNull
}

// Log budget: what one run may write to the server log through print and the
// log module. A script printing megabytes in a loop would otherwise fill
// the operator's disk in seconds.
const (
	MaxLogLine = 8 << 10  // longer messages are cut
	MaxLogRun  = 64 << 10 // past this, the run's lines are dropped
)

// logLineCost is what every line costs the budget on top of its text: the
// tags and framing the log adds, so a million empty prints are not free.
const logLineCost = 128

// LogAllowed charges n bytes to the run's log budget and says whether the
// line may be written, and how much of it. The first refusal is reported
// once, so the operator knows lines were dropped.
func (r *Run) LogAllowed(n int) (keep int, ok bool) {
	if r.logged >= MaxLogRun {
		return 0, false
	}
	keep = min(n, MaxLogLine)
	r.logged += keep + logLineCost
	if r.logged >= MaxLogRun {
		r.Logger().Warn("script log budget used up; its further print and log lines are dropped", "budget_bytes", MaxLogRun)
	}
	return keep, true
}

// Truncate cuts s to n bytes, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "...[truncated]"
}
