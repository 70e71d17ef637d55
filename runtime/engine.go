// Package runtime is dialua's engine: it maps a tenant's script path to a
// compiled Lua file, runs it in a pooled sandboxed VM with the request and a
// response builder, and returns the Call Interactive XML. It knows nothing of
// HTTP; the server in runtime/server feeds it.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	goruntime "runtime"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/netguard"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/tenant"
)

// Options configure an Engine. Zero values take the defaults noted.
type Options struct {
	ScriptsDir  string        // required
	Timeout     time.Duration // per-run deadline; default 1s
	VMs         int           // VMs that may exist at once; default 8 per CPU
	MaxResponse int           // bytes of XML a run may produce; default 256 KiB
	MaxScripts  int           // compiled scripts kept; default 10000
	// MaxCacheBytes bounds the compiled-script cache's estimated memory in
	// total, MaxTenantCacheBytes one tenant's share of it. Defaults: 512 MiB
	// and 64 MiB.
	MaxCacheBytes       int64
	MaxTenantCacheBytes int64
	// TenantVMs is how many VMs one tenant may hold at once when the
	// tenants file sets no max_concurrent for it: a tenant whose runs are
	// slow (loops, slow backends) then ties up its own share, never the
	// whole pool. Default a quarter of VMs, at least 2.
	TenantVMs int
	Limits    sandbox.Limits // string size, call depth, value stack
	// MaxRunMemory stops a run that holds more than this many bytes (an
	// estimate of what it can reach: see livesize.go). Default 64 MiB;
	// negative: off.
	MaxRunMemory int64
	// MaxMemory is the heap size (bytes) past which every run in flight is
	// stopped; also Go's soft memory limit. Default 4 GiB; negative: off.
	MaxMemory int64
	// TenantsFile is the operator's per-tenant configuration (limits, http
	// allowlist, env, session TTL). Default: tenants.yaml in ScriptsDir;
	// a missing file means defaults for every tenant.
	TenantsFile string
	// Sessions is the session store; default an in-process one.
	Sessions session.Store
	// SessionTTL is how long a call's session lives after its last write;
	// default 1h. A tenant's config may override it.
	SessionTTL time.Duration
	// Dev lets scripts' http calls reach loopback addresses without listing
	// them. For local development only.
	Dev bool
	// Poll turns file watching off: each script's file is re-checked on
	// request at most every half second instead. For folders where inotify
	// sees no changes (network file systems, some container mounts).
	Poll   bool
	Logger *slog.Logger // default: discard
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.VMs <= 0 {
		o.VMs = 8 * goruntime.GOMAXPROCS(0)
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = 256 << 10
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = time.Hour
	}
	if o.TenantsFile == "" {
		o.TenantsFile = filepath.Join(o.ScriptsDir, "tenants.yaml")
	}
	if o.MaxRunMemory == 0 {
		o.MaxRunMemory = 64 << 20
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = 4 << 30
	}
	if o.MaxScripts <= 0 {
		o.MaxScripts = 10000
	}
	if o.MaxCacheBytes <= 0 {
		o.MaxCacheBytes = 512 << 20
	}
	if o.MaxTenantCacheBytes <= 0 {
		o.MaxTenantCacheBytes = 64 << 20
	}
	if o.TenantVMs <= 0 {
		o.TenantVMs = max(2, o.VMs/4)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Engine runs scripts. It is safe for concurrent use.
type Engine struct {
	opts    Options
	store   *store
	pool    *pool
	sched   *sched
	log     *slog.Logger
	mem     *watchdog
	tenants *tenant.Registry
	svc     *luaapi.Services
	ownSess bool // the engine made the session store and closes it
}

// New builds an engine over a scripts folder. Start-up reads no script:
// scripts compile on their first request.
func New(opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	st, err := newStore(opts.ScriptsDir, opts.MaxScripts, opts.MaxCacheBytes, opts.MaxTenantCacheBytes, !opts.Poll, opts.Logger)
	if err != nil {
		return nil, err
	}
	reg, err := tenant.NewRegistry(opts.TenantsFile, opts.Logger)
	if err != nil {
		st.close()
		return nil, err
	}
	e := &Engine{opts: opts, store: st, log: opts.Logger, tenants: reg}
	e.sched = newSched(opts.VMs, goruntime.GOMAXPROCS(0))
	go e.sched.govern()
	e.mem = newWatchdog(opts.MaxMemory, &e.sched.pressure)
	if opts.Sessions == nil {
		opts.Sessions = session.NewMemory(session.MemoryLimits{})
		e.ownSess = true
	}
	maxString := opts.Limits.MaxStringBytes
	if maxString <= 0 {
		maxString = 4 << 20
	}
	e.svc = &luaapi.Services{
		Log: opts.Logger, Sessions: opts.Sessions, SessionTTL: opts.SessionTTL,
		HTTP: netguard.New(netguard.Options{Dev: opts.Dev}), MaxString: maxString,
	}
	e.pool = newPool(opts.VMs, e.newVM)
	e.pool.warm(goruntime.GOMAXPROCS(0))
	return e, nil
}

// Close stops watching files and frees idle VMs.
func (e *Engine) Close() {
	if e.ownSess {
		e.svc.Sessions.Close()
	}
	e.mem.close()
	e.sched.close()
	e.store.close()
	e.pool.closeIdle()
}

// Run executes the script for req and appends the response document to dst.
// A nil error means a complete, valid response. Errors: ErrBadPath,
// ErrNotFound, ErrBusy, or a *ScriptError for a script that failed to
// compile, raised an error or ran past its deadline.
func (e *Engine) Run(ctx context.Context, req *protocol.Request, dst []byte) ([]byte, error) {
	if !ValidScriptPath(req.Tenant, req.Script) {
		return dst, ErrBadPath
	}
	sc, err := e.store.get(req.Tenant, req.Script, false)
	if err != nil {
		return dst, err
	}
	cfg := e.tenants.Get(req.Tenant)
	timeout := e.opts.Timeout
	if cfg.Timeout > 0 {
		timeout = time.Duration(cfg.Timeout)
	}
	// An operator's max_concurrent is a hard cap (refused at once beyond
	// it); the default share queues, as it exists for fairness only.
	limit, queueing := e.opts.TenantVMs, true
	if cfg.MaxConcurrent > 0 {
		limit, queueing = cfg.MaxConcurrent, false
	}
	deadline := time.Now().Add(timeout)
	sh, err := e.sched.admit(req.Tenant, cfg.Weight, limit, queueing, deadline, ctx.Done())
	if err != nil {
		return dst, err
	}
	v, built := e.pool.get()
	// The tenant is charged for its run's last CPU time, for the server's
	// work around the run, for building a VM (mostly after one of its runs
	// failed and its VM was thrown away) and for a failure; the token and
	// the VM slot go back in the same step, after the VM is back in the
	// pool.
	var held bool
	var used time.Duration
	extra := built
	defer func() { e.sched.finish(sh, held, used+extra) }()
	// The run's context is the VM's reusable deadline; a caller's own
	// cancellation (none for the HTTP server) is forwarded to it.
	v.deadline.start(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { v.deadline.fire("cancel") })
		defer stop()
	}
	var serr *ScriptError
	if v.slice.begin(e.sched, sh, v.deadline.Done()) {
		serr = v.run(v.deadline, req, sc, cfg, e.opts.MaxResponse)
	} else {
		serr = &ScriptError{Kind: KindTimeout, Tenant: req.Tenant, Script: req.Script}
	}
	held, used = v.slice.end()
	why := v.deadline.stop()
	if serr != nil {
		e.discard(v)
		extra += failureCost
		switch why {
		case "memory":
			serr.Kind = KindMemory
			serr.Message = fmt.Sprintf("stopped: the server's heap passed its limit while this script held more than %d MiB", guiltyFloor>>20)
		case "allocation":
			serr.Kind = KindMemory
			serr.Message = fmt.Sprintf("stopped: the script held more than %d MiB", e.opts.MaxRunMemory>>20)
		case "deadline", "cancel":
			serr.Kind = KindTimeout
			serr.Message = "script ran past its deadline of " + timeout.String()
		}
		return dst, serr
	}
	dst = v.api.Response.AppendDocument(dst)
	v.clear()
	e.pool.put(v)
	return dst, nil
}

// discard drops a VM that must not run again.
func (e *Engine) discard(v *vm) {
	v.close()
}

// vm is a sandboxed Lua state plus the run state its modules read.
type vm struct {
	e        *Engine
	deadline *runDeadline
	lctx     *luaCtx // what the Lua state sees: deadline plus time slices
	slice    slice
	sb       *sandbox.VM
	api      luaapi.Run
	env      *lua.LTable
	loaded   map[string]lua.LValue // modules required in this run
	errFn    *lua.LFunction        // onError, made once per VM
	failure  runFailure            // what onError saw in the last failed run
}

func (e *Engine) newVM() *vm {
	v := &vm{e: e, sb: sandbox.New(e.opts.Limits), deadline: newRunDeadline()}
	v.lctx = &luaCtx{runDeadline: v.deadline, slice: &v.slice}
	v.api.Wait = v.slice.wait
	v.errFn = v.sb.L.NewFunction(v.onError)
	v.slice.v = v
	v.slice.maxLive = max(0, e.opts.MaxRunMemory)
	L := v.sb.L
	v.api.Svc = e.svc
	for _, m := range luaapi.Modules() {
		val := m.Open(L, &v.api)
		if t, ok := val.(*lua.LTable); ok {
			val = v.sb.ReadOnly(t) // a module's table lives as long as the VM
		}
		v.sb.Set(m.Name, val)
	}
	v.sb.Set("require", L.NewFunction(v.require))
	v.sb.OnIterate = v.api.BeforeIterate
	v.sb.Print = v.api.Print
	return v
}

func (v *vm) close() {
	v.deadline.timer.Stop()
	v.sb.Close()
}

// run executes one script on this VM.
func (v *vm) run(ctx context.Context, req *protocol.Request, sc *Script, cfg *tenant.Config, maxResponse int) *ScriptError {
	L := v.sb.L
	v.api.Reset(ctx, req, cfg, maxResponse)
	v.sb.Reset()
	v.env = v.sb.NewEnv()
	fn := L.NewFunctionFromProto(sc.Proto)
	fn.Env = v.env
	L.SetContext(v.lctx)
	L.Push(fn)
	err := L.PCall(0, 0, v.errFn)
	L.RemoveContext()
	if err == nil {
		return nil
	}
	se := &ScriptError{Kind: KindRuntime, Tenant: req.Tenant, Script: req.Script,
		Location: v.failure.loc, Traceback: v.failure.trace}
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		if se.Location == "" {
			// The error handler could not run (the call stack was full):
			// gopher-lua's own traceback, which the VM wrote, is all there is.
			se.Location, se.Traceback = traceLocation(ae.StackTrace), boundTrace(ae.StackTrace)
		}
		se.Message = errorMessage(ae.Object, se.Location)
	} else {
		se.Message = err.Error()
	}
	// An error can carry any string the script built; the log gets a
	// bounded, redacted copy.
	se.Message = v.api.Scrub(se.Message, 2048)
	se.Location = v.api.Scrub(se.Location, 256)
	se.Traceback = v.api.Scrub(se.Traceback, 8192)
	return se
}

// clear drops references to the finished run so an idle VM holds no request
// memory.
func (v *vm) clear() {
	v.api.Reset(nil, nil, nil, 0)
	v.env = nil
	v.loaded = nil
}
