package luar_test

// The bridge through a real engine (runtime/engine over a scripts folder),
// as an embedder uses it.

import (
	"context"
	"errors"
	"github.com/dialua/dialua/runtime/testkit"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/luaapi/luar"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
)

type Customer struct {
	Name  string
	Phone string
	Tier  string
	Tags  []string
	notes string
}

func (c *Customer) Greeting() string { return "Hello " + c.Name }
func (c *Customer) note() string     { return c.notes }

type tenantKey struct{}

// CRM is what an embedder exposes: a lookup that takes the run's context.
type CRM struct {
	mu        sync.Mutex
	customers map[string]*Customer
	apiKey    string
}

func (c *CRM) Lookup(ctx context.Context, phone string) (*Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.customers[phone]; ok {
		return p, nil
	}
	return nil, errors.New("unknown caller")
}

// Who reports the run's identity and a value of the embedder's context.
func (c *CRM) Who(ctx context.Context) string {
	ci, _ := luar.CallFrom(ctx)
	v, _ := ctx.Value(tenantKey{}).(string)
	return ci.Tenant + "|" + ci.Script + "|" + ci.CallID + "|" + v
}

// Wait blocks until the run's context ends, as a slow backend call would.
func (c *CRM) Wait(ctx context.Context) string { <-ctx.Done(); return ctx.Err().Error() }

// Slow derives its own timeout from the run's context, as an HTTP client
// call would, and waits on it.
func (c *CRM) Slow(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	<-ctx.Done()
	return ctx.Err().Error()
}

func (c *CRM) Boom(i int) int { var s []int; return s[i] }
func (c *CRM) rotate() string { return c.apiKey }

func newCRM() *CRM {
	return &CRM{apiKey: "k3y", customers: map[string]*Customer{
		"0040741234567": {Name: "Alice", Phone: "0040741234567", Tier: "gold", Tags: []string{"vip"}, notes: "private"},
	}}
}

func writeScripts(t testing.TB, files map[string]string) string { return testkit.Scripts(t, files) }

// syncBuffer is the server log a test reads back.
type syncBuffer = testkit.Logs

