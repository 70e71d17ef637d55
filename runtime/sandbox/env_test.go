package sandbox

import (
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// runIn runs src in env, as the engine does.
func runIn(t *testing.T, vm *VM, env *lua.LTable, src string) {
	t.Helper()
	proto, err := Compile([]byte(src), "test.lua")
	if err != nil {
		t.Fatal(err)
	}
	fn := vm.L.NewFunctionFromProto(proto)
	fn.Env = env
	vm.L.Push(fn)
	if err := vm.L.PCall(0, 0, nil); err != nil {
		t.Fatal(err)
	}
}

// The table is reused only after runs that left it as it was made; a run
// that stored and then deleted a global leaves a key behind in gopher-lua's
// table, so that table must not be reused either.
func TestEnvReusedOnlyWhenUntouched(t *testing.T) {
	cases := []struct {
		src   string
		reuse bool
	}{
		{`local a = 1`, true},
		{`local s = tostring(_G) .. type(x)`, true},
		{`x = 1`, false},
		{`x = 1; x = nil`, false},
		{`rawset(_G, "x", nil)`, false},
		{`table.insert(_G, 1); table.remove(_G)`, false},
		{`_G._G = _G`, true}, // the same value again: nothing changed
		{`_G._G = 1`, false},
	}
	for _, c := range cases {
		vm := New(Limits{})
		env := vm.NewEnv()
		runIn(t, vm, env, c.src)
		vm.DoneEnv(env)
		if got := vm.NewEnv() == env; got != c.reuse {
			t.Errorf("%s: reused %v, want %v", c.src, got, c.reuse)
		}
		vm.Close()
	}
}

// A Go function that writes into a run's globals behind the script's back
// is caught by the contents check.
func TestEnvNotReusedAfterAGoWrite(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	env := vm.NewEnv()
	env.RawSetString("x", lua.LTrue)
	vm.DoneEnv(env)
	if vm.NewEnv() == env {
		t.Fatal("a table holding x was reused")
	}
}

// A kept table goes to a later run of the same owner only.
func TestEnvReusedByItsOwnerOnly(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	env := vm.NewEnvFor("acme")
	vm.DoneEnv(env)
	if vm.NewEnvFor("evil") == env {
		t.Fatal("acme's table went to evil")
	}
	env = vm.NewEnvFor("acme")
	vm.DoneEnv(env)
	if vm.NewEnvFor("acme") != env {
		t.Fatal("acme's table was not reused by acme")
	}
}

// tostring(_G) shows no address, so a kept table looks like a new one.
func TestEnvToStringHidesTheAddress(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	got, err := run(t, vm, `return tostring(_G), string.format("%s", _G)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got != "table: globals|table: globals" {
		t.Errorf("got %q", got)
	}
}
