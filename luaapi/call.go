package luaapi

import (
	"context"
	"log/slog"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/tenant"
)

// Call is one VM's run state, owned by the engine: it is the Run its
// modules see. The engine points it at each request with Begin, and clears
// it with End when the run is over, so an idle VM holds no request memory
// and nothing of one run reaches the next.
type Call struct {
	ctx  context.Context
	req  *protocol.Request
	cfg  *tenant.Config
	log  ScriptLog
	wait func() (resume func())

	// Response is the run's response builder; the engine writes its
	// document out after a run that succeeded.
	Response Response

	ends  []func()
	iters []func(*lua.LTable)
}

// NewCall makes the run state of one VM. Script log lines go to logger
// (nil: discarded), redacted with the tenant's secrets as reds finds them
// (shared by an engine's VMs; nil: found afresh every run); wait is what
// Run.Wait calls (nil: nothing).
func NewCall(logger *slog.Logger, reds *Redactors, wait func() (resume func())) *Call {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Call{wait: wait}
	c.log = ScriptLog{base: logger, reds: reds}
	return c
}

var noConfig = &tenant.Config{}

// Begin points the call at a new request. ctx is the run's context (its
// deadline); cfg nil stands for a tenant with no configuration.
func (c *Call) Begin(ctx context.Context, req *protocol.Request, cfg *tenant.Config, maxResponse int) {
	if cfg == nil {
		cfg = noConfig
	}
	c.ctx, c.req, c.cfg = ctx, req, cfg
	c.log.reset(req, cfg)
	c.Response.reset(maxResponse)
}

// End forgets the finished run, and lets every module drop what it kept of
// it.
func (c *Call) End() {
	for _, f := range c.ends {
		f()
	}
	c.ctx, c.req, c.cfg = nil, nil, nil
	c.log.reset(nil, nil)
	c.Response.reset(0)
}

// Open opens a module in L for this call and returns its value.
func (c *Call) Open(L *lua.LState, m Module) lua.LValue {
	inst := m.Open(L, c)
	if inst.End != nil {
		c.ends = append(c.ends, inst.End)
	}
	if inst.BeforeIterate != nil {
		c.iters = append(c.iters, inst.BeforeIterate)
	}
	return inst.Value
}

// Core returns the modules every script has, request and response, bound
// to this call's response builder. The engine opens them before its
// modules list.
func (c *Call) Core() []Module {
	return []Module{requestModule{}, responseModule{&c.Response}}
}

// BeforeIterate is what the sandbox calls before pairs or next walks t.
func (c *Call) BeforeIterate(t *lua.LTable) {
	for _, f := range c.iters {
		f(t)
	}
}

// Print is what the sandbox's print calls.
func (c *Call) Print(text string) { c.log.Print(text) }

// Context implements Run.
func (c *Call) Context() context.Context { return c.ctx }

// Request implements Run.
func (c *Call) Request() *protocol.Request { return c.req }

// Tenant implements Run.
func (c *Call) Tenant() *tenant.Config { return c.cfg }

// Log implements Run.
func (c *Call) Log() *ScriptLog { return &c.log }

// storeWait is how a store's functions give the CPU token up around a call:
// through run.Wait, unless the store is in process memory and does not wait
// (session.InProcess), when a call keeps the token.
func storeWait(run Run, inProcess bool) func() (resume func()) {
	if inProcess {
		return keepToken
	}
	return run.Wait
}

func keepToken() (resume func()) { return resumeNothing }

func resumeNothing() {}

// Wait implements Run.
func (c *Call) Wait() (resume func()) {
	if c.wait == nil {
		return func() {}
	}
	return c.wait()
}