func newEngine(t testing.TB, dir string, log *syncBuffer, opts engine.Options, mods ...luaapi.Module) *engine.Engine {
	t.Helper()
	opts.ScriptsDir = dir
	opts.Modules = append(luaapi.Standard(luaapi.Deps{}), mods...)
	if log != nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	e, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// run runs tenant/script with the given parameters and returns the
// answer's SetVar values.
func run(ctx context.Context, e *engine.Engine, tenant, script string, params ...string) (map[string]string, error) {
	req := &protocol.Request{Method: "GET", Tenant: tenant, Script: script, Path: "/" + tenant + "/" + script}
	for i := 0; i+1 < len(params); i += 2 {
		req.Params = append(req.Params, protocol.Param{Name: params[i], Value: params[i+1]})
	}
	out, err := e.Run(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	resp, err := protocol.Decode(out)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, v := range resp.Verbs {
		if v.Kind == protocol.SetVar {
			vars[v.Name] = v.Text
		}
	}
	return vars, nil
}

func mustRun(t *testing.T, e *engine.Engine, tenant, script string, params ...string) map[string]string {
	t.Helper()
	vars, err := run(context.Background(), e, tenant, script, params...)
	if err != nil {
		t.Fatalf("%s/%s: %v", tenant, script, err)
	}
	return vars
}

func scriptError(t *testing.T, err error) *engine.ScriptError {
	t.Helper()
	var se *engine.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("want a *engine.ScriptError, got %v", err)
	}
	return se
}

func TestEngineLookup(t *testing.T) {
	dir := writeScripts(t, map[string]string{"acme/ivr.lua": `
		local c, err = crm:Lookup(request.caller_id_num)
		if not c then
			response:set_var("error", err)
			return
		end
		response:set_var("name", c.Name)
		response:set_var("tier", c.tier)
		response:set_var("greeting", c:Greeting())
		response:set_var("tag", c.Tags[1])
	`})
	e := newEngine(t, dir, nil, engine.Options{}, luar.Value("crm", newCRM()))
	vars := mustRun(t, e, "acme", "ivr", "CallerIDNum", "0040741234567")
	if vars["name"] != "Alice" || vars["tier"] != "gold" || vars["greeting"] != "Hello Alice" || vars["tag"] != "vip" {
		t.Fatalf("vars %v", vars)
	}
	if vars := mustRun(t, e, "acme", "ivr", "CallerIDNum", "1"); vars["error"] != "unknown caller" {
		t.Fatalf("unknown caller: %v", vars)
	}
}

func TestEngineReadOnlyAndHidden(t *testing.T) {
	crm := newCRM()
	dir := writeScripts(t, map[string]string{
		"acme/write.lua": `
			local c = crm:Lookup("0040741234567")
			for name, f in pairs({
				field = function() c.Name = "Mallory" end,
				slice = function() c.Tags[1] = "x" end,
				map = function() crm.customers = nil end,
				method = function() crm.Lookup = nil end,
			}) do
				local ok, err = pcall(f)
				response:set_var(name, ok and "written" or err)
			end
			response:set_var("notes", tostring(c.notes))
			response:set_var("note", tostring(c.note))
			response:set_var("rotate", tostring(crm.rotate))
			response:set_var("apiKey", tostring(crm.apiKey))
			response:set_var("customers", tostring(crm.customers))
		`,
		"acme/raw.lua": "local c = crm:Lookup('0040741234567')\nc.Name = 'Mallory'\n",
	})
	e := newEngine(t, dir, nil, engine.Options{}, luar.Value("crm", crm))
	vars := mustRun(t, e, "acme", "write")
	for _, k := range []string{"field", "slice", "map", "method"} {
		if !strings.Contains(vars[k], "read-only") {
			t.Errorf("%s: %q", k, vars[k])
		}
	}
	for _, k := range []string{"notes", "note", "rotate", "apiKey", "customers"} {
		if vars[k] != "nil" {
			t.Errorf("hidden %s reads %q", k, vars[k])
		}
	}
	_, err := run(context.Background(), e, "acme", "raw")
	se := scriptError(t, err)
	if se.Kind != engine.KindRuntime || se.Location != "acme/raw.lua:2" || !strings.Contains(se.Message, "*luar_test.Customer is read-only") {
		t.Fatalf("error %+v", se)
	}
	if c := crm.customers["0040741234567"]; c.Name != "Alice" || c.Tags[0] != "vip" {
		t.Fatalf("Go value changed: %+v", c)
	}
}

// The embedder's context values, the run's tenant, script and CallID reach
// the Go function.
func TestEngineContextAndIdentity(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"acme/who.lua":        `response:set_var("who", crm:Who())`,
		"globex/sub/who2.lua": `response:set_var("who", crm:Who())`,
	})
	e := newEngine(t, dir, nil, engine.Options{VMs: 1}, luar.Value("crm", newCRM()))
	ctx := context.WithValue(context.Background(), tenantKey{}, "from-embedder")
	vars, err := run(ctx, e, "acme", "who", protocol.ParamCallID, "call-1")
	if err != nil || vars["who"] != "acme|who|call-1|from-embedder" {
		t.Fatalf("who = %v, %v", vars, err)
	}
	// The same VM, the next run: its own identity, no value left over.
	vars, err = run(context.Background(), e, "globex", "sub/who2", protocol.ParamCallID, "call-2")
	if err != nil || vars["who"] != "globex|sub/who2|call-2|" {
		t.Fatalf("who = %v, %v", vars, err)
	}
}

func TestEnginePanic(t *testing.T) {
	dir := writeScripts(t, map[string]string{"acme/boom.lua": "local x = 1\n\nlocal y = crm:Boom(5)\n"})
	var log syncBuffer
	e := newEngine(t, dir, &log, engine.Options{}, luar.Value("crm", newCRM()))
	_, err := run(context.Background(), e, "acme", "boom", protocol.ParamCallID, "c-9")
	se := scriptError(t, err)
	if se.Kind != engine.KindRuntime || se.Location != "acme/boom.lua:3" ||
		!strings.Contains(se.Message, "Boom: Go panic: runtime error: index out of range [5]") {
		t.Fatalf("error %+v", se)
	}
	if strings.Contains(se.Message, "goroutine") || strings.Contains(se.Message, ".go:") {
		t.Fatalf("Go stack reached the script's error: %q", se.Message)
	}
	logged := log.String()
	for _, want := range []string{"tenant=acme", "script=boom", "call_id=c-9", "func=Boom", "goroutine", "engine_test.go"} {
		if !strings.Contains(logged, want) {
			t.Fatalf("server log lacks %q:\n%s", want, logged)
		}
	}
	// The engine keeps serving.
	if _, err := run(context.Background(), e, "acme", "boom"); err == nil {
		t.Fatal("second run succeeded")
	}
}

