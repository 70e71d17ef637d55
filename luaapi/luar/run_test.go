package luar

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/luaapi"
)

// The context a Go function gets is made once per run: every call of one
// run gets the same one, the next run a new one (End drops it), and it
// keeps the engine's AfterFunc, so contexts Go derives from it start no
// goroutine.
func TestContextOncePerRun(t *testing.T) {
	v, crm := setup(t)
	v.mustExec(t, `assert(crm:Ctx() == crm:Ctx())`)
	v.mustExec(t, `crm:Ctx()`)
	if len(crm.ctxs) != 3 || crm.ctxs[0] != crm.ctxs[1] || crm.ctxs[1] == crm.ctxs[2] {
		t.Fatalf("contexts: %v", crm.ctxs)
	}
	if _, ok := crm.ctxs[0].(interface{ AfterFunc(func()) func() bool }); !ok {
		t.Fatal("the run's context lost AfterFunc")
	}
	if ci, ok := CallFrom(crm.ctxs[2]); !ok || ci != (CallInfo{Tenant: "acme", Script: "crm", CallID: "call-1"}) {
		t.Fatalf("CallFrom = %+v, %v", ci, ok)
	}
	if _, ok := CallFrom(context.Background()); ok {
		t.Fatal("CallFrom found a run in Background")
	}
}

// An embedder's context values reach the Go function.
func TestContextValues(t *testing.T) {
	type key struct{}
	v := newVM(t)
	v.open(Value("who", func(ctx context.Context) string { s, _ := ctx.Value(key{}).(string); return s }))
	out, err := v.execCtx(context.WithValue(context.Background(), key{}, "embedder"), "acme", "c", `return who()`, time.Second)
	if err != nil || out[0].String() != "embedder" {
		t.Fatalf("got %v, %v", out, err)
	}
}

type account struct {
	Tenant  string
	Balance int
}

func (a *account) Owner() string { return a.Tenant }

func TestPerTenant(t *testing.T) {
	v := newVM(t)
	var asked []string
	v.open(PerTenant("billing", func(tenant string) (any, error) {
		asked = append(asked, tenant)
		switch tenant {
		case "acme", "globex":
			return &account{Tenant: tenant, Balance: len(tenant)}, nil
		case "func":
			return func(s string) string { return "f:" + s }, nil
		case "broken":
			return nil, errors.New("db down: secret-dsn")
		case "scalar":
			return 42, nil
		case "panics":
			panic("boom")
		}
		return nil, nil
	}))
	check := func(tenant, src string) {
		t.Helper()
		if _, err := v.exec(tenant, "c", src, time.Second); err != nil {
			t.Fatalf("%s: %v", tenant, errMsg(err))
		}
	}
	// Nothing is looked up until a run touches the global.
	check("acme", `local x = 1`)
	if len(asked) != 0 {
		t.Fatalf("looked up without use: %v", asked)
	}
	check("acme", `assert(billing.Tenant == "acme" and billing:Owner() == "acme" and billing.Balance == 4)
		assert(billing.tenant == "acme") -- looked up once per run`)
	check("globex", `assert(billing.Tenant == "globex" and billing:Owner() == "globex")`)
	check("acme", `assert(billing:Owner() == "acme")`)
	if strings.Join(asked, ",") != "acme,globex,acme" {
		t.Fatalf("asked %v", asked)
	}
	v.mustFail(t, `billing.Balance = 1e9`, "read-only")
	check("func", `assert(billing("x") == "f:x" and billing.x == nil and tostring(billing) == "function")`)
	for _, tenant := range []string{"nobody", "broken", "scalar"} {
		check(tenant, `assert(billing ~= nil and billing.Tenant == nil and billing.Owner == nil and tostring(billing) == "nil")
			local ok, err = pcall(function() return billing:Owner() end)
			assert(not ok)
			ok, err = pcall(function() billing.x = 1 end)
			assert(not ok and err:find("billing is nil for this tenant", 1, true), err)
			ok, err = pcall(function() return #billing end)
			assert(not ok and err:find("billing is nil for this tenant", 1, true), err)`)
	}
	logs := v.logs.String()
	if !strings.Contains(logs, "tenant=broken") || !strings.Contains(logs, "db down") || !strings.Contains(logs, "tenant=scalar") {
		t.Fatalf("errors not logged:\n%s", logs)
	}
	_, err := v.exec("panics", "c", "\nlocal x = billing.Tenant", time.Second)
	if err == nil || !strings.Contains(errMsg(err), "crm.lua:2: billing: Go panic: boom") {
		t.Fatalf("panicking fn: %v", err)
	}
}

// A method called with a PerTenant handle as self runs on the current
// tenant's value, and a handle passed to Go is that value.
func TestPerTenantHandleAsArgument(t *testing.T) {
	v := newVM(t)
	accounts := map[string]*account{"acme": {Tenant: "acme"}, "globex": {Tenant: "globex"}}
	v.open(PerTenant("billing", func(tenant string) (any, error) { return accounts[tenant], nil }))
	v.open(Value("owner", func(a *account) string { return a.Tenant }))
	v.open(Value("method", (*account).Owner))
	for _, tenant := range []string{"acme", "globex"} {
		out, err := v.exec(tenant, "c", `local f = billing.Owner; return f(billing) .. owner(billing) .. method(billing)`, time.Second)
		if err != nil || out[0].String() != tenant+tenant+tenant {
			t.Fatalf("%s: %v %v", tenant, out, err)
		}
	}
	_, err := v.exec("nobody", "c", `owner(billing)`, time.Second)
	if err == nil || !strings.Contains(errMsg(err), "got nil") {
		t.Fatalf("nil handle as argument: %v", err)
	}
}

// Blocking wraps every Go call in run.Wait, and refuses Lua callbacks.
func TestBlocking(t *testing.T) {
	v := newVM(t)
	v.open(Value("crm", newCRM(), Blocking()))
	v.mustExec(t, `assert(crm:Name("0040741234567") == "Alice") crm:Sum(1)`)
	if v.waits != 2 || v.resumes != 2 {
		t.Fatalf("waits %d, resumes %d", v.waits, v.resumes)
	}
	v.mustFail(t, `crm:Each(function(n) return n end)`, "cannot be stored in Go")
	v.waits = 0
	v.mustFail(t, `crm:Boom(1)`, "Go panic")
	if v.waits != 1 || v.resumes != 3 {
		t.Fatalf("after a panic: waits %d, resumes %d", v.waits, v.resumes)
	}
}

// Another module's userdata is not a Go value: Go never gets its
// internals (and cannot hand them back to the script as a view).
func TestForeignUserdataRefused(t *testing.T) {
	v, _ := setup(t)
	type internals struct{ Secret string }
	v.open(luaapi.Func("other", func(L *lua.LState, run luaapi.Run) lua.LValue {
		return &lua.LUserData{Value: &internals{Secret: "s"}}
	}))
	v.mustFail(t, `local x = crm:Echo(other)`, "not a Go value")
	v.mustExec(t, `assert(crm:Echo(crm.Contacts[1]).Name == "Alice")`)
}
