package sandbox

import (
	"slices"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// declaresConcat reports whether p has the .. helper among its locals.
func declaresConcat(p *lua.FunctionProto) bool {
	return slices.ContainsFunc(p.DbgLocals, func(l *lua.DbgLocalInfo) bool { return l.Name == concatLocal })
}

// A function that concatenates in a loop or more than once holds the ..
// helper in a local; one that concatenates once keeps the global, and a
// function nested in one that holds it never reaches that local as an
// upvalue.
func TestConcatHelperHoisting(t *testing.T) {
	src := `
local function once(a) return a .. "!" end
local function loop(n)
  local s = ""
  for i = 1, n do s = s .. i end
  return s
end
local function twice(a) return a .. "-" , a .. "+" end
local function outer(x)
  local s = x .. "a" .. "b"
  local function inner() return s .. "c" end
  return inner() .. x
end
local function whileloop(n)
  local s = ""
  while #s < n do s = s .. "x" end
  return s
end
return once("a") .. loop(3) .. select(2, twice("b")) .. outer("o") .. whileloop(2)
`
	proto, err := Compile([]byte(src), "hoist.lua")
	if err != nil {
		t.Fatal(err)
	}
	if declaresConcat(proto) {
		t.Error("the main chunk concatenates once but holds the helper in a local")
	}
	fns := proto.FunctionPrototypes
	if len(fns) != 5 {
		t.Fatalf("%d functions", len(fns))
	}
	for i, want := range []bool{false, true, true, true, true} {
		if got := declaresConcat(fns[i]); got != want {
			t.Errorf("function %d (line %d): holds the helper: %v, want %v", i, fns[i].LineDefined, got, want)
		}
	}
	inner := fns[3].FunctionPrototypes[0]
	if declaresConcat(inner) {
		t.Error("a function that concatenates once holds the helper in a local")
	}
	if inner.NumUpvalues != 1 { // s
		t.Errorf("the nested function has %d upvalues, want 1 (s)", inner.NumUpvalues)
	}
	got, err := run(t, New(Limits{}), src, time.Second)
	if err != nil || got != "a!123b+oabcoxx" {
		t.Errorf("%q, %v", got, err)
	}
}
