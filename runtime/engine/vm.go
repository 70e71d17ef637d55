package engine

import (
	"context"
	"errors"
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/loader"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/tenant"
)

// vm is a sandboxed Lua state plus the run state its modules read. It holds
// nothing of the engine but a function that loads the tenant's modules.
type vm struct {
	load     func(loader.Name) (*loader.Script, error)
	release  string // the release the running script came from; its modules come from it too
	deadline *runDeadline
	lctx     *luaCtx // what the Lua state sees: deadline plus time slices
	slice    slice
	sb       *sandbox.VM
	call     *luaapi.Call
	env      *lua.LTable
	loaded   map[string]lua.LValue // modules required in this run
	data     dataModules           // data modules built in this VM, frozen (require.go)
	errFn    *lua.LFunction        // onError, made once per VM
	main     *lua.LFunction        // the last script's main function, kept for its next run here (and its compiled code with it, evicted or not: one script per VM)
	failure  runFailure            // what onError saw in the last failed run
}

func (e *Engine) newVM() *vm {
	v, err := e.buildVM()
	if err != nil {
		// New built a VM with the same modules and succeeded, so this is
		// a module whose Open is not deterministic.
		panic("engine: " + err.Error())
	}
	return v
}

// buildVM makes a VM with every module opened in it, each module's value
// frozen (sandbox.Frozen): a module lives as long as its VM, which runs
// many tenants' calls one after another.
func (e *Engine) buildVM() (*vm, error) {
	v := &vm{sb: sandbox.New(e.opts.Limits), deadline: newRunDeadline()}
	v.load = e.scripts.Get
	v.lctx = &luaCtx{runDeadline: v.deadline, slice: &v.slice}
	v.call = luaapi.NewCall(e.log, e.reds, v.slice.wait)
	v.errFn = v.sb.L.NewFunction(v.onError)
	v.slice.over = func(bar int64) bool { over, _ := v.over(bar); return over }
	v.slice.fire = func(r StopReason) { v.deadline.fire(r) }
	v.slice.maxLive = max(0, e.opts.MaxRunMemory)
	L := v.sb.L
	for _, m := range append(v.call.Core(), e.modules...) {
		val, err := v.sb.Frozen(v.call.Open(L, m))
		if err != nil {
			v.close()
			return nil, fmt.Errorf("module %s: %v", m.Name(), err)
		}
		v.sb.Set(m.Name(), val)
	}
	v.sb.Set("require", L.NewFunction(v.require))
	v.sb.OnIterate = v.call.BeforeIterate
	v.sb.Print = v.call.Print
	return v, nil
}

func (v *vm) close() {
	v.deadline.timer.Stop()
	v.sb.Close()
}

// run executes one script on this VM.
func (v *vm) run(ctx context.Context, req *protocol.Request, release string, sc *loader.Script, cfg *tenant.Config, maxResponse int) *ScriptError {
	L := v.sb.L
	v.release = release
	v.call.Begin(ctx, req, cfg, maxResponse)
	v.sb.Reset()
	v.env = v.sb.NewEnvFor(req.Tenant)
	// A main chunk has no upvalues and no script can get hold of it (no
	// debug library, no getfenv), so the function object of the last run's
	// script is reused when the same script runs again.
	fn := v.main
	if fn == nil || fn.Proto != sc.Proto {
		fn = L.NewFunctionFromProto(sc.Proto)
		v.main = fn
	}
	fn.Env = v.env
	// Every run starts a whole slice before its first check-in: a count
	// carried over from the last run would have one short run in twenty
	// (of a few hundred instructions) check in, and give the thread up to
	// other goroutines, while it holds a CPU token.
	v.lctx.left = tickEvery
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
		se.Message = nameCulprit(errorMessage(ae.Object, se.Location), v.failure.proto, v.failure.line)
	} else {
		se.Message = err.Error()
	}
	// An error can carry any string the script built; the log gets a
	// bounded, redacted copy.
	se.Message = v.call.Log().Scrub(se.Message, 2048)
	se.Location = v.call.Log().Scrub(se.Location, 256)
	se.Traceback = v.call.Log().Scrub(se.Traceback, 8192)
	return se
}

// clear drops references to the finished run so an idle VM holds no request
// memory.
func (v *vm) clear() {
	v.call.End()
	v.sb.DoneEnv(v.env)
	v.env = nil
	if v.main != nil {
		v.main.Env = nil
	}
	// The map of required modules is kept for the next run, emptied, unless
	// this run required unusually many.
	if len(v.loaded) > maxDataModules {
		v.loaded = nil
	}
	clear(v.loaded)
}
