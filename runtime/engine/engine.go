// Package engine is dialua's embedding front door: it runs a tenant's script
// (found and compiled by runtime/loader) in a pooled sandboxed VM with the
// request, a response builder and the modules it was given (luaapi), and
// returns the Call Interactive XML. It knows nothing of HTTP; the server in
// runtime/server feeds it, and so can any Go program.
//
// An Engine changes no process-wide setting: the memory watchdog is off
// unless Options.MaxMemory turns it on, and Go's memory limit and GC
// settings are the program's business (cmd/dialua sets them). Several
// engines, with their own scripts and limits, can run in one process.
package engine

import (
	"context"
	"errors"
	"fmt"

	"log/slog"
	"path/filepath"
	goruntime "runtime"
	"time"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/loader"
	"github.com/dialua/dialua/runtime/netguard"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/tenant"
)

// Options configure an Engine. Zero values take the defaults noted.
type Options struct {
	// ScriptsDir is the scripts root, one folder per tenant; required
	// unless Source is set. Poll turns file watching off for it: each
	// script's file is re-checked on request at most every half second
	// instead (for folders where inotify sees no changes: network file
	// systems, some container mounts).
	ScriptsDir string
	Poll       bool
	// Source, when set, is where scripts come from instead of ScriptsDir
	// (the engine does not close it).
	Source loader.Source
	// Releases, when set, picks the release of the tenant's scripts that
	// serves each request (and every module it requires); the Source must
	// serve those releases. Nil: release "" for every request.
	Releases Releases

	Timeout     time.Duration // per-run deadline; default 1s
	VMs         int           // VMs that may exist at once; default 8 per CPU
	MaxResponse int           // bytes of XML a run may produce; default 256 KiB
	// MaxScripts, MaxCacheBytes and MaxTenantCacheBytes bound the
	// compiled-script cache: see loader.Options for the defaults.
	MaxScripts          int
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
	// MaxMemory turns the memory watchdog on: while the heap is over this
	// many bytes, this engine's runs holding more than 8 MiB are stopped.
	// Off when zero or negative (the default): the heap is the whole
	// process's, so only the program knows what limit suits it.
	MaxMemory int64
	// TenantsFile is the operator's per-tenant configuration (limits, http
	// allowlist, env, session TTL). Default: tenants.yaml in ScriptsDir;
	// a missing file means defaults for every tenant.
	TenantsFile string
	// Tenants, when set, is used instead of a registry read from
	// TenantsFile, so that a program (the server's authentication, say)
	// can share one registry with the engine.
	Tenants *tenant.Registry

	// Modules are the globals scripts get besides request, response,
	// require and print, and the sandbox's libraries. Nil: the standard
	// ones (luaapi.Standard) built from Sessions, SessionTTL and Dev.
	Modules []luaapi.Module
	// Sessions is the session store of the standard modules; default an
	// in-process one, which the engine closes.
	Sessions session.Store
	// SessionTTL: see luaapi.Deps.
	SessionTTL time.Duration
	// Dev lets the standard http module reach loopback addresses without
	// listing them. For local development only.
	Dev    bool
	Logger *slog.Logger // default: discard
	// Observer hears of every run, memory stop, cache event and (for the
	// standard modules) http call, for metrics. Nil (the default): nobody,
	// at no cost.
	Observer Observer
}

// Observer is told what the engine does, as it happens. Its methods must be
// cheap and safe for concurrent use: RunDone and CacheEvent are called on
// every request. The engine holds no metrics itself (runtime/metrics
// implements this).
type Observer interface {
	// RunDone ends every Run: outcome is "ok", an ErrorKind of a failed
	// script ("compile", "runtime", "timeout", "memory"), or "not_found",
	// "bad_path", "busy", "tenant_busy", "error" (anything else: a release
	// pick that failed).
	RunDone(tenant, outcome string, d time.Duration)
	// MemoryStop is a run stopped for memory: reason "heap" (the
	// watchdog: the heap passed Options.MaxMemory) or "run" (the run
	// passed Options.MaxRunMemory).
	MemoryStop(tenant, reason string)
	loader.Observer
	luaapi.HTTPObserver
}

// Outcomes of Observer.RunDone besides "ok" and the ErrorKinds.
const (
	OutcomeOK         = "ok"
	OutcomeNotFound   = "not_found"
	OutcomeBadPath    = "bad_path"
	OutcomeBusy       = "busy"
	OutcomeTenantBusy = "tenant_busy"
	OutcomeError      = "error"
)

// Outcome names err as Observer.RunDone does.
func Outcome(err error) string {
	if err == nil {
		return OutcomeOK // before se, which errors.As would move to the heap
	}
	var se *ScriptError
	switch {
	case errors.As(err, &se):
		return string(se.Kind)
	case errors.Is(err, ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, ErrBadPath):
		return OutcomeBadPath
	case errors.Is(err, ErrTenantBusy):
		return OutcomeTenantBusy
	case errors.Is(err, ErrBusy):
		return OutcomeBusy
	}
	return OutcomeError
}