type Account struct {
	Tenant string
	Plan   string
}

func TestEnginePerTenant(t *testing.T) {
	src := `
		response:set_var("tenant", tostring(account.Tenant))
		response:set_var("plan", tostring(account.Plan))
		response:set_var("seen", tostring(seen))
		seen = account -- dies with the run
	`
	dir := writeScripts(t, map[string]string{"acme/a.lua": src, "globex/a.lua": src, "initech/a.lua": src})
	var mu sync.Mutex
	var asked []string
	accounts := map[string]*Account{"acme": {"acme", "gold"}, "globex": {"globex", "free"}}
	mod := luar.PerTenant("account", func(tenant string) (any, error) {
		mu.Lock()
		asked = append(asked, tenant)
		mu.Unlock()
		if a, ok := accounts[tenant]; ok {
			return a, nil
		}
		return nil, nil
	})
	e := newEngine(t, dir, nil, engine.Options{VMs: 1}, mod)
	for range 2 {
		for _, tn := range []string{"acme", "globex", "initech"} {
			vars := mustRun(t, e, tn, "a")
			want := map[string]string{"tenant": tn, "plan": "nil", "seen": "nil"}
			if a := accounts[tn]; a != nil {
				want["plan"] = a.Plan
			} else {
				want["tenant"] = "nil"
			}
			for k, w := range want {
				if vars[k] != w {
					t.Fatalf("%s: %s = %q, want %q (%v)", tn, k, vars[k], w, vars)
				}
			}
		}
	}
	if got := strings.Join(asked, ","); got != "acme,globex,initech,acme,globex,initech" {
		t.Fatalf("asked %s", got)
	}
}

// Nothing a run leaves reaches the next run on the same VM.
func TestEngineNothingSurvives(t *testing.T) {
	crm := newCRM()
	dir := writeScripts(t, map[string]string{
		"acme/one.lua": `
			leak = crm:Lookup("0040741234567")
			_G.leak2 = leak.Tags
			pcall(function() leak.Name = "Mallory" end)
			response:set_var("ok", "1")
		`,
		"globex/two.lua": `
			response:set_var("leak", tostring(leak) .. tostring(leak2) .. tostring(rawget(_G, "leak")))
			response:set_var("name", crm:Lookup("0040741234567").Name)
			response:set_var("who", crm:Who())
		`,
	})
	e := newEngine(t, dir, nil, engine.Options{VMs: 1}, luar.Value("crm", crm))
	mustRun(t, e, "acme", "one", protocol.ParamCallID, "c1")
	vars := mustRun(t, e, "globex", "two")
	if vars["leak"] != "nilnilnil" || vars["name"] != "Alice" || vars["who"] != "globex|two||" {
		t.Fatalf("second run saw %v", vars)
	}
}

// A Go function that waits on its ctx returns at the run's deadline, and
// the run ends as timed out, well before the Go side's own minute.
func TestEngineDeadline(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"acme/wait.lua": `local r = crm:Wait() response:set_var("r", r)`,
		"acme/slow.lua": `local r = crm:Slow() response:set_var("r", r)`,
		"acme/ok.lua":   `response:set_var("r", crm:Lookup("0040741234567").Name)`,
	})
	e := newEngine(t, dir, nil, engine.Options{Timeout: 100 * time.Millisecond, VMs: 1}, luar.Value("crm", newCRM()))
	for _, script := range []string{"wait", "slow"} {
		start := time.Now()
		_, err := run(context.Background(), e, "acme", script)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s took %v", script, d)
		}
		if se := scriptError(t, err); se.Kind != engine.KindTimeout {
			t.Fatalf("%s: %+v", script, se)
		}
		// The next run on the VM is not affected.
		if vars := mustRun(t, e, "acme", "ok"); vars["r"] != "Alice" {
			t.Fatalf("after %s: %v", script, vars)
		}
	}
	// The embedder's own cancellation reaches the Go function too, long
	// before the run's deadline.
	e = newEngine(t, dir, nil, engine.Options{Timeout: time.Minute, VMs: 1}, luar.Value("crm", newCRM()))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := run(ctx, e, "acme", "slow")
	if d := time.Since(start); err == nil || d > 10*time.Second {
		t.Fatalf("cancelled run: %v after %v", err, d)
	}
}
