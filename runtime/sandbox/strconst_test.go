package sandbox

import "testing"

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