// Stats is the engine's state now, for gauges.
type Stats struct {
	VMs        int // VMs that may exist at once
	VMsInUse   int // VM slots held by runs
	VMsWaiting int // requests waiting in line for a VM slot
	CPUWaiting int // runs waiting for a CPU token
	Cache      loader.Stats
}

// Stats reports the VM slots in use and waited for, and the cache's size.
func (e *Engine) Stats() Stats {
	e.sched.mu.Lock()
	st := Stats{VMs: e.opts.VMs, VMsInUse: e.opts.VMs - e.sched.vmFree, VMsWaiting: len(e.sched.vmLine),
		CPUWaiting: len(e.sched.cpuLine)}
	e.sched.mu.Unlock()
	st.Cache = e.scripts.Stats()
	return st
}

// Defaults of Options (the cache's are loader's, the string limit
// sandbox's, the session TTL luaapi's).
const (
	DefaultTimeout      = time.Second
	DefaultMaxResponse  = 256 << 10
	DefaultMaxRunMemory = 64 << 20
)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.VMs <= 0 {
		o.VMs = 8 * goruntime.GOMAXPROCS(0)
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = DefaultMaxResponse
	}
	if o.TenantsFile == "" && o.ScriptsDir != "" {
		o.TenantsFile = filepath.Join(o.ScriptsDir, "tenants.yaml")
	}
	if o.MaxRunMemory == 0 {
		o.MaxRunMemory = DefaultMaxRunMemory
	}
	if o.TenantVMs <= 0 {
		o.TenantVMs = max(2, o.VMs/4)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Limits = o.Limits.WithDefaults()
	return o
}

// Releases picks which of a tenant's releases serves a request: the one a
// call was pinned to, a canary's share of new calls, or the live one. It is
// called once per request, before the script is loaded, so a request sees
// one release whole. commit, when not nil, is called once the script was
// found and the run admitted (a new call's pin is written then, so that
// requests for scripts that do not exist cost the pin store nothing).
type Releases interface {
	Pick(ctx context.Context, req *protocol.Request) (release string, commit func(), err error)
}

// Engine runs scripts. It is safe for concurrent use.
type Engine struct {
	opts     Options
	src      loader.Source
	ownSrc   bool // the engine made src and closes it
	scripts  *loader.Loader
	pool     *pool
	sched    *sched
	log      *slog.Logger
	mem      *watchdog
	tenants  *tenant.Registry
	modules  []luaapi.Module
	reds     *luaapi.Redactors
	sessions session.Store // made by the engine, closed by it; nil otherwise
}

// New builds an engine. Start-up reads no script: scripts compile on their
// first request.
func New(opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	if !sandbox.ArraysLimited() {
		return nil, errors.New("engine: call sandbox.LimitArrays() once at start-up first (gopher-lua's array limit is process-wide, so the engine does not set it for you)")
	}
	e := &Engine{opts: opts, log: opts.Logger, src: opts.Source, reds: &luaapi.Redactors{}}
	if e.src == nil {
		if opts.ScriptsDir == "" {
			return nil, errors.New("engine: Options.ScriptsDir or Options.Source is required")
		}
		f, err := loader.NewFolder(opts.ScriptsDir, !opts.Poll, opts.Logger)
		if err != nil {
			return nil, err
		}
		e.src, e.ownSrc = f, true
	}
	reg, err := opts.Tenants, error(nil)
	if reg == nil {
		if reg, err = tenant.NewRegistry(opts.TenantsFile, opts.Logger); err != nil {
			e.closeSource()
			return nil, err
		}
	}
	e.tenants = reg
	e.modules = opts.Modules
	if e.modules == nil {
		sess := opts.Sessions
		if sess == nil {
			sess = session.NewMemory(session.MemoryLimits{})
			e.sessions = sess
		}
		deps := luaapi.Deps{Sessions: sess, SessionTTL: opts.SessionTTL,
			HTTP: netguard.New(netguard.Options{Dev: opts.Dev}), MaxString: opts.Limits.MaxStringBytes}
		if opts.Observer != nil {
			deps.HTTPObserver = opts.Observer
		}
		e.modules = luaapi.Standard(deps)
	}
	probe := sandbox.New(opts.Limits)
	err = luaapi.CheckNames(e.modules, probe.Defines)
	probe.Close()
	if err != nil {
		e.closeSource()
		if e.sessions != nil {
			e.sessions.Close()
		}
		return nil, err
	}
	e.scripts = loader.New(e.src, loader.Options{MaxScripts: opts.MaxScripts, MaxBytes: opts.MaxCacheBytes,
		MaxTenantBytes: opts.MaxTenantCacheBytes, Logger: opts.Logger, Observer: cacheObserver(opts.Observer)})
	e.sched = newSched(opts.VMs, goruntime.GOMAXPROCS(0))
	go e.sched.govern()
	e.mem = newWatchdog(opts.MaxMemory, &e.sched.pressure)
	e.pool = newPool(opts.VMs, e.newVM)
	// The first VM is built here, so a module whose value cannot be
	// frozen is an error of New, not a panic later.
	first, err := e.buildVM()
	if err != nil {
		e.Close()
		return nil, err
	}
	e.pool.put(first)
	e.pool.warm(goruntime.GOMAXPROCS(0) - 1)
	return e, nil
}

