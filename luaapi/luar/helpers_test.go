package luar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/protocol"
)

// vm mimics the engine's run model on one LState, without the engine:
// globals shared by every run (read through a fresh per-run env whose _G
// is itself), modules opened once through a real luaapi.Call, which Begin
// points at each run and End clears, the run's context set on the state,
// errors caught by PCall. The engine-level tests (engine_test.go) run the
// same things through runtime/engine.
type vm struct {
	L       *lua.LState
	globals *lua.LTable
	envMeta *lua.LTable
	call    *luaapi.Call
	logs    *syncBuffer // the server log
	waits   int         // run.Wait calls
	resumes int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newVM(t testing.TB) *vm {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	t.Cleanup(L.Close)
	lua.OpenBase(L)
	lua.OpenString(L)
	g := L.NewTable()
	g.RawSetString("string", L.GetGlobal("string"))
	for _, n := range []string{"assert", "error", "ipairs", "pairs", "next", "pcall", "select",
		"tonumber", "tostring", "type", "getmetatable", "setmetatable", "rawget", "rawset", "rawequal", "unpack"} {
		g.RawSetString(n, L.GetGlobal(n))
	}
	em := L.NewTable()
	em.RawSetString("__index", g)
	v := &vm{L: L, globals: g, envMeta: em, logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(v.logs, nil))
	v.call = luaapi.NewCall(logger, nil, func() func() {
		v.waits++
		return func() { v.resumes++ }
	})
	return v
}

// open opens m in the VM's globals, as the engine does when it builds a VM.
func (v *vm) open(m luaapi.Module) {
	v.globals.RawSetString(m.Name(), v.call.Open(v.L, m))
}

// exec runs src as script "crm.lua" of tenant, with CallID id, within
// timeout, and returns the values the script returns, or its error.
func (v *vm) exec(tenant, id, src string, timeout time.Duration) ([]lua.LValue, error) {
	return v.execCtx(context.Background(), tenant, id, src, timeout)
}

func (v *vm) execCtx(parent context.Context, tenant, id, src string, timeout time.Duration) ([]lua.LValue, error) {
	chunk, err := parse.Parse(strings.NewReader(src), "crm.lua")
	if err != nil {
		return nil, err
	}
	proto, err := lua.Compile(chunk, "crm.lua")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	req := &protocol.Request{Method: "GET", Tenant: tenant, Script: "crm", Path: "/" + tenant + "/crm",
		Params: []protocol.Param{{Name: protocol.ParamCallID, Value: id}}}
	v.call.Begin(ctx, req, nil, 1<<16)
	defer v.call.End()

	env := v.L.CreateTable(0, 4)
	env.Metatable = v.envMeta
	env.RawSetString("_G", env)
	fn := v.L.NewFunctionFromProto(proto)
	fn.Env = env
	L := v.L
	L.SetContext(ctx)
	defer L.RemoveContext()
	top := L.GetTop()
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, nil); err != nil {
		return nil, err
	}
	var out []lua.LValue
	for i := top + 1; i <= L.GetTop(); i++ {
		out = append(out, L.Get(i))
	}
	L.SetTop(top)
	return out, nil
}

func (v *vm) mustExec(t testing.TB, src string) []lua.LValue {
	t.Helper()
	out, err := v.exec("acme", "call-1", src, 5*time.Second)
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, src)
	}
	return out
}

// mustFail runs src and checks that it fails with an error containing want.
func (v *vm) mustFail(t testing.TB, src, want string) string {
	t.Helper()
	_, err := v.exec("acme", "call-1", src, 5*time.Second)
	if err == nil {
		t.Fatalf("script succeeded, want error %q:\n%s", want, src)
	}
	msg := errMsg(err)
	if !strings.Contains(msg, want) {
		t.Fatalf("error %q, want it to contain %q\n%s", msg, want, src)
	}
	return msg
}

func errMsg(err error) string {
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		return ae.Object.String()
	}
	return err.Error()
}

// ---- the Go values the tests expose ----

type Address struct {
	City  string
	Lines []string
}

type base struct{ Region string } // unexported embedded: Region is promoted

type Contact struct {
	base
	Name, Phone, Email string
	Tags               []string
	Meta               map[string]string
	Addr               Address
	Boss               *Contact
	Hidden             string `luar:"-"`
	Renamed            string `luar:"label"`
	secret             string
}

func (c *Contact) Greeting() string { return "hello " + c.Name }
func (c Contact) Upper() string     { return strings.ToUpper(c.Name) }
func (c *Contact) whisper() string  { return c.secret }

type CRM struct {
	Contacts []*Contact
	Values   []Contact
	Index    map[string]*Contact
	Counts   [3]int
	Events   chan string
	OnEvent  func(string) string
	token    string

	stored func(string) string // a callback a script passed, kept (wrongly)
	ctxs   []context.Context   // what Ctx was given
}

var errNotFound = errors.New("not found")

func (c *CRM) Lookup(ctx context.Context, phone string) (*Contact, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p, ok := c.Index[phone]; ok {
		return p, nil
	}
	return nil, errNotFound
}
func (c *CRM) Name(phone string) string {
	if p, ok := c.Index[phone]; ok {
		return p.Name
	}
	return ""
}
func (c *CRM) WhoAmI(ctx context.Context) string {
	ci, ok := CallFrom(ctx)
	if !ok {
		return "?"
	}
	return ci.Tenant + "/" + ci.Script + "/" + ci.CallID
}

// Ctx returns the context it was given, for tests of how often it is made.
func (c *CRM) Ctx(ctx context.Context) string {
	c.ctxs = append(c.ctxs, ctx)
	return fmt.Sprintf("%p", ctx)
}

// Echo hands back whatever Go value it was given.
func (c *CRM) Echo(x any) any                 { return x }
func (c *CRM) Wait(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
func (c *CRM) Boom(n int) int                 { var s []int; return s[n] }
func (c *CRM) Each(fn func(string) string) []string {
	c.stored = fn
	var out []string
	for _, p := range c.Contacts {
		out = append(out, fn(p.Name))
	}
	return out
}
func (c *CRM) Count(filter map[string]any) int { return len(filter) }
func (c *CRM) Sum(xs ...float64) (s float64) {
	for _, x := range xs {
		s += x
	}
	return s
}
func (c *CRM) Same(p *Contact) bool { return p == c.Contacts[0] }
func (c *CRM) rotate() string       { return c.token }

func newCRM() *CRM {
	boss := &Contact{Name: "Ana", Phone: "0040700000000"}
	alice := &Contact{base: base{"EU"}, Name: "Alice", Phone: "0040741234567", Email: "a@x.ro",
		Tags: []string{"vip"}, Meta: map[string]string{"tier": "gold"},
		Addr: Address{City: "Cluj", Lines: []string{"Str. 1"}}, Boss: boss,
		Hidden: "h", Renamed: "r", secret: "s3cret"}
	crm := &CRM{
		Contacts: make([]*Contact, 1, 4), // spare capacity: appends could alias it
		Values:   []Contact{{Name: "V"}},
		Index:    map[string]*Contact{alice.Phone: alice},
		Counts:   [3]int{1, 2, 3},
		Events:   make(chan string, 1),
		OnEvent:  func(s string) string { return "ev:" + s },
		token:    "tok",
	}
	crm.Contacts[0] = alice
	return crm
}

func snapshot(c *CRM) string {
	return fmt.Sprintf("%+v %+v %+v %v %v %d", *c.Contacts[0], *c.Contacts[0].Boss, c.Values,
		c.Index, c.Counts, len(c.Contacts))
}
