package sandbox

import (
	"strings"
	"testing"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// The private list of string constants is found, trimmed to its length, and
// still what the VM reads: globals and fields by constant name work.
func TestStringConstantsTrimmed(t *testing.T) {
	if stringConstantsOffset == 0 {
		t.Fatal("gopher-lua's FunctionProto has no stringConstants []string field any more: see strconst.go")
	}
	proto, err := Compile([]byte(`local t = {alpha = 1}; beta = t.alpha; return tostring(beta) .. "!"`), "t.lua")
	if err != nil {
		t.Fatal(err)
	}
	sc := *stringConstants(proto)
	if len(sc) == 0 || cap(sc) != len(sc) {
		t.Fatalf("string constants: len %d cap %d", len(sc), cap(sc))
	}
	vm := New(Limits{})
	defer vm.Close()
	env := vm.NewEnv()
	fn := vm.L.NewFunctionFromProto(proto)
	fn.Env = env
	vm.L.Push(fn)
	if err := vm.L.PCall(0, 1, nil); err != nil {
		t.Fatal(err)
	}
	if got := vm.L.Get(-1).String(); got != "1!" {
		t.Errorf("got %q", got)
	}
}

// InternConstants puts the interned strings in both lists, and the code
// still runs with them.
func TestInternConstants(t *testing.T) {
	proto, err := Compile([]byte(`local t = {alpha = "one"}; return t.alpha .. "!"`), "t.lua")
	if err != nil {
		t.Fatal(err)
	}
	canon := map[string]string{}
	InternConstants(proto, func(s lua.LString) lua.LValue {
		c := strings.Clone(string(s))
		canon[c] = c
		return lua.LString(c)
	})
	for i, s := range *stringConstants(proto) {
		if s == "" {
			continue
		}
		c := proto.Constants[i].(lua.LString)
		if unsafe.StringData(s) != unsafe.StringData(canon[s]) || unsafe.StringData(string(c)) != unsafe.StringData(canon[s]) {
			t.Errorf("constant %q not replaced in both lists", s)
		}
	}
	vm := New(Limits{})
	defer vm.Close()
	fn := vm.L.NewFunctionFromProto(proto)
	fn.Env = vm.NewEnv()
	vm.L.Push(fn)
	if err := vm.L.PCall(0, 1, nil); err != nil {
		t.Fatal(err)
	}
	if got := vm.L.Get(-1).String(); got != "one!" {
		t.Errorf("got %q", got)
	}
}