// VMs is how many VMs may exist at once (Options.VMs after defaults).
func (e *Engine) VMs() int { return e.opts.VMs }

// TenantVMs is one tenant's default share of them (Options.TenantVMs after
// defaults).
func (e *Engine) TenantVMs() int { return e.opts.TenantVMs }

func (e *Engine) closeSource() {
	if e.ownSrc {
		e.src.Close()
	}
}

// Close stops watching files and frees idle VMs. Runs in flight must be
// over first.
func (e *Engine) Close() {
	if e.sessions != nil {
		e.sessions.Close()
	}
	e.mem.close()
	e.sched.close()
	e.closeSource()
	e.pool.closeIdle()
}

// Run executes the script for req and appends the response document to dst.
// A nil error means a complete, valid response. Errors: ErrBadPath,
// ErrNotFound, ErrBusy, or a *ScriptError for a script that failed to
// compile, raised an error or ran past its deadline.
func (e *Engine) Run(ctx context.Context, req *protocol.Request, dst []byte) ([]byte, error) {
	if e.opts.Observer == nil {
		return e.run(ctx, req, dst)
	}
	begin := time.Now()
	dst, err := e.run(ctx, req, dst)
	e.opts.Observer.RunDone(req.Tenant, Outcome(err), time.Since(begin))
	return dst, err
}

// cacheObserver is o as the loader's observer: nil stays an untyped nil.
func cacheObserver(o Observer) loader.Observer {
	if o == nil {
		return nil
	}
	return o
}

func (e *Engine) run(ctx context.Context, req *protocol.Request, dst []byte) ([]byte, error) {
	release := ""
	var commit func()
	if e.opts.Releases != nil {
		var err error
		if release, commit, err = e.opts.Releases.Pick(ctx, req); err != nil {
			return dst, err
		}
		req.Release = release
	}
	sc, err := e.scripts.Get(loader.Name{Tenant: req.Tenant, Release: release, Script: req.Script})
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
	if commit != nil {
		commit()
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
	defer func() {
		e.sched.finish(sh, held, used+extra)
		// The run over, its goroutine lets the others waiting for its
		// thread go first: the finish wakes the next run waiting for a
		// token or a slot, and without a yield here chains of such
		// hand-offs kept the goroutines woken by the network waiting for up
		// to Go's 10 ms preemption (benchmarks/README.md, "2026-12-04: the
		// tail was a hand-off").
		goruntime.Gosched()
	}()
	// The run's context is the VM's reusable deadline; a caller's own
	// cancellation (none for the HTTP server) is forwarded to it.
	v.deadline.start(ctx, deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { v.deadline.fire(StopCancel) })
		defer stop()
	}
	var serr *ScriptError
	if v.slice.begin(e.sched, sh, v.deadline.Done()) {
		serr = v.run(v.deadline, req, release, sc, cfg, e.opts.MaxResponse)
	} else {
		serr = &ScriptError{Kind: KindTimeout, Tenant: req.Tenant, Script: req.Script}
	}
	held, used = v.slice.end()
	why := v.deadline.stop()
	if serr != nil {
		v.call.End() // modules drop what they kept of the run, failed or not
		v.close()
		extra += failureCost
		if o := e.opts.Observer; o != nil && (why == StopMemory || why == StopAllocation) {
			reason := "run"
			if why == StopMemory {
				reason = "heap"
			}
			o.MemoryStop(req.Tenant, reason)
		}
		switch why {
		case StopMemory:
			serr.Kind = KindMemory
			serr.Message = fmt.Sprintf("stopped: the server's heap passed its limit while this script held more than %d MiB", guiltyFloor>>20)
		case StopAllocation:
			serr.Kind = KindMemory
			serr.Message = fmt.Sprintf("stopped: the script held more than %d MiB", e.opts.MaxRunMemory>>20)
		case StopDeadline, StopCancel:
			serr.Kind = KindTimeout
			serr.Message = "script ran past its deadline of " + timeout.String()
		}
		return dst, serr
	}
	dst = v.call.Response.AppendDocument(dst)
	v.clear()
	e.pool.put(v)
	return dst, nil
}
