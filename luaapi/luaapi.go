// Package luaapi is what a script sees: the request object, the response
// builder and the modules (session, http, json, log, env; one file each).
//
// A module is a value built with the dependencies it needs (Standard builds
// dialua's own from Deps); the engine receives the list through its Options
// and opens every module once in each VM it makes. A module's functions see
// the call that is running through the narrow Run interface: the run's
// context, the request, the tenant's configuration, its log. The engine owns
// the concrete run state (Call) and resets it before every run.
//
// Values built in Open live as long as their VM, which runs many calls of
// many tenants one after another, so they must keep no per-run state, or
// drop it in their Instance's End.
package luaapi

import (
	"context"
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/tenant"
)

// Module is one global a script can use.
type Module interface {
	// Name is the global's name: a Lua identifier, unique among the
	// engine's modules.
	Name() string
	// Open builds the module's value in one VM. Its functions find the
	// running call through run when they are called, never when they are
	// built. The engine freezes the value (sandbox.Frozen: tables
	// read-only at every depth; a userdata needs a locked metatable, as
	// LockedMeta gives; no table metatables, no Lua closures with
	// upvalues), since it serves every tenant's runs on that VM; what its
	// functions return must likewise be fresh for each call, or frozen.
	Open(L *lua.LState, run Run) Instance
}

// Instance is a module opened in one VM.
type Instance struct {
	Value lua.LValue
	// End, when set, is called after every run on the VM, to drop what the
	// run left in the instance (caches of request data).
	End func()
	// BeforeIterate, when set, is called before pairs or next walks a
	// table, so a table that fills itself lazily (request.params) can
	// complete itself first.
	BeforeIterate func(t *lua.LTable)
}

// Run is what a module sees of the call running on its VM.
type Run interface {
	// Context is the run's: done at its deadline, and carrying the values
	// of the context the embedder passed to Engine.Run.
	Context() context.Context
	// Request is the Call Interactive request being answered.
	Request() *protocol.Request
	// Tenant is the running tenant's configuration (never nil): its
	// limits, http allowlist, env values.
	Tenant() *tenant.Config
	// Log writes to the server log for the script, within the run's log
	// budget, tagged with tenant, script and CallID, with the tenant's
	// secrets redacted.
	Log() *ScriptLog
	// Wait is called just before a module blocks on the network (an http
	// call, a session store round trip); the function it returns is called
	// when the wait is over. The engine lends the run's CPU share to other
	// runs meanwhile.
	Wait() (resume func())
}

// Func makes a Module from a name and a function building its value.
func Func(name string, open func(L *lua.LState, run Run) lua.LValue) Module {
	return funcModule{name, open}
}

type funcModule struct {
	name string
	open func(L *lua.LState, run Run) lua.LValue
}

func (m funcModule) Name() string { return m.name }

func (m funcModule) Open(L *lua.LState, run Run) Instance {
	return Instance{Value: m.open(L, run)}
}

// Reserved are the globals the engine itself defines: a module may not
// take their names.
var reserved = map[string]bool{
	"request": true, "response": true, "require": true, "print": true,
	"_G": true, "_VERSION": true,
}

// CheckNames reports a module list an engine cannot open: a name that is
// not a Lua identifier, a name used twice, or one of the engine's own
// globals (request, response, require, print) or a library's (string,
// table, ... as the sandbox defines them: pass them in taken).
func CheckNames(mods []Module, taken func(name string) bool) error {
	seen := map[string]bool{}
	for _, m := range mods {
		n := m.Name()
		switch {
		case !identifier(n):
			return fmt.Errorf("luaapi: module name %q is not a Lua identifier", n)
		case reserved[n] || (taken != nil && taken(n)):
			return fmt.Errorf("luaapi: module name %q is taken by a built-in global", n)
		case seen[n]:
			return fmt.Errorf("luaapi: two modules named %q", n)
		}
		seen[n] = true
	}
	return nil
}

func identifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	switch s {
	case "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
		"local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while":
		return false
	}
	return true
}

// lockedMeta is the read-only metatable of a module's userdata.
func lockedMeta(L *lua.LState, index lua.LValue, what string) *lua.LTable {
	return sandbox.LockedMeta(L, index, what)
}

// nullKey is where a VM's json.null lives in its registry (which scripts
// cannot reach), so that json and session, opened separately, share it.
const nullKey = "dialua.json.null"

// null returns the VM's json.null: the value that stands for JSON null in
// decoded arrays, and encodes as null.
func null(L *lua.LState) lua.LValue {
	if v := L.G.Registry.RawGetString(nullKey); v != lua.LNil {
		return v
	}
	ud := L.NewUserData()
	ud.Metatable = lockedMeta(L, L.NewTable(), "json.null")
	L.G.Registry.RawSetString(nullKey, ud)
	return ud
}
